"""rototo-operator: reviewed runtime configuration from git into running pods.

The public face re-exports the SDK, with the same names as the reference rototo Python
SDK, so an application can switch with `import rototo_operator as rototo`.
"""

from __future__ import annotations

from rototo_operator.errors import RototoError
from rototo_operator.sdk.refresh import RefreshingWorkspace
from rototo_operator.sdk.status import RefreshStatus
from rototo_operator.sdk.workspace import VariableResolution, Workspace

__all__ = [
    "RefreshStatus",
    "RefreshingWorkspace",
    "RototoError",
    "VariableResolution",
    "Workspace",
]
