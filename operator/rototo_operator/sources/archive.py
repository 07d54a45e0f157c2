"""HTTPS archive sources: download a .tar.gz with limits and extract it safely.

The download uses `http.client` over TLS (a CA bundle from the credentials replaces the
system store for this request only). Redirects are followed up to 10 times and only to
https; the bearer token is sent to the source's own host, never to a redirect target on
another host. `http_timeout` bounds the whole request (connect, headers and body), as the
reference's HTTP client does.

Extraction streams the gzip and tar layers, checking every entry before anything is
written: absolute paths, `..` components, devices and FIFOs are refused; symbolic and
hard links are refused when they point outside the archive and otherwise skipped (the
reference engine skips them too); entries, bytes written and the raw decompressed stream
are all bounded by `Limits`.

Fingerprint: `http:` from a strong ETag or Last-Modified, otherwise the tree hash of the
extracted archive (`sha256:`). `probe` sends one HEAD request.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.client
import posixpath
import shutil
import ssl
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from rototo_operator.errors import SourceError
from rototo_operator.sources import fingerprint as fingerprints
from rototo_operator.sources import tree
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.limits import Limits, exceeded
from rototo_operator.sources.spec import SourceSpec

USER_AGENT = "rototo-operator/0.1"
MAX_REDIRECTS = 10
_CHUNK = 1 << 16
_PREVIEW = 512


class _Deadline:
    def __init__(self, limits: Limits, shown: str) -> None:
        self.limits = limits
        self.shown = shown
        self.at = time.monotonic() + limits.http_timeout

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise exceeded(
                "http_timeout", self.limits.http_timeout, f"request for {self.shown} timed out"
            )


def _context(credentials: Credentials | None) -> ssl.SSLContext:
    """The TLS context: only the source's CA bundle when given, else the system store."""
    return _cached_context(credentials.ca_bundle if credentials is not None else None)


@functools.lru_cache(maxsize=64)
def _cached_context(ca_bundle: str | None) -> ssl.SSLContext:
    # Loading a trust store costs tens of milliseconds; contexts are safe to share.
    if ca_bundle:
        try:
            return ssl.create_default_context(cadata=ca_bundle)
        except ssl.SSLError as error:
            raise SourceError(f"the CA bundle (ca.crt) is not valid PEM: {error}") from None
    return ssl.create_default_context()


def _request(
    method: str,
    spec: SourceSpec,
    credentials: Credentials | None,
    deadline: _Deadline,
) -> tuple[http.client.HTTPResponse, http.client.HTTPSConnection]:
    """Send `method` to the archive URL following https-only redirects; returns the answer."""
    url = spec.location
    origin = (urllib.parse.urlsplit(url).hostname or "").lower()
    token = credentials.bearer_token if credentials else None
    context = _context(credentials)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https":
            raise SourceError(
                f"workspace archive redirects must stay on https: {spec.redacted()} -> "
                f"{parts.scheme}://{parts.hostname}"
            )
        host = (parts.hostname or "").lower()
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if token and host == origin:
            headers["Authorization"] = f"Bearer {token}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = http.client.HTTPSConnection(
            host, parts.port or 443, timeout=deadline.limits.http_timeout, context=context
        )
        try:
            deadline.check()
            connection.request(method, target, headers=headers)
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            response.read(_PREVIEW)
            connection.close()
            if not location:
                raise SourceError(f"redirect without a Location from {spec.redacted()}")
            url = urllib.parse.urljoin(url, location)
            continue
        return response, connection
    raise SourceError(f"too many redirects (over {MAX_REDIRECTS}) for {spec.redacted()}")


@contextlib.contextmanager
def _guarded(action: str, spec: SourceSpec, deadline: _Deadline) -> Iterator[None]:
    """Turn transport failures into SourceError messages that say what to fix."""
    shown = spec.redacted()
    try:
        yield
    except SourceError:
        raise
    except ssl.SSLCertVerificationError as error:
        raise SourceError(
            f"{action} {shown}: the TLS certificate is not trusted "
            f"({error.verify_message}); supply the certificate authority (ca.crt)"
        ) from None
    except TimeoutError:
        raise exceeded("http_timeout", deadline.limits.http_timeout, f"{action} {shown}") from None
    except (OSError, http.client.HTTPException) as error:
        raise SourceError(f"{action} {shown}: {error}") from None


def _fail_status(action: str, spec: SourceSpec, response: http.client.HTTPResponse) -> SourceError:
    preview = response.read(_PREVIEW).decode("utf-8", "replace").strip()
    detail = f": {preview}" if preview else ""
    hint = " (check the bearer token)" if response.status in (401, 403) else ""
    return SourceError(
        f"{action} {spec.redacted()}: HTTP {response.status} {response.reason}{hint}{detail}"
    )


def probe(spec: SourceSpec, credentials: Credentials | None, limits: Limits) -> str | None:
    """One HEAD request: the `http:` fingerprint, or None if the server sends no validator."""
    deadline = _Deadline(limits, spec.redacted())
    with _guarded("failed to check workspace archive", spec, deadline):
        response, connection = _request("HEAD", spec, credentials, deadline)
        try:
            if response.status in (405, 501):
                return None
            if not 200 <= response.status < 300:
                raise _fail_status("failed to check workspace archive", spec, response)
            return fingerprints.http_fingerprint(
                response.getheader("ETag"), response.getheader("Last-Modified")
            )
        finally:
            connection.close()


def stage(
    spec: SourceSpec, credentials: Credentials | None, limits: Limits, dest: Path
) -> ArchiveTree:
    """Download and extract the archive into `dest`; the tree is ready for `directory()`."""
    deadline = _Deadline(limits, spec.redacted())
    archive_path = dest / "archive.tar.gz"
    with _guarded("failed to fetch workspace archive", spec, deadline):
        response, connection = _request("GET", spec, credentials, deadline)
        try:
            if not 200 <= response.status < 300:
                raise _fail_status("failed to fetch workspace archive", spec, response)
            validator = fingerprints.http_fingerprint(
                response.getheader("ETag"), response.getheader("Last-Modified")
            )
            _download(response, archive_path, limits, deadline, spec)
        finally:
            connection.close()
    extract_root = dest / "extract"
    extract_root.mkdir()
    extract(archive_path, extract_root, limits, spec.redacted())
    archive_path.unlink()
    fingerprint = validator or tree.hash_staged(extract_root, limits)
    return ArchiveTree(spec, extract_root, fingerprint)


def _download(
    response: http.client.HTTPResponse,
    path: Path,
    limits: Limits,
    deadline: _Deadline,
    spec: SourceSpec,
) -> None:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.archive_bytes:
        raise exceeded(
            "archive_bytes",
            limits.archive_bytes,
            f"workspace archive {spec.redacted()} is {declared} bytes",
        )
    total = 0
    with path.open("wb") as out:
        while chunk := response.read(_CHUNK):
            deadline.check()
            total += len(chunk)
            if total > limits.archive_bytes:
                raise exceeded(
                    "archive_bytes",
                    limits.archive_bytes,
                    f"workspace archive {spec.redacted()} is larger",
                )
            out.write(chunk)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _BoundedReader:
    """The decompressed stream, cut off past a bound (headers included) to stop gzip bombs."""

    def __init__(self, raw: _Readable, bound: int, limits: Limits, shown: str) -> None:
        self.raw = raw
        self.bound = bound
        self.limits = limits
        self.shown = shown
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.total += len(data)
        if self.total > self.bound:
            raise exceeded(
                "decompressed_bytes",
                self.limits.decompressed_bytes,
                f"workspace archive {self.shown} decompresses to more",
            )
        return data


def extract(archive: Path, dest: Path, limits: Limits, shown: str) -> None:
    """Extract a .tar.gz into `dest` after checking every entry; SourceError when unsafe."""
    budget = tree.Budget(limits, f"workspace archive {shown}")
    bound = limits.decompressed_bytes + 1024 * limits.archive_entries + (1 << 20)
    try:
        with gzip.open(archive, "rb") as raw:
            reader = _BoundedReader(raw, bound, limits, shown)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _extract_member(tar, member, dest, budget, shown)
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError) as error:
        raise SourceError(f"workspace archive {shown} is not a readable .tar.gz: {error}") from None


def _safe_name(name: str, shown: str) -> str:
    cleaned = name.removeprefix("./")
    parts = [part for part in cleaned.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts or "\0" in name or not parts:
        if not parts and not name.startswith("/"):
            return ""
        raise SourceError(f"workspace archive {shown} contains unsafe path: {name}")
    return "/".join(parts)


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, budget: tree.Budget, shown: str
) -> None:
    name = _safe_name(member.name, shown)
    budget.entry(member.name)
    if not name:
        return
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""
        joined = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or joined == ".." or joined.startswith("../"):
            raise SourceError(
                f"workspace archive {shown} has a link {name} pointing outside the archive "
                f"({target})"
            )
        return
    path = dest / name
    if member.isdir():
        _make_dirs(dest, path)
        return
    if not member.isfile():
        raise SourceError(
            f"workspace archive {shown} contains unsupported entry type at: {member.name} "
            "(devices and FIFOs are refused)"
        )
    budget.add_bytes(member.size, name)
    _make_dirs(dest, path.parent)
    source = tar.extractfile(member)
    if source is None:
        raise SourceError(f"workspace archive {shown}: cannot read {member.name}")
    if path.is_dir():
        shutil.rmtree(path)
    with path.open("wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _make_dirs(root: Path, directory: Path) -> None:
    current = root
    for part in directory.relative_to(root).parts:
        current = current / part
        if current.exists() and not current.is_dir():
            current.unlink()
    directory.mkdir(parents=True, exist_ok=True)


class ArchiveTree:
    """An extracted archive; the workspace root is the `#:subdir` or inferred."""

    immutable = False

    def __init__(self, spec: SourceSpec, root: Path, fingerprint: str) -> None:
        self.spec = spec
        self.fingerprint = fingerprint
        self._root = root

    def _wrapper(self) -> str | None:
        """The archive's single top-level directory, if it has exactly one."""
        children = [child for child in self._root.iterdir() if child.is_dir()]
        return children[0].name if len(children) == 1 else None

    def default_subdir(self) -> str | None:
        if self.spec.subdir is not None:
            return self.spec.subdir
        if (self._root / tree.MANIFEST).is_file():
            return None
        wrapper = self._wrapper()
        if wrapper is not None and (self._root / wrapper / tree.MANIFEST).is_file():
            return wrapper
        raise SourceError(
            f"workspace archive from `{self.spec.redacted()}` does not contain a clear "
            "workspace root; use #:subdir"
        )

    def directory(self, subdir: str | None) -> Path:
        try:
            return tree.select_subdir(self._root, subdir, self.spec.redacted())
        except SourceError:
            # Archives of a repository usually wrap everything in one top directory
            # ("config-main/"): `#:workspaces/prod` also finds "config-main/workspaces/prod".
            wrapper = self._wrapper()
            if subdir is None or wrapper is None or (self._root / subdir).exists():
                raise
            return tree.select_subdir(self._root / wrapper, subdir, self.spec.redacted())
