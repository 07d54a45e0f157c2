"""Git sources through pygit2 (work in progress: this increment only declares the interface)."""

from __future__ import annotations

from pathlib import Path

from rototo_operator.errors import SourceError
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.limits import Limits
from rototo_operator.sources.spec import SourceSpec


class GitTree:
    spec: SourceSpec
    fingerprint: str
    immutable: bool

    def directory(self, subdir: str | None) -> Path:
        raise SourceError("git sources are not available yet")

    def default_subdir(self) -> str | None:
        return self.spec.subdir


class GitCache:
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits

    def resolve(self, spec: SourceSpec, credentials: Credentials | None) -> str:
        raise SourceError(f"git sources are not available yet: {spec.redacted()}")

    def stage(self, spec: SourceSpec, credentials: Credentials | None, dest: Path) -> GitTree:
        raise SourceError(f"git sources are not available yet: {spec.redacted()}")

    def read_file(self, spec: SourceSpec, commit: str, path: str) -> bytes | None:
        return None
