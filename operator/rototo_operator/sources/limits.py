"""Resource limits applied while staging a workspace source.

Defaults follow the reference engine's `SourceOptions::default()`; `repository_bytes` is
ours (the reference shells out to `git clone` and caps nothing there). The byte and entry
limits for archives also bound every staged tree (git trees and local copies), so a
small, highly compressible repository cannot expand without bound on disk.
"""

from __future__ import annotations

import dataclasses

from rototo_operator.errors import SourceError

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds for one staging operation; exceeding one raises `SourceError` naming it."""

    git_timeout: float = 60.0
    """Seconds one git operation (ls-remote, fetch) may take, connection included."""
    http_timeout: float = 30.0
    """Seconds an HTTPS request may take to connect and between bytes received."""
    archive_bytes: int = 50 * MiB
    """Largest archive download accepted, in bytes."""
    decompressed_bytes: int = 200 * MiB
    """Largest total size of files written into one staged tree, in bytes."""
    archive_entries: int = 10_000
    """Most entries (files and directories) one staged tree may contain."""
    repository_bytes: int = 512 * MiB
    """Largest amount of pack data one git fetch may receive, in bytes."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{field.name} must be a positive number, got {value!r}")


def exceeded(name: str, limit: int | float, detail: str) -> SourceError:
    """The error for a crossed limit: which limit, its value, and what crossed it."""
    shown = str(limit) if isinstance(limit, int) else f"{limit:g}"
    return SourceError(f"source limit {name}={shown} exceeded: {detail}")
