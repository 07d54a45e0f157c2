"""Parse rototo workspace source strings into a `SourceSpec`, rejecting unsafe forms early.

Grammar (as the reference engine reads it):

    <path>                                  a local directory (no "://")
    file://<absolute path>                  a local directory; fragments refused
    git+{file,https,ssh}://<repo>[#[ref][:subdir]]
    https://<archive URL>[#:subdir]         a .tar.gz archive; a ref is refused

A fragment splits at its first ':' into ref and subdirectory; either may be empty. A ref
must not begin with '-' (it would read as an option to git) and must be a well-formed git
ref name or a commit id; a 40-hex ref pins an immutable commit. Subdirectories are
relative, with no '.', '..' or empty components. `http://` and `git+http://` are refused
because they weaken the transport boundary.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Literal

from rototo_operator.errors import SourceError

SourceKind = Literal["local", "file", "git", "archive"]
GitTransport = Literal["file", "https", "ssh"]

_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_REF_CHARS = re.compile(r"[\s~^:?*\[\\]")


def is_full_commit(ref: str | None) -> bool:
    """True for a full 40-hex commit id, the only ref form that pins content."""
    return ref is not None and _FULL_SHA.fullmatch(ref) is not None


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One parsed source string. `location` is the path (local forms) or the URL to fetch."""

    text: str
    kind: SourceKind
    location: str
    ref: str | None = None
    subdir: str | None = None

    @property
    def transport(self) -> GitTransport | None:
        """For git sources, the transport git uses: file, https or ssh."""
        if self.kind != "git":
            return None
        scheme = self.location.split("://", 1)[0]
        return scheme if scheme in ("file", "https", "ssh") else None  # type: ignore[return-value]

    @property
    def immutable(self) -> bool:
        """A git source pinned to a full commit id: the same content forever."""
        return self.kind == "git" and is_full_commit(self.ref)

    @property
    def is_local(self) -> bool:
        """Reads the local filesystem: paths, `file://` and `git+file://`."""
        return self.kind in ("local", "file") or self.transport == "file"

    @property
    def host(self) -> str | None:
        """The network host a remote source talks to (lowercase), None for local forms."""
        if self.is_local:
            return None
        return (urllib.parse.urlsplit(self.location).hostname or "").lower() or None

    def with_subdir(self, subdir: str | None) -> SourceSpec:
        """The same remote tree (same ref) rooted at another subdirectory."""
        subdir = normalize_subdir(subdir) if subdir else None
        if self.kind == "git":
            fragment = f"{self.ref or ''}:{subdir}" if subdir else (self.ref or "")
            text = f"git+{self.location}" + (f"#{fragment}" if fragment else "")
        elif self.kind == "archive":
            text = self.location + (f"#:{subdir}" if subdir else "")
        else:
            raise ValueError(f"{self.kind} sources have no subdirectory fragment")
        return dataclasses.replace(self, text=text, subdir=subdir)

    def redacted(self) -> str:
        """The source text with any password in the URL replaced, safe for logs and status."""
        return redact(self.text)


def redact(text: str) -> str:
    """Hide the password part of `scheme://user:password@host` in a source string."""
    return re.sub(r"(://[^/@#:]*):[^/@#]*@", r"\1:***@", text)


def normalize_subdir(subdir: str) -> str:
    """A safe relative subdirectory in canonical form, or SourceError naming the problem."""
    if _CONTROL.search(subdir):
        raise SourceError(f"workspace source subdir is unsafe: {subdir!r}")
    if subdir.startswith("/") or re.match(r"[A-Za-z]:[\\/]", subdir):
        raise SourceError(f"workspace source subdir is unsafe (absolute path): {subdir}")
    parts = [part for part in subdir.split("/") if part != ""]
    if not parts or any(part in (".", "..") for part in parts):
        raise SourceError(
            f"workspace source subdir is unsafe: {subdir} "
            "(must be a relative path without '.' or '..' components)"
        )
    return "/".join(parts)


def validate_ref(ref: str) -> str:
    """A ref git can be asked for safely; SourceError otherwise (before any network use)."""
    if ref.startswith("-"):
        raise SourceError(f"git workspace ref must not begin with '-': {ref}")
    if is_full_commit(ref):
        return ref.lower()
    if (
        _BAD_REF_CHARS.search(ref)
        or _CONTROL.search(ref)
        or ".." in ref
        or "@{" in ref
        or "//" in ref
        or ref in ("@",)
        or ref.endswith((".", "/", ".lock"))
        or ref.startswith("/")
        or any(part.startswith(".") for part in ref.split("/"))
    ):
        raise SourceError(f"git workspace ref is not a valid git ref name: {ref!r}")
    return ref


def parse_source(text: str) -> SourceSpec:
    """Parse a source string; raises SourceError with the reason for anything unsupported."""
    if not isinstance(text, str) or text.strip() == "":
        raise SourceError("workspace source must be a nonblank string")
    if _CONTROL.search(text):
        raise SourceError(f"workspace source contains a control character: {redact(text)!r}")
    if "://" not in text:
        return SourceSpec(text=text, kind="local", location=text)
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if not scheme or not rest:
        raise SourceError(f"workspace source URI is invalid: {redact(text)}")
    base, hash_sign, fragment = rest.partition("#")
    if not base:
        raise SourceError(f"workspace source URI is invalid: {redact(text)}")
    ref: str | None = None
    subdir: str | None = None
    if hash_sign:
        ref_part, _, subdir_part = fragment.partition(":")
        ref = ref_part or None
        subdir = subdir_part or None

    if scheme == "http":
        raise SourceError("http:// workspace sources are not supported; use https://")
    if scheme == "file":
        if hash_sign and (ref or subdir):
            raise SourceError(
                "file:// workspace sources do not support fragments; "
                "use a path that points directly at the workspace root"
            )
        return SourceSpec(text=text, kind="file", location=_local_file_path(base, text))
    if scheme.startswith("git+"):
        transport = scheme[len("git+") :]
        if transport not in ("file", "https", "ssh"):
            raise SourceError(f"git workspace source scheme is not supported: {scheme}")
        if ref is not None:
            ref = validate_ref(ref)
        if transport == "file":
            location = "file://" + _local_file_path(base, text)
        else:
            location = f"{transport}://{base}"
            _require_host(location, text)
        return SourceSpec(
            text=text,
            kind="git",
            location=location,
            ref=ref,
            subdir=normalize_subdir(subdir) if subdir else None,
        )
    if scheme == "https":
        if ref is not None:
            raise SourceError(
                "https workspace sources only support #:subdir fragments "
                f"(archives have no refs): {redact(text)}"
            )
        location = f"https://{base}"
        _require_host(location, text)
        return SourceSpec(
            text=text,
            kind="archive",
            location=location,
            subdir=normalize_subdir(subdir) if subdir else None,
        )
    raise SourceError(f"workspace source scheme is not supported: {scheme}")


def _local_file_path(base: str, text: str) -> str:
    """The absolute path of `file://[localhost]/path`; other hosts have no local meaning."""
    if base.startswith("/"):
        return base
    host, slash, path = base.partition("/")
    if host.lower() == "localhost" and slash:
        return "/" + path
    raise SourceError(f"file URL must name an absolute local path (file:///path): {redact(text)}")


def _require_host(url: str, text: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        raise SourceError(f"workspace source URI is invalid ({error}): {redact(text)}") from None
    if not parts.hostname:
        raise SourceError(f"workspace source URI has no host: {redact(text)}")
