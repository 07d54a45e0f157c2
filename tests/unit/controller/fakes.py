"""In-memory fakes for controller unit tests: the API (`Cluster`), a stager and a compiler.

They implement only what the controller calls and record every write, so tests assert on
what the operator did (status patches, ConfigMap writes, events) without any server.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from rototo_operator.api import models
from rototo_operator.controller import kube, loading, metrics, reconcile
from rototo_operator.engine.diagnostics import Diagnostic, Location
from rototo_operator.errors import SourceError, WorkspaceLoadError

GIT = "git+https://git.example.invalid/config.git"


class FakeCluster:
    def __init__(self) -> None:
        self.workspaces: dict[tuple[str, str], dict[str, Any]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.status_patches: list[dict[str, Any]] = []
        self.configmap_writes: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self._rv = 0

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def get_workspace(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.workspaces.get((namespace, name)))

    async def list_workspaces(self, namespace: str | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(w) for (ns, _), w in self.workspaces.items() if namespace in (None, ns)
        ]

    async def patch_workspace_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        self.status_patches.append(copy.deepcopy(dict(status)))
        body = self.workspaces.setdefault((namespace, name), {"metadata": {"name": name}})
        current = body.setdefault("status", {})
        for key, value in status.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = copy.deepcopy(value)

    async def patch_workspace_metadata(
        self, namespace: str, name: str, metadata: Mapping[str, Any]
    ) -> None:
        body = self.workspaces[(namespace, name)]
        body["metadata"].setdefault("annotations", {}).update(metadata.get("annotations", {}))

    async def get_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get((namespace, name))

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.configmaps.get((namespace, name)))

    async def create_configmap(self, namespace: str, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        if (namespace, name) in self.configmaps:
            raise kube.KubeError(409, "exists")
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[(namespace, name)] = stored
        self.configmap_writes.append(("create", name))

    async def replace_configmap(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["resourceVersion"] = self._next_rv()
        self.configmaps[(namespace, name)] = stored
        self.configmap_writes.append(("replace", name))

    async def record_event(
        self, workspace: models.Workspace, kind: str, reason: str, message: str
    ) -> None:
        self.events.append((kind, reason, message))


@dataclasses.dataclass
class FakeStaged:
    root: Path
    fingerprint: str
    immutable: bool
    source: str
    cleaned: bool = False

    def cleanup(self) -> None:
        self.cleaned = True


class FakeStager:
    """Serves `versions[source]` as the current fingerprint; counts stages."""

    versions: ClassVar[dict[str, str]] = {}
    stages: ClassVar[list[str]] = []
    probes: ClassVar[list[str]] = []
    # The `fresh_after` of every probe and stage, in call order.
    fresh: ClassVar[list[float | None]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def probe(self, source: str, *, fresh_after: float | None = None) -> str | None:
        FakeStager.probes.append(source)
        FakeStager.fresh.append(fresh_after)
        return FakeStager.versions.get(source)

    def stage(self, source: str, *, fresh_after: float | None = None) -> FakeStaged:
        FakeStager.stages.append(source)
        FakeStager.fresh.append(fresh_after)
        if source not in FakeStager.versions:
            raise SourceError(f"cannot reach {source}")
        immutable = len(source.rsplit("#", 1)[-1]) == 40
        return FakeStaged(Path("/nonexistent"), FakeStager.versions[source], immutable, source)

    def cleanup(self) -> None:
        pass


@dataclasses.dataclass
class FakeCompiled:
    fingerprint: str
    size: int = 0

    @property
    def digest(self) -> str:
        return f"sha256:{self.fingerprint.encode().hex()[:64]}"

    def to_bytes(self) -> bytes:
        doc = {
            "format": "rototo.compiled/v1",
            "fingerprint": self.fingerprint,
            "pad": "x" * self.size,
        }
        return json.dumps(doc, sort_keys=True).encode()


BROKEN: set[str] = set()
SIZES: dict[str, int] = {}


class LintError(WorkspaceLoadError):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"workspace lint failed with {len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics


def lint_compiler(root: Path, source: str, fingerprint: str) -> FakeCompiled:
    if fingerprint in BROKEN:
        diagnostic = Diagnostic(
            rule="rototo/variable-value-type-mismatch",
            severity="error",
            stage="value",
            message="resolve default does not match type int",
            help="",
            location=Location("variables/limits.toml"),
        )
        raise LintError([diagnostic])
    return FakeCompiled(fingerprint, SIZES.get(fingerprint, 0))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def runtime(cluster: FakeCluster, clock: Clock, *, allow_local: bool = False) -> reconcile.Runtime:
    FakeStager.versions = {}
    FakeStager.stages = []
    FakeStager.probes = []
    FakeStager.fresh = []
    BROKEN.clear()
    SIZES.clear()
    loads = loading.LoadService(
        cache_dir=None,
        allow_local=allow_local,
        max_concurrent=2,
        compiler=lint_compiler,
        stager_factory=FakeStager,
    )
    return reconcile.Runtime(
        cluster=cluster, loads=loads, metrics=metrics.Metrics(), clock=clock, monotonic=lambda: 0.0
    )


def workspace(
    name: str = "cfg", namespace: str = "payments", *, generation: int = 1, **spec: Any
) -> models.Workspace:
    body = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": generation,
        },
        "spec": {"source": f"{GIT}#main", **spec},
    }
    return models.Workspace.from_body(body)
