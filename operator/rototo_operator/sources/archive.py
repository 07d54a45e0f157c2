"""HTTPS archive sources (work in progress: this increment only declares the interface)."""

from __future__ import annotations

from pathlib import Path

from rototo_operator.errors import SourceError
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.limits import Limits
from rototo_operator.sources.spec import SourceSpec
from rototo_operator.sources.tree import RemoteTree


def probe(spec: SourceSpec, credentials: Credentials | None, limits: Limits) -> str | None:
    raise SourceError(f"archive sources are not available yet: {spec.redacted()}")


def stage(
    spec: SourceSpec, credentials: Credentials | None, limits: Limits, dest: Path
) -> RemoteTree:
    raise SourceError(f"archive sources are not available yet: {spec.redacted()}")
