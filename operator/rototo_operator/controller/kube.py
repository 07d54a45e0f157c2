"""The controller's Kubernetes API calls, behind one small interface.

`Cluster` is the seam: the reconcile code talks to it, `KubeCluster` implements it with
kubernetes_asyncio, and unit tests use an in-memory fake. Bodies cross it as plain dicts in
the API's camelCase shape (what kubectl shows), never as generated client models.

Limits: only the calls the operator needs; errors surface as `KubeError` with the HTTP
status so callers can tell "not found" and "conflict" from real failures. Secret values are
returned decoded and are never logged here.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from rototo_operator.api import models

MERGE_PATCH = "application/merge-patch+json"
COMPONENT = "rototo-operator"


class KubeError(Exception):
    """An API call failed; `status` is the HTTP status (0 when no response)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class Cluster(Protocol):
    async def get_workspace(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_workspaces(self, namespace: str | None) -> list[dict[str, Any]]: ...

    async def patch_workspace_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None: ...

    async def patch_workspace_metadata(
        self, namespace: str, name: str, metadata: Mapping[str, Any]
    ) -> None: ...

    async def get_secret_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_configmap(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    async def replace_configmap(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> None: ...

    async def record_event(
        self, workspace: models.Workspace, kind: str, reason: str, message: str
    ) -> None: ...


def event_name(workspace: models.Workspace, reason: str, message: str) -> str:
    """A stable name per (object, reason, message): repeats bump a count, as kubectl shows."""
    seed = f"{workspace.metadata.uid}/{reason}/{message}".encode()
    return f"{workspace.metadata.name}.{hashlib.sha256(seed).hexdigest()[:16]}"


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def connect(kubeconfig: str | None = None) -> Any:
    """An ApiClient from $KUBECONFIG (or the given file), else the in-cluster service account.

    A missing or unreadable kubeconfig or service account is a KubeError naming where the
    credentials were looked for, never a traceback from the client's loader."""
    from kubernetes_asyncio import client, config

    loader: Any = config
    path = kubeconfig or os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    configuration = client.Configuration()
    try:
        if path:
            first = path.split(os.pathsep)[0]
            where = f"kubeconfig {first}"
            if not await asyncio.to_thread(os.path.isfile, first):
                raise KubeError(0, f"kubeconfig {first} does not exist")
            await config.load_kube_config(config_file=first, client_configuration=configuration)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            where = "the in-cluster service account"
            loader.load_incluster_config(client_configuration=configuration)
        elif await asyncio.to_thread(default.is_file):
            where = f"kubeconfig {default}"
            await config.load_kube_config(
                config_file=str(default), client_configuration=configuration
            )
        else:
            raise KubeError(0, "no Kubernetes credentials: set KUBECONFIG or run in a cluster")
    except (config.ConfigException, OSError, ValueError, yaml.YAMLError) as error:
        raise KubeError(0, f"cannot load Kubernetes credentials from {where}: {error}") from None
    return client.ApiClient(configuration)


class KubeCluster:
    """`Cluster` over kubernetes_asyncio."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes_asyncio import client

        self.api_client = api_client
        # The generated client's stubs type bodies as its model classes; we pass plain dicts
        # in the API's own shape, which the client serialises as they are.
        self._core: Any = client.CoreV1Api(api_client)
        self._custom: Any = client.CustomObjectsApi(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    async def _call(self, coro: Any) -> Any:
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            return await coro
        except ApiException as error:
            raise KubeError(int(error.status or 0), _api_message(error)) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            # No answer at all (API server down, restarting or unreachable): a failed call
            # like any other, named plainly, rather than the HTTP stack's traceback in the
            # log every attempt, or in the CLI's output.
            raise KubeError(
                0, f"cannot reach the API server: {error or type(error).__name__}"
            ) from None

    def _plain(self, obj: Any) -> dict[str, Any]:
        plain: dict[str, Any] = self.api_client.sanitize_for_serialization(obj)
        return plain

    async def get_workspace(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = await self._call(
                self._custom.get_namespaced_custom_object(
                    models.GROUP, models.VERSION, namespace, models.PLURAL, name
                )
            )
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return body

    async def list_workspaces(self, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None:
            listing = await self._call(
                self._custom.list_cluster_custom_object(models.GROUP, models.VERSION, models.PLURAL)
            )
        else:
            listing = await self._call(
                self._custom.list_namespaced_custom_object(
                    models.GROUP, models.VERSION, namespace, models.PLURAL
                )
            )
        items: list[dict[str, Any]] = listing.get("items", [])
        return items

    async def patch_workspace_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        await self._call(
            self._custom.patch_namespaced_custom_object_status(
                models.GROUP,
                models.VERSION,
                namespace,
                models.PLURAL,
                name,
                {"status": dict(status)},
                _content_type=MERGE_PATCH,
            )
        )

    async def patch_workspace_metadata(
        self, namespace: str, name: str, metadata: Mapping[str, Any]
    ) -> None:
        await self._call(
            self._custom.patch_namespaced_custom_object(
                models.GROUP,
                models.VERSION,
                namespace,
                models.PLURAL,
                name,
                {"metadata": dict(metadata)},
                _content_type=MERGE_PATCH,
            )
        )

    async def get_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = await self._call(self._core.read_namespaced_secret(name, namespace))
        except KubeError as error:
            if error.not_found:
                return None
            raise
        out: dict[str, str] = {}
        for key, value in (secret.data or {}).items():
            out[key] = base64.b64decode(value).decode("utf-8", errors="replace")
        for key, value in (secret.string_data or {}).items():
            out.setdefault(key, value)
        return out

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = await self._call(self._core.read_namespaced_config_map(name, namespace))
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return self._plain(obj)

    async def create_configmap(self, namespace: str, body: Mapping[str, Any]) -> None:
        await self._call(self._core.create_namespaced_config_map(namespace, dict(body)))

    async def replace_configmap(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        await self._call(self._core.replace_namespaced_config_map(name, namespace, dict(body)))

    async def record_event(
        self, workspace: models.Workspace, kind: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event on the Workspace; a repeat of the same one bumps its count."""
        namespace = workspace.metadata.namespace
        name = event_name(workspace, reason, message)
        now = _now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": models.API_VERSION,
                "kind": models.KIND,
                "name": workspace.metadata.name,
                "namespace": namespace,
                "uid": workspace.metadata.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._call(self._core.create_namespaced_event(namespace, body))
            return
        except KubeError as error:
            if not error.conflict:
                raise
        existing = await self._call(self._core.read_namespaced_event(name, namespace))
        patch = {"count": int(existing.count or 1) + 1, "lastTimestamp": now}
        await self._call(
            self._core.patch_namespaced_event(name, namespace, patch, _content_type=MERGE_PATCH)
        )


def _api_message(error: Any) -> str:
    try:
        payload = json.loads(error.body)
        return str(payload.get("message") or error.reason)
    except (TypeError, ValueError):
        return f"{error.status} {error.reason}"
