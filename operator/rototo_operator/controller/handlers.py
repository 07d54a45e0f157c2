"""The kopf face of the controller: thin handlers that hand watch events to the loops.

Only `@kopf.on.event` handlers are used (plus startup, login and cleanup): they keep no
state on the objects, so kopf adds no finalizers and writes no progress annotations.
Workspace deletion therefore never waits for the operator, and the ConfigMap goes with
the Workspace through its ownerReference. ConfigMaps are watched with a server-side label
selector (only the ones this operator manages), so a hand edit or deletion is seen at once.

Limits: handlers never call the API themselves; all work happens in the loops.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import kopf

from rototo_operator.api import models
from rototo_operator.controller import loops

MANAGED_SELECTOR = f"{models.MANAGED_BY_LABEL}={models.MANAGED_BY_VALUE}"


def build_registry(
    workspaces: loops.Registry, *, grace: float, stopping: asyncio.Event | None = None
) -> kopf.OperatorRegistry:
    """A kopf registry wired to the loop registry (a private one, not kopf's global).

    `stopping` is the stop flag handed to `kopf.operator`; the cleanup handler sets it.
    """
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # kopf would post its own log lines as Events; ours are deliberate and few.
        settings.posting.enabled = False
        settings.watching.label_selectors["configmaps"] = MANAGED_SELECTOR
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        # kopf's own minimal logins, in the order kube.connect uses: $KUBECONFIG first,
        # then the pod's service account, then ~/.kube/config.
        if os.environ.get("KUBECONFIG"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(models.GROUP, models.VERSION, models.PLURAL, registry=registry)
    async def workspace_event(type: str | None, body: Any, **_: Any) -> None:
        workspaces.workspace_event(type, _plain(body))

    @kopf.on.event(
        "",
        "v1",
        "configmaps",
        labels={models.MANAGED_BY_LABEL: models.MANAGED_BY_VALUE},
        registry=registry,
    )
    async def configmap_event(type: str | None, body: Any, **_: Any) -> None:
        workspaces.configmap_event(type, _plain(body))

    @kopf.on.cleanup(registry=registry)
    async def stop_loops(**_: Any) -> None:
        await workspaces.stop(grace)
        if stopping is not None:
            # kopf's own SIGTERM handler replaces ours, so the flag is still unset here;
            # kopf would then wait 5 s for its task watching the flag before exiting. Set
            # only now: the Lease is renewed until the loops have stopped, so no standby
            # takes over while an attempt is finishing in its grace period.
            stopping.set()

    return registry


def _plain(body: Any) -> dict[str, Any]:
    """kopf bodies are live mappings; the loops keep an immutable snapshot."""
    import copy

    return copy.deepcopy(dict(body))
