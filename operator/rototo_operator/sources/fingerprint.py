"""Source fingerprints: short strings that change when a workspace source's content may have.

Formats (stable; stored in status and ConfigMap annotations):

    git:<40 hex>            the commit a git source resolved to
    http:<64 hex>           sha256 of the archive's validator, "etag:<strong ETag>" or
                            "last-modified:<HTTP date>" (a weak ETag is not used)
    sha256:<64 hex>         content hash of a staged tree (local directories, archives
                            served without validators), see `TreeHasher`
    layers:<64 hex>         a layered workspace: sha256 of "rototo.layers/v1\\n" followed by
                            each layer's fingerprint and "\\n", in projection order

A workspace without `extends` has its single layer's fingerprint, not a `layers:` one.

Tree hash: sha256 over the regular files of the tree in order of their relative POSIX path
(compared as UTF-8 bytes); for each file the bytes `path`, NUL, decimal size, NUL, content.
Directories (also empty ones) contribute nothing, matching what git records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LAYERS_PREFIX = "layers:"


def git_fingerprint(commit: str) -> str:
    return f"git:{commit.lower()}"


def http_fingerprint(etag: str | None, last_modified: str | None) -> str | None:
    """From response headers; None when the server offers no usable validator."""
    if etag and not etag.startswith(("W/", "w/")):
        validator = f"etag:{etag.strip()}"
    elif last_modified:
        validator = f"last-modified:{last_modified.strip()}"
    else:
        return None
    return "http:" + hashlib.sha256(validator.encode("utf-8", "surrogateescape")).hexdigest()


def combine_layers(fingerprints: Sequence[str]) -> str:
    """One fingerprint for a projection; equal iff every layer's fingerprint is equal."""
    if len(fingerprints) == 1:
        return fingerprints[0]
    digest = hashlib.sha256(b"rototo.layers/v1\n")
    for fingerprint in fingerprints:
        digest.update(fingerprint.encode() + b"\n")
    return LAYERS_PREFIX + digest.hexdigest()


class TreeHasher:
    """Accumulates the tree hash; files must be added in sorted path order."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._last: bytes | None = None

    def add(self, relative_path: str, chunks: Iterable[bytes], size: int) -> None:
        encoded = relative_path.encode("utf-8", "surrogateescape")
        if self._last is not None and encoded <= self._last:
            raise ValueError(f"tree hash paths out of order: {relative_path}")
        self._last = encoded
        self._digest.update(encoded + b"\0" + str(size).encode() + b"\0")
        for chunk in chunks:
            self._digest.update(chunk)

    def fingerprint(self) -> str:
        return "sha256:" + self._digest.hexdigest()


def short(fingerprint: str | None, length: int = 8) -> str:
    """The leading hex of a fingerprint for columns and messages ("git:9f2c1e7a…" -> 9f2c1e7a)."""
    if not fingerprint:
        return ""
    return fingerprint.rsplit(":", 1)[-1][:length]
