"""The application-facing SDK: `Workspace`, `RefreshingWorkspace` and their value types.

Composes sources and the engine; never imports kopf or a Kubernetes client, so it is what
pods import to hot-read a mounted ConfigMap.
"""

from rototo_operator.sdk.refresh import RefreshingWorkspace
from rototo_operator.sdk.status import RefreshStatus
from rototo_operator.sdk.workspace import VariableResolution, Workspace

__all__ = ["RefreshStatus", "RefreshingWorkspace", "VariableResolution", "Workspace"]
