"""Git sources through pygit2: a shared cache of bare repositories, ls-remote before fetch.

One bare repository per remote URL lives under the cache directory; a per-URL lock (a
thread lock and an `flock` on a lock file, so several processes may share the cache)
serialises fetches, so many workspaces on one repository fetch once and concurrent stagers
never corrupt it. A ref resolves from the remote's advertised refs (branch, then tag,
peeled; no ref means the remote HEAD); objects are fetched only when the resolved commit is
not already in the cache. A full 40-hex commit id needs no round trip at all when present.

The workspace is read straight from the commit's tree (no working-tree checkout): blobs are
written into the staging directory; symbolic links are resolved inside the commit's tree
and written as copies of their target; a link leaving the repository, dangling, or looping
is refused; submodules are refused.

Limits: `git_timeout` bounds each operation (checked in libgit2's progress and
certificate callbacks, and set as libgit2's server connect/read timeout, a process-wide
setting we only ever raise), `repository_bytes` bounds the pack data one fetch receives,
`decompressed_bytes` and `archive_entries` bound the tree written out.

Trust: see `trust.py`. HTTPS certificates are checked per remote against the source's CA
bundle when one is given (libgit2's own verification otherwise); SSH host keys are checked
against the source's known_hosts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import posixpath
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pygit2.enums

from rototo_operator.errors import SourceError
from rototo_operator.sources import fingerprint as fingerprints
from rototo_operator.sources import trust
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.limits import Limits, exceeded
from rototo_operator.sources.spec import SourceSpec, redact
from rototo_operator.sources.tree import Budget

_MODE_TREE = 0o040000
_MODE_LINK = 0o120000
_MODE_COMMIT = 0o160000
_MAX_LINK_HOPS = 16

_timeout_lock = threading.Lock()
_timeout_ms_set = 0


def _ensure_server_timeouts(seconds: float) -> None:
    """libgit2's connect/read timeouts are process-wide; keep the largest one asked for."""
    global _timeout_ms_set  # noqa: PLW0603 - mirrors a process-wide libgit2 setting
    milliseconds = int(seconds * 1000)
    with _timeout_lock:
        if milliseconds <= _timeout_ms_set:
            return
        pygit2.option(pygit2.enums.Option.SET_SERVER_CONNECT_TIMEOUT, milliseconds)
        pygit2.option(pygit2.enums.Option.SET_SERVER_TIMEOUT, milliseconds)
        _timeout_ms_set = milliseconds


@dataclasses.dataclass(frozen=True)
class AdvertisedRefs:
    """What a remote advertised: ref name -> object id, peeled tag targets, HEAD's target."""

    refs: dict[str, str]
    peeled: dict[str, str]
    head_target: str | None

    def resolve(self, ref: str | None, shown: str) -> tuple[str, str]:
        """(remote ref name, commit id) for a user ref; SourceError when absent."""
        if ref is None:
            if "HEAD" not in self.refs:
                raise SourceError(f"git remote advertises no HEAD; name a ref: {shown}")
            name = self.head_target if self.head_target in self.refs else "HEAD"
            return name or "HEAD", self.refs["HEAD"]
        candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        for name in candidates:
            if name in self.refs:
                return name, self.peeled.get(name, self.refs[name])
        raise SourceError(f"git ref `{ref}` was not found in `{shown}`")


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials, certificate and host-key checks, deadline and size limit for one call."""

    def __init__(
        self, url: str, credentials: Credentials | None, limits: Limits, shown: str
    ) -> None:
        super().__init__()
        self.url = url
        self.source_credentials = credentials
        self.limits = limits
        self.shown = shown
        self.deadline = time.monotonic() + limits.git_timeout
        self.attempts = 0
        self.verifier = trust.verifier_for(url, credentials)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise exceeded(
                "git_timeout", self.limits.git_timeout, f"git operation on {self.shown} timed out"
            )

    def custom_headers(self) -> list[str] | None:
        token = self.source_credentials.bearer_token if self.source_credentials else None
        creds = self.source_credentials
        if token and self.url.startswith("https://") and not (creds and creds.password):
            return [f"Authorization: Bearer {token}"]
        return None

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> Any:
        self.check_deadline()
        self.attempts += 1
        kinds = pygit2.enums.CredentialType
        creds = self.source_credentials or Credentials()
        if self.attempts > 3:
            raise SourceError(f"git authentication to {self.shown} failed: credentials rejected")
        requested = urllib.parse.urlsplit(url).hostname
        expected = urllib.parse.urlsplit(self.url).hostname
        if requested and expected and requested.lower() != expected.lower():
            raise SourceError(
                f"refusing to send credentials for {self.shown} to another host ({requested})"
            )
        if allowed_types & kinds.USERNAME:
            return pygit2.Username(username_from_url or creds.username or "git")
        if allowed_types & (kinds.SSH_KEY | kinds.SSH_MEMORY):
            user = username_from_url or creds.username or "git"
            if creds.ssh_identity:
                if self.attempts > 1:
                    raise SourceError(
                        f"git authentication to {self.shown} failed: the SSH identity was "
                        "rejected by the server"
                    )
                return pygit2.KeypairFromMemory(
                    user, None, creds.ssh_identity, creds.ssh_identity_passphrase or ""
                )
            raise SourceError(
                f"git server {self.shown} requires SSH authentication and no SSH identity "
                "was supplied"
            )
        if allowed_types & kinds.USERPASS_PLAINTEXT:
            if creds.password and self.attempts == 1:
                return pygit2.UserPass(creds.username or username_from_url or "git", creds.password)
            if creds.password:
                raise SourceError(
                    f"git authentication to {self.shown} failed: username/password rejected"
                )
            raise SourceError(
                f"git server {self.shown} requires authentication and no "
                f"{'accepted ' if creds.bearer_token else ''}credentials were supplied"
            )
        raise SourceError(f"git server {self.shown} asks for an unsupported authentication method")

    def rototo_certificate_check(self, cert: int, valid: bool, host: str) -> bool:
        """Called by the hook in `trust` with the raw libgit2 certificate pointer."""
        self.check_deadline()
        return self.verifier(cert, valid, host)

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # Reached only if the pointer-passing hook is not installed: fail closed unless
        # libgit2 itself vouched for the certificate and no private trust was asked for.
        if self.verifier is trust.libgit2_default:
            return valid
        raise SourceError(f"cannot verify the server certificate of {self.shown}")

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self.check_deadline()
        if stats.received_bytes > self.limits.repository_bytes:
            raise exceeded(
                "repository_bytes",
                self.limits.repository_bytes,
                f"fetching {self.shown} received {stats.received_bytes} bytes",
            )

    def sideband_progress(self, string: str) -> None:
        self.check_deadline()


def _refuse_offsite_redirects(repo: pygit2.Repository) -> None:
    """Have libgit2 refuse HTTP redirects to another host for every remote of `repo`.

    libgit2 follows a redirect of the first request of an exchange by default, and sends a
    bearer token (a custom header) along to wherever it leads. pygit2 does not expose the
    fetch option that turns this off, but libgit2 reads `http.followRedirects` from the
    repository's configuration when the option is unset, and every remote here is an
    anonymous one on a cache repository. Redirects within the same host still work."""
    # The repository's own file, not the merged view: a user's global `true` must not
    # count as set, and a global `false` must not stand in for ours.
    local = pygit2.Config(os.path.join(repo.path, "config"))
    if "http.followRedirects" not in local or local["http.followRedirects"] != "false":
        local["http.followRedirects"] = "false"


def _remote_url(spec: SourceSpec) -> str:
    return spec.location


def _identity(credentials: Credentials | None, salt: bytes) -> bytes:
    """Which secrets reach the remote; salted so the cache never holds a bare secret hash."""
    if credentials is None:
        return b""
    secrets = (
        credentials.username,
        credentials.password,
        credentials.bearer_token,
        credentials.ssh_identity,
    )
    if not any(secrets):
        return b""
    digest = hashlib.sha256(salt)
    for value in secrets:
        digest.update(b"\0" + (value or "").encode())
    return digest.digest()


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[Path]:
    """Hold an exclusive flock on `path`, created if missing; `path` is yielded.

    `GitCache.collect` deletes lock files: a lock taken on a file that was unlinked
    meanwhile guards nothing, so the lock is taken again on the file now at `path`."""
    while True:
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                continue
            if current.st_ino != os.fstat(handle.fileno()).st_ino:
                continue
            try:
                yield path
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return


class _Advertisement:
    """One ls-remote of a repository, shared by the callers that may use it (see
    `GitCache.advertised`): when it started, and its answer once `done` is set."""

    def __init__(self) -> None:
        self.started = time.time()
        self.done = threading.Event()
        self.refs: AdvertisedRefs | None = None


class GitCache:
    """Bare repositories by URL under `root`, shared by every workspace using that URL.

    `max_idle` (seconds): repositories no one used for that long are deleted, checked at
    most every `max_idle / 4` seconds (and at least hourly) as the cache is used. Their
    keys include the credentials, so a rotated token leaves its predecessor's clone behind
    for good otherwise. None keeps everything."""

    def __init__(self, root: Path, limits: Limits, *, max_idle: float | None = None) -> None:
        self.root = root
        self.limits = limits
        self.max_idle = max_idle
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._last_collect = 0.0
        self._salt_value: bytes | None = None
        # Cache repositories already set to refuse off-site redirects by this process.
        self._redirects_refused: set[str] = set()
        # The latest ls-remote per repository (URL and credentials), for `fresh_after`.
        self._advertisements: dict[str, _Advertisement] = {}
        _ensure_server_timeouts(limits.git_timeout)
        trust.install_certificate_hook()

    def _key(self, url: str, credentials: Credentials | None) -> str:
        """Cache name for a URL as seen with these credentials.

        Repositories fetched with different secrets live apart: a commit fetched for one
        tenant must not be readable (by its id, with no network check) by another.
        """
        identity = _identity(credentials, self._salt())
        return hashlib.sha256(redact(url).encode() + b"\0" + identity).hexdigest()[:32]

    def _salt(self) -> bytes:
        """The cache's random salt, created once for every process that shares `root`.

        The file appears complete or not at all (written aside, then linked into place):
        a reader that caught it half-written would key repositories by another salt."""
        with self._locks_guard:
            if self._salt_value is not None:
                return self._salt_value
        path = self.root / "salt"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            aside = self.root / f".salt-{os.getpid()}-{threading.get_ident()}"
            aside.write_bytes(os.urandom(32))
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # another stager won: use its salt
            finally:
                aside.unlink()
        value = path.read_bytes()
        with self._locks_guard:
            self._salt_value = value
        return value

    @contextlib.contextmanager
    def _locked(self, url: str, credentials: Credentials | None) -> Iterator[pygit2.Repository]:
        key = self._key(url, credentials)
        self._maybe_collect(key)
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        self.root.mkdir(parents=True, exist_ok=True)
        with lock, _flocked(self.root / f"{key}.lock") as lock_path:
            # The lock file's mtime is the repository's last use, for `collect`.
            os.utime(lock_path)
            path = self.root / f"{key}.git"
            created = not (path / "HEAD").exists()
            if created:
                repo = pygit2.init_repository(str(path), bare=True)
            else:
                repo = pygit2.Repository(str(path))
            # Whoever creates a repository configures it; an existing one is checked once
            # per process (it may predate this setting).
            if created or key not in self._redirects_refused:
                _refuse_offsite_redirects(repo)
                self._redirects_refused.add(key)
            yield repo

    def _maybe_collect(self, current: str) -> None:
        if self.max_idle is None:
            return
        now = time.time()
        with self._locks_guard:
            if now - self._last_collect < min(self.max_idle / 4, 3600.0):
                return
            self._last_collect = now
        self.collect(keep=current)

    def collect(self, *, keep: str | None = None) -> list[str]:
        """Delete the repositories unused for `max_idle` seconds; their keys.

        A repository in use (its lock held, by this process or another) is skipped, and so
        is `keep`. Safe while other stagers run: the lock file goes last, and a user that
        opened it before it went notices and locks the new one (`_flocked`)."""
        if self.max_idle is None or not self.root.is_dir():
            return []
        deadline = time.time() - self.max_idle
        removed = []
        for lock_path in sorted(self.root.glob("*.lock")):
            key = lock_path.name.removesuffix(".lock")
            try:
                if key == keep or lock_path.stat().st_mtime >= deadline:
                    continue
                with open(lock_path, "a") as lock_file:
                    try:
                        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                    if os.fstat(lock_file.fileno()).st_mtime >= deadline:
                        continue  # used between the check and the lock
                    shutil.rmtree(self.root / f"{key}.git", ignore_errors=True)
                    lock_path.unlink()
            except FileNotFoundError:
                continue
            removed.append(key)
        return removed

    def _errors(self, spec: SourceSpec, action: str) -> contextlib.AbstractContextManager[None]:
        return _translate_errors(spec, action)

    def advertised(
        self,
        spec: SourceSpec,
        credentials: Credentials | None,
        *,
        fresh_after: float | None = None,
    ) -> AdvertisedRefs:
        """The refs the remote advertises: one ls-remote round trip.

        With `fresh_after` (epoch seconds), an ls-remote of the same repository with the
        same credentials that started at or after that instant answers instead, finished or
        still running: sources that differ only in ref or path share one round trip per
        refresh round. A shared ls-remote that fails is not shared: each caller then asks
        for itself, so its error names its own source."""
        if fresh_after is None:
            return self._ls_remote(spec, credentials)
        key = self._key(_remote_url(spec), credentials)
        with self._locks_guard:
            held = self._advertisements.get(key)
            owner = held is None or held.started < fresh_after
            if owner:
                held = self._advertisements[key] = _Advertisement()
        assert held is not None
        if owner:
            try:
                held.refs = self._ls_remote(spec, credentials)
            finally:
                if held.refs is None:
                    with self._locks_guard:
                        if self._advertisements.get(key) is held:
                            del self._advertisements[key]
                held.done.set()
            return held.refs
        # The owner's ls-remote is bounded by the git timeout; waiting longer means a
        # request stuck in libgit2, and then this caller asks for itself.
        held.done.wait(self.limits.git_timeout + 1)
        if held.refs is not None:
            return held.refs
        return self._ls_remote(spec, credentials)

    def _ls_remote(self, spec: SourceSpec, credentials: Credentials | None) -> AdvertisedRefs:
        url = _remote_url(spec)
        callbacks = _Callbacks(url, credentials, self.limits, spec.redacted())
        with self._errors(spec, "git ls-remote"):
            with self._locked(url, credentials) as repo:
                path = repo.path
            # No lock for the round trip itself: it only reads, and a slow fetch of the same
            # URL must not hold up probes.
            remote = pygit2.Repository(path).remotes.create_anonymous(url)
            heads = remote.list_heads(callbacks=callbacks)
        refs: dict[str, str] = {}
        peeled: dict[str, str] = {}
        head_target: str | None = None
        for head in heads:
            name = head.name or ""
            oid = str(head.oid)
            if name.endswith("^{}"):
                peeled[name[:-3]] = oid
            else:
                refs[name] = oid
            if name == "HEAD" and head.symref_target:
                head_target = head.symref_target
        return AdvertisedRefs(refs, peeled, head_target)

    def resolve(
        self, spec: SourceSpec, credentials: Credentials | None, *, fresh_after: float | None = None
    ) -> str:
        """The commit id `spec` names now: no network for a pinned commit, else ls-remote
        (`fresh_after`: see `advertised`)."""
        if spec.immutable:
            assert spec.ref is not None
            return spec.ref
        advertised = self.advertised(spec, credentials, fresh_after=fresh_after)
        return advertised.resolve(spec.ref, spec.redacted())[1]

    def stage(
        self,
        spec: SourceSpec,
        credentials: Credentials | None,
        dest: Path,
        *,
        fresh_after: float | None = None,
    ) -> GitTree:
        """Resolve, fetch what is missing, and return the commit's tree ready to write out
        (`fresh_after`: see `advertised`)."""
        url = _remote_url(spec)
        if spec.immutable:
            assert spec.ref is not None
            refname, commit = None, spec.ref
        else:
            advertised = self.advertised(spec, credentials, fresh_after=fresh_after)
            refname, commit = advertised.resolve(spec.ref, spec.redacted())
        with self._errors(spec, "git fetch"), self._locked(url, credentials) as repo:
            if not _has_commit(repo, commit):
                self._fetch(repo, spec, credentials, refname, commit)
            if not _has_commit(repo, commit):
                raise SourceError(f"git commit {commit} was not found in `{spec.redacted()}`")
            path = repo.path
        return GitTree(
            spec=spec,
            repository=Path(path),
            commit=commit,
            dest=dest,
            limits=self.limits,
        )

    def _fetch(
        self,
        repo: pygit2.Repository,
        spec: SourceSpec,
        credentials: Credentials | None,
        refname: str | None,
        commit: str,
    ) -> None:
        url = _remote_url(spec)
        remote = repo.remotes.create_anonymous(url)
        if refname is not None and refname != "HEAD":
            refspecs = [f"+{refname}:refs/rototo/{refname.removeprefix('refs/')}"]
        elif refname == "HEAD":
            refspecs = ["+HEAD:refs/rototo/HEAD"]
        else:
            # A pinned commit: it is usually reachable from a branch or tag; servers refuse
            # to send unadvertised objects by id unless configured to.
            refspecs = ["+refs/heads/*:refs/rototo/heads/*", "+refs/tags/*:refs/rototo/tags/*"]
        callbacks = _Callbacks(url, credentials, self.limits, spec.redacted())
        remote.fetch(refspecs, callbacks=callbacks)
        if refname is None and not _has_commit(repo, commit):
            callbacks = _Callbacks(url, credentials, self.limits, spec.redacted())
            with contextlib.suppress(pygit2.GitError):
                remote.fetch([f"+{commit}:refs/rototo/pinned/{commit}"], callbacks=callbacks)

    def read_file(
        self, spec: SourceSpec, credentials: Credentials | None, commit: str, path: str
    ) -> bytes | None:
        """A file at `commit` from the cache without network; None when not cached or absent."""
        url = _remote_url(spec)
        repo_path = self.root / f"{self._key(url, credentials)}.git"
        if not (repo_path / "HEAD").exists():
            return None
        with self._locked(url, credentials) as repo:
            if not _has_commit(repo, commit):
                return None
            tree = repo[commit].peel(pygit2.Commit).tree
            try:
                entry = tree[path]
            except KeyError:
                return b""
            obj = repo[entry.id]
            return obj.data if isinstance(obj, pygit2.Blob) else b""


@contextlib.contextmanager
def _translate_errors(spec: SourceSpec, action: str) -> Iterator[None]:
    try:
        yield
    except SourceError:
        raise
    except (pygit2.GitError, KeyError, ValueError, OSError) as error:
        message = redact(str(error)).strip() or type(error).__name__
        if message.startswith("cannot redirect from"):
            message += " (redirects to another host are refused; use the repository's final URL)"
        raise SourceError(
            f"{action} failed for workspace source {spec.redacted()}: {message}"
        ) from None


def _has_commit(repo: pygit2.Repository, commit: str) -> bool:
    try:
        obj = repo[commit]
    except (KeyError, ValueError):
        return False
    return isinstance(obj, pygit2.Commit | pygit2.Tag)


class GitTree:
    """The tree of one commit; directories are written out on demand (`directory`)."""

    def __init__(
        self, *, spec: SourceSpec, repository: Path, commit: str, dest: Path, limits: Limits
    ) -> None:
        self.spec = spec
        self.commit = commit
        self.fingerprint = fingerprints.git_fingerprint(commit)
        self.immutable = spec.immutable
        self._repository = repository
        self._dest = dest
        self._limits = limits
        self._written: dict[str, Path] = {}

    def default_subdir(self) -> str | None:
        return self.spec.subdir

    def directory(self, subdir: str | None) -> Path:
        key = subdir or ""
        if key in self._written:
            return self._written[key]
        repo = pygit2.Repository(str(self._repository))
        root_tree = repo[self.commit].peel(pygit2.Commit).tree
        shown = self.spec.with_subdir(subdir).redacted()
        target_tree = root_tree
        if subdir:
            entry = _lookup(repo, root_tree, subdir, shown)
            if entry is None:
                raise SourceError(
                    f"workspace source subdir `{subdir}` was not found in `{shown}` "
                    f"at commit {self.commit}"
                )
            if not isinstance(entry, pygit2.Tree):
                raise SourceError(f"workspace source subdir `{subdir}` is not a directory")
            target_tree = entry
        out = self._dest / "tree" / (subdir or "")
        out.mkdir(parents=True, exist_ok=True)
        budget = Budget(self._limits, f"git tree of {shown}")
        _write_tree(repo, root_tree, target_tree, subdir or "", out, budget, frozenset(), shown)
        self._written[key] = out
        return out


def _lookup(
    repo: pygit2.Repository, root: pygit2.Tree, path: str, shown: str, hops: int = 0
) -> pygit2.Object | None:
    """Find `path` in the commit tree, following symbolic links inside the tree."""
    current: pygit2.Object = root
    parts = [part for part in path.split("/") if part]
    walked: list[str] = []
    for index, part in enumerate(parts):
        if not isinstance(current, pygit2.Tree) or part not in current:
            return None
        entry = current[part]
        walked.append(part)
        obj = repo[entry.id]
        if entry.filemode == _MODE_LINK:
            if hops >= _MAX_LINK_HOPS:
                raise SourceError(f"symbolic link {'/'.join(walked)} in {shown} forms a loop")
            assert isinstance(obj, pygit2.Blob)
            target = _link_target(obj.data, "/".join(walked), shown)
            rest = "/".join([target, *parts[index + 1 :]])
            return _lookup(repo, root, rest, shown, hops + 1)
        if entry.filemode == _MODE_COMMIT:
            raise SourceError(f"{'/'.join(walked)} in {shown} is a git submodule; not supported")
        current = obj
    return current


def _link_target(data: bytes, link_path: str, shown: str) -> str:
    """The repository path a symbolic link at `link_path` points to; refuses escapes."""
    target = data.decode("utf-8", "surrogateescape")
    if target.startswith("/"):
        raise SourceError(
            f"symbolic link {link_path} in {shown} points outside the repository ({target})"
        )
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith("../"):
        raise SourceError(
            f"symbolic link {link_path} in {shown} points outside the repository ({target})"
        )
    return "" if joined == "." else joined


def _write_tree(  # noqa: PLR0917 - a private recursive helper carrying its walk state
    repo: pygit2.Repository,
    root: pygit2.Tree,
    tree: pygit2.Tree,
    path: str,
    out: Path,
    budget: Budget,
    ancestors: frozenset[bytes],
    shown: str,
) -> None:
    if tree.id.raw in ancestors:
        raise SourceError(f"symbolic link into {path or '/'} in {shown} forms a loop")
    ancestors = ancestors | {tree.id.raw}
    for entry in tree:
        name = entry.name
        assert name is not None
        if name in (".", "..") or "/" in name or "\0" in name:
            raise SourceError(f"git tree of {shown} has an unsafe entry name {name!r}")
        relative = f"{path}/{name}" if path else name
        budget.entry(relative)
        obj: pygit2.Object | None = repo[entry.id]
        if entry.filemode == _MODE_COMMIT:
            raise SourceError(f"{relative} in {shown} is a git submodule; not supported")
        if entry.filemode == _MODE_LINK:
            assert isinstance(obj, pygit2.Blob)
            obj = _lookup(repo, root, _link_target(obj.data, relative, shown), shown, 1)
            if obj is None:
                raise SourceError(f"symbolic link {relative} in {shown} is dangling")
        if isinstance(obj, pygit2.Tree):
            (out / name).mkdir(exist_ok=True)
            _write_tree(repo, root, obj, relative, out / name, budget, ancestors, shown)
        elif isinstance(obj, pygit2.Blob):
            budget.add_bytes(obj.size, relative)
            (out / name).write_bytes(obj.data)
        else:
            raise SourceError(f"{relative} in {shown} is not a file or directory")
