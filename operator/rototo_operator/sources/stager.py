"""The Stager: turn a source string into one local directory holding the projected workspace.

`stage(source)` fetches every layer (local copy, git tree at a resolved commit, or
extracted archive), follows `extends`, projects parents first and child last into a fresh
temporary directory, and reports the combined fingerprint and immutability. `probe(source)`
computes the same fingerprint without transferring objects (git ls-remote, an HTTP HEAD,
a hash of a local directory) when it can, and None when it cannot, so a refresh loop can
decide "unchanged" in one round trip.

Both are blocking; async callers use `asyncio.to_thread`. A Stager may be shared by
threads: git caches are locked per repository URL.

Secrets (password, token, SSH identity) are sent only to the host of the root source (to
every host when the root is local), so a layer on another host never receives this
workspace's secrets; trust material (CA bundle, known_hosts) applies to every layer.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import os
import posixpath
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from types import TracebackType

from rototo_operator.errors import SourceError
from rototo_operator.sources import fingerprint as fingerprints
from rototo_operator.sources import layering, tree
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.limits import Limits
from rototo_operator.sources.spec import SourceSpec, parse_source

_process_cache_lock = threading.Lock()
_process_cache_dir: Path | None = None


def _process_cache() -> Path:
    """The default cache: one temporary directory per process, shared by every Stager.

    Removed at interpreter exit. Pass `cache_dir` (the operator's `--cache-dir`) to keep
    fetched repositories across restarts.
    """
    global _process_cache_dir  # noqa: PLW0603 - one lazily created directory per process
    with _process_cache_lock:
        if _process_cache_dir is None:
            _process_cache_dir = Path(tempfile.mkdtemp(prefix="rototo-cache-"))
            atexit.register(shutil.rmtree, _process_cache_dir, ignore_errors=True)
        return _process_cache_dir


@dataclasses.dataclass(frozen=True)
class SourceLayer:
    """One layer of a staged workspace, in projection order (parents first)."""

    source: str
    fingerprint: str
    immutable: bool


class StagedWorkspace:
    """A staged, projected workspace on local disk; `cleanup()` removes its directory."""

    def __init__(
        self,
        *,
        root: Path,
        fingerprint: str,
        immutable: bool,
        source: str,
        layers: tuple[SourceLayer, ...],
        owned_dir: Path | None,
    ) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.immutable = immutable
        self.source = source
        self.layers = layers
        # Dropping the object removes its files too, like the reference's temporary staging:
        # keep the StagedWorkspace alive for as long as `root` is used.
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, owned_dir, ignore_errors=True)
            if owned_dir is not None
            else None
        )

    def __repr__(self) -> str:
        return (
            f"StagedWorkspace(root={str(self.root)!r}, fingerprint={self.fingerprint!r}, "
            f"immutable={self.immutable}, source={self.source!r}, layers={len(self.layers)})"
        )

    def cleanup(self) -> None:
        """Remove the staged files; the root path must not be used afterwards."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> StagedWorkspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


@dataclasses.dataclass(frozen=True)
class _Request:
    """Stage a source string, or a subdirectory of a tree staged earlier in this session."""

    spec: SourceSpec
    tree: tree.RemoteTree | None = None


# How many (layer, version) extends lists a Stager remembers for probe(); a layer at a
# version it has forgotten probes as "no parents", which only costs one needless stage.
KNOWN_EXTENDS = 4096


class Stager:
    """Stages workspace sources; see the module docstring for the behaviour."""

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        limits: Limits | None = None,
        credentials: Credentials | None = None,
        allow_local: bool = True,
        *,
        staging_dir: Path | str | None = None,
        cache_max_idle: float | None = None,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self.credentials = credentials
        self.allow_local = allow_local
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _process_cache()
        self.staging_dir = Path(staging_dir) if staging_dir is not None else None
        # Git cache repositories unused this long (seconds) are deleted; None keeps them.
        self.cache_max_idle = cache_max_idle
        self._lock = threading.Lock()
        self._staged: weakref.WeakSet[StagedWorkspace] = weakref.WeakSet()
        # Directories of stages still running, so `cleanup` reaches them too (a fetch
        # blocked in libgit2 never returns to remove its own).
        self._in_progress: set[Path] = set()
        # Extends lists seen when staging remote layers, by (layer key, fingerprint): lets
        # probe() combine a layered fingerprint without fetching anything. The most recently
        # used KNOWN_EXTENDS entries: a long-running operator stages new versions for ever.
        self._known_extends: collections.OrderedDict[
            tuple[str, str], tuple[tuple[str, ...], str | None]
        ] = collections.OrderedDict()
        self._git_cache: object | None = None

    # -- public API -------------------------------------------------------------------

    def stage(self, source: str, *, fresh_after: float | None = None) -> StagedWorkspace:
        """Stage `source` and every layer it extends; raises SourceError on any failure.

        `fresh_after` (epoch seconds): a git layer's refs may come from an ls-remote of
        its repository that started at or after that instant (see `probe`)."""
        spec = parse_source(source)
        self._check_local(spec)
        work = Path(tempfile.mkdtemp(prefix="rototo-stage-", dir=self.staging_dir))
        with self._lock:
            self._in_progress.add(work)
        try:
            session = _Session(self, spec, work, fresh_after)
            layers = layering.collect(_Request(spec), session.load)
            fingerprint = fingerprints.combine_layers([layer.fingerprint for layer in layers])
            immutable = all(layer.immutable for layer in layers)
            if len(layers) == 1:
                root = layers[0].workspace
            else:
                root = work / "workspace"
                root.mkdir()
                for index, layer in enumerate(layers):
                    tree.project(layer.workspace, root, include_manifest=index == len(layers) - 1)
                shutil.rmtree(work / "layers", ignore_errors=True)
            staged = StagedWorkspace(
                root=root,
                fingerprint=fingerprint,
                immutable=immutable,
                source=spec.redacted(),
                layers=tuple(
                    SourceLayer(layer.source, layer.fingerprint, layer.immutable)
                    for layer in layers
                ),
                owned_dir=work,
            )
        except BaseException:
            with self._lock:
                self._in_progress.discard(work)
            shutil.rmtree(work, ignore_errors=True)
            raise
        with self._lock:
            # `cleanup` ran meanwhile and took the directory: this stage is cancelled.
            cancelled = work not in self._in_progress
            self._in_progress.discard(work)
            if not cancelled:
                self._staged.add(staged)
        if cancelled:
            staged.cleanup()
            raise SourceError(f"staging {spec.redacted()} was cancelled: its stager was cleaned up")
        return staged

    def probe(self, source: str, *, fresh_after: float | None = None) -> str | None:
        """A fingerprint equal to the current one iff `stage(source)` would report it again.

        Git layers cost one ls-remote each (none for a pinned commit), archives one HEAD
        request, local directories a read of their files; no objects are transferred. When
        every layer is at a version this Stager (or its git cache) has seen, the result is
        exactly the fingerprint `stage` reports. A remote layer at a new version is taken as
        having no parents until staged, which still differs from every earlier fingerprint.
        None when a layer offers no cheap validator (an archive served without ETag or
        Last-Modified): the caller must stage to know.

        `fresh_after` (epoch seconds) lets git layers share ls-remotes: the refs of a
        repository may come from an ls-remote (with the same credentials) that started at
        or after that instant, by this Stager, for any source on that repository. Sources
        on one repository that differ in ref or path then cost one round trip per refresh
        round, not one each. Without it every git layer asks anew.
        """
        spec = parse_source(source)
        self._check_local(spec)
        session = _Session(self, spec, None, fresh_after)
        fingerprints_found: list[str] = []
        if not session.probe(spec, None, True, [], fingerprints_found):
            return None
        return fingerprints.combine_layers(fingerprints_found)

    def cleanup(self) -> None:
        """Remove every workspace this Stager staged (the shared git cache stays), and the
        directories of stages still running: those stages then fail."""
        with self._lock:
            staged, self._staged = list(self._staged), weakref.WeakSet()
            running, self._in_progress = list(self._in_progress), set()
        for workspace in staged:
            workspace.cleanup()
        for work in running:
            shutil.rmtree(work, ignore_errors=True)

    def __enter__(self) -> Stager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- internals ------------------------------------------------------------------------

    def _remember_extends(
        self, key: tuple[str, str], value: tuple[tuple[str, ...], str | None]
    ) -> None:
        with self._lock:
            self._known_extends[key] = value
            self._known_extends.move_to_end(key)
            while len(self._known_extends) > KNOWN_EXTENDS:
                self._known_extends.popitem(last=False)

    def _recall_extends(self, key: tuple[str, str]) -> tuple[tuple[str, ...], str | None] | None:
        with self._lock:
            value = self._known_extends.get(key)
            if value is not None:
                self._known_extends.move_to_end(key)
            return value

    def _check_local(self, spec: SourceSpec) -> None:
        if spec.is_local and not self.allow_local:
            raise SourceError(
                f"local workspace sources are disabled here: {spec.redacted()} "
                "(the operator reads only remote sources unless started with "
                "--allow-local-sources)"
            )

    def _git(self) -> object:
        from rototo_operator.sources import git

        with self._lock:
            if self._git_cache is None:
                self._git_cache = git.GitCache(
                    self.cache_dir / "git", self.limits, max_idle=self.cache_max_idle
                )
            return self._git_cache


class _Session:
    """State for one stage() or probe() call: root host, work directory, shared trees."""

    def __init__(
        self, stager: Stager, root: SourceSpec, work: Path | None, fresh_after: float | None
    ) -> None:
        self.stager = stager
        self.root_host = root.host
        self.work = work
        self.fresh_after = fresh_after
        self.trees: dict[tuple[str, str | None], tree.RemoteTree] = {}
        self.count = 0

    def credentials_for(self, spec: SourceSpec) -> Credentials | None:
        """Secrets only for the root's host; trust material (CA, known_hosts) for all."""
        credentials = self.stager.credentials
        if credentials is None or self.root_host is None or spec.host == self.root_host:
            return credentials
        return Credentials(
            ssh_known_hosts=credentials.ssh_known_hosts, ca_bundle=credentials.ca_bundle
        )

    def _layer_dir(self) -> Path:
        assert self.work is not None
        self.count += 1
        path = self.work / "layers" / str(self.count)
        path.mkdir(parents=True)
        return path

    # -- staging --------------------------------------------------------------------------

    def load(self, request: _Request, is_root: bool) -> layering.Layer[_Request]:
        spec = request.spec
        if request.tree is not None:
            return self._tree_layer(request.tree, spec.subdir, is_root)
        self.stager._check_local(spec)
        if spec.kind in ("local", "file"):
            return self._local_layer(spec, is_root)
        key = (spec.location, spec.ref)
        remote = self.trees.get(key)
        if remote is None:
            remote = self._fetch_tree(spec)
            self.trees[key] = remote
        effective = spec.subdir if spec.subdir is not None else remote.default_subdir()
        layer = self._tree_layer(remote, effective, is_root)
        # Remember the graph under the key probe() will compute from the source as written.
        self.stager._remember_extends(
            (_tree_key(spec), remote.fingerprint), (layer.extends, effective)
        )
        return layer

    def _fetch_tree(self, spec: SourceSpec) -> tree.RemoteTree:
        credentials = self.credentials_for(spec)
        if spec.kind == "git":
            from rototo_operator.sources import git

            cache = self.stager._git()
            assert isinstance(cache, git.GitCache)
            return cache.stage(spec, credentials, self._layer_dir(), fresh_after=self.fresh_after)
        from rototo_operator.sources import archive

        return archive.stage(spec, credentials, self.stager.limits, self._layer_dir())

    def _local_layer(self, spec: SourceSpec, is_root: bool) -> layering.Layer[_Request]:
        original = Path(spec.location)
        if not original.is_dir():
            reason = "does not exist" if not original.exists() else "is not a directory"
            raise SourceError(f"workspace source {spec.text} {reason}")
        workspace = self._layer_dir()
        fingerprint = tree.snapshot_local(original, workspace, self.stager.limits)
        extends = layering.read_extends(workspace, shown=spec.text, strict=not is_root)
        base = original

        def resolve(entry: str) -> _Request:
            if "://" in entry:
                return _Request(parse_source(entry))
            return _Request(parse_source(str(base / entry)))

        return layering.Layer(
            source=spec.text,
            key="path:" + str(original.resolve()),
            workspace=workspace,
            fingerprint=fingerprint,
            immutable=False,
            extends=extends,
            resolve=resolve,
        )

    def _tree_layer(
        self, remote: tree.RemoteTree, effective: str | None, is_root: bool
    ) -> layering.Layer[_Request]:
        workspace = remote.directory(effective)
        spec = remote.spec.with_subdir(effective)
        extends = layering.read_extends(workspace, shown=spec.redacted(), strict=not is_root)
        key = _tree_key(spec)
        self.stager._remember_extends((key, remote.fingerprint), (extends, effective))

        def resolve(entry: str) -> _Request:
            parent = resolve_in_tree(remote.spec, effective, entry)
            # Relative entries are directories of this same tree (same commit or archive).
            return _Request(parent, None if "://" in entry else remote)

        return layering.Layer(
            source=spec.redacted(),
            key=key,
            workspace=workspace,
            fingerprint=remote.fingerprint,
            immutable=remote.immutable,
            extends=extends,
            resolve=resolve,
        )

    # -- probing --------------------------------------------------------------------------

    def probe(
        self,
        spec: SourceSpec,
        pinned: str | None,
        is_root: bool,
        stack: list[str],
        found: list[str],
    ) -> bool:
        """Append the layer fingerprints of `spec`'s graph to `found`; False when unknown."""
        if len(stack) >= layering.MAX_LAYERS or len(found) >= layering.MAX_LAYERS:
            return False
        self.stager._check_local(spec)
        if spec.kind in ("local", "file"):
            original = Path(spec.location)
            if not original.is_dir():
                return False
            fingerprint = tree.hash_local(original, self.stager.limits)
            extends = layering.read_extends(original, shown=spec.text, strict=not is_root)
            key = "path:" + str(original.resolve())

            def resolve(entry: str) -> tuple[SourceSpec, str | None]:
                if "://" in entry:
                    return parse_source(entry), None
                return parse_source(str(original / entry)), None

        else:
            fingerprint_or_none = pinned or self._probe_remote(spec)
            if fingerprint_or_none is None:
                return False
            fingerprint = fingerprint_or_none
            key = _tree_key(spec)
            known = self.stager._recall_extends((key, fingerprint))
            if known is None and spec.kind == "git":
                git_extends = self._git_extends(spec, fingerprint)
                known = None if git_extends is None else (git_extends, spec.subdir)
            # A layer at a version never staged here: take it as having no parents. The
            # result then differs from every fingerprint of earlier versions (this layer's
            # own fingerprint changed), which is all a refresh needs to decide to stage.
            extends, effective = known if known is not None else ((), spec.subdir)

            def resolve(entry: str) -> tuple[SourceSpec, str | None]:
                resolved = resolve_in_tree(spec, effective, entry)
                same_tree = resolved.location == spec.location and resolved.ref == spec.ref
                return resolved, (fingerprint if same_tree and "://" not in entry else None)

        if key in stack:
            return False
        stack.append(key)
        try:
            for entry in extends:
                try:
                    parent, parent_pin = resolve(entry)
                except SourceError:
                    return False
                if not self.probe(parent, parent_pin, False, stack, found):
                    return False
        finally:
            stack.pop()
        found.append(fingerprint)
        return True

    def _probe_remote(self, spec: SourceSpec) -> str | None:
        credentials = self.credentials_for(spec)
        if spec.kind == "git":
            from rototo_operator.sources import git

            cache = self.stager._git()
            assert isinstance(cache, git.GitCache)
            commit = cache.resolve(spec, credentials, fresh_after=self.fresh_after)
            return fingerprints.git_fingerprint(commit)
        from rototo_operator.sources import archive

        return archive.probe(spec, credentials, self.stager.limits)

    def _git_extends(self, spec: SourceSpec, fingerprint: str) -> tuple[str, ...] | None:
        from rototo_operator.sources import git

        cache = self.stager._git()
        assert isinstance(cache, git.GitCache)
        path = posixpath.join(spec.subdir or "", tree.MANIFEST)
        commit = fingerprint.removeprefix("git:")
        text = cache.read_file(spec, self.credentials_for(spec), commit, path)
        if text is None:
            return None
        with tempfile.TemporaryDirectory(prefix="rototo-probe-") as scratch:
            (Path(scratch) / tree.MANIFEST).write_bytes(text)
            return layering.read_extends(Path(scratch), shown=spec.redacted(), strict=False)


def _tree_key(spec: SourceSpec) -> str:
    return f"{spec.kind}:{spec.location}#{spec.ref or ''}:{spec.subdir or ''}"


def resolve_in_tree(spec: SourceSpec, workspace_subdir: str | None, entry: str) -> SourceSpec:
    """Resolve an `extends` entry declared by a workspace inside a staged remote tree.

    Remote sources are taken as they are. Local forms (paths outside the tree, `file://`,
    `git+file://`) would let a remote workspace read the staging machine's files, so they
    are refused; a relative path resolves from the declaring workspace and must stay inside
    the staged tree (the repository checkout or the archive), keeping the same ref.
    """
    if "://" in entry:
        parent = parse_source(entry)
        if parent.is_local:
            raise SourceError(f"workspace extends source escapes a staged workspace: {entry}")
        return parent
    if entry.startswith("/") or os.path.isabs(entry):
        raise SourceError(f"workspace extends source escapes a staged workspace: {entry}")
    joined = posixpath.normpath(posixpath.join(workspace_subdir or "", entry))
    if joined == ".." or joined.startswith("../"):
        raise SourceError(
            f"relative workspace extends source escapes the staged tree of "
            f"{spec.with_subdir(None).redacted()}: {entry}"
        )
    return spec.with_subdir(None if joined == "." else joined)
