"""Loading sources for many Workspaces at once: shared stagers, one fetch per version.

Every Workspace loop drives its own `sdk.refresh.Refresher`; the `WorkspaceLoader` handed
to it does the work through a `LoadService` shared by all loops, so that

- workspaces with the same credentials share one `sources.Stager` (and all stagers share
  one cache directory), so a repository is cloned once and later fetched incrementally;
- concurrent loads of the same (source, credentials) join one in-flight load, and a
  version already compiled (same source, same fingerprint) is reused without staging:
  a hundred Workspaces on one branch cost one fetch and one compile per new commit;
- probes of the same (source, credentials) join one in-flight probe, and periodic attempts
  of one scheduled round (the loops align them per repository, `sdk.backoff.aligned_instant`)
  share that round's probe even when they reach it after it finished: siblings woken at one
  instant cost one ref advertisement, however the event loop staggers them; sources on one
  git repository that differ in ref or path share that round's ls-remote too (the round's
  instant goes to the stager as `fresh_after`), and so does the stage that follows a probe
  that found a change;
- git and compile work is bounded by a semaphore (`--max-concurrent-refreshes`) and runs in
  worker threads, so the event loop never blocks on git or files.

Limits: the compiled-version cache keeps the newest `CACHE_SIZE` entries in memory; the
round of each (source, credentials) keeps only its latest round's probe; a stager no
Workspace asked for in `STAGER_IDLE_SECONDS` is dropped (a rotated token's, typically).
Credentials are keyed by a hash of their values, never stored as text in keys or logs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rototo_operator.errors import RototoError, SourceError
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.spec import parse_source
from rototo_operator.sources.stager import Stager

CACHE_SIZE = 256
STAGER_IDLE_SECONDS = 3600.0
THREAD_PREFIX = "rototo-source"
"""Name prefix of the threads that run git, downloads and compiles."""
T = TypeVar("T")


class CompiledLike(Protocol):
    """What the controller needs from `engine.CompiledModel`."""

    @property
    def digest(self) -> str: ...

    def to_bytes(self) -> bytes: ...


Compiler = Callable[[Path, str, str], CompiledLike]
"""compile_tree(root, source, fingerprint), blocking; raises WorkspaceLoadError."""


def engine_compiler(root: Path, source: str, fingerprint: str) -> CompiledLike:
    from rototo_operator.engine import compiled

    model: CompiledLike = compiled.compile_tree(root, source=source, fingerprint=fingerprint)
    return model


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A compiled version of a source, as the refresh core sees it."""

    source: str
    fingerprint: str
    immutable: bool
    compiled: CompiledLike
    model_bytes: bytes

    @property
    def digest(self) -> str:
        return self.compiled.digest


class LocalSourceRefused(SourceError):
    """A local source while the operator runs without --allow-local-sources."""


def credentials_key(credentials: Credentials | None) -> str:
    """A stable, non-reversible key for a credentials set ("" for none)."""
    if credentials is None:
        return ""
    digest = hashlib.sha256()
    for field in dataclasses.fields(credentials):
        value = getattr(credentials, field.name)
        digest.update(f"{field.name}={value!r}\0".encode())
    return digest.hexdigest()[:32]


class LoadService:
    """Shared by all Workspace loops; see the module docstring."""

    def __init__(
        self,
        *,
        cache_dir: Path | None,
        allow_local: bool,
        max_concurrent: int,
        cache_max_idle: float | None = None,
        compiler: Compiler = engine_compiler,
        stager_factory: Callable[..., Any] = Stager,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_dir = cache_dir
        self.cache_max_idle = cache_max_idle
        self.allow_local = allow_local
        self.slots = asyncio.Semaphore(max(1, max_concurrent))
        self._compiler = compiler
        self._stager_factory = stager_factory
        self._stagers: dict[str, Any] = {}
        self._stager_used: dict[str, float] = {}
        self._clock = clock
        self._last_sweep = clock()
        self._inflight: dict[tuple[str, str], asyncio.Future[LoadedModel]] = {}
        self._compiled: collections.OrderedDict[tuple[str, str, str], LoadedModel] = (
            collections.OrderedDict()
        )
        self._probes: dict[tuple[str, str], asyncio.Task[str | None]] = {}
        # The probe of the latest scheduled round per (source, credentials): (instant, task).
        self._rounds: dict[tuple[str, str], tuple[float, asyncio.Task[str | None]]] = {}
        # Blocking source and compile work runs in threads of our own, so that a process
        # stopping can tell which threads are stuck in a fetch (runner.run_process).
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, max_concurrent) + 4, thread_name_prefix=THREAD_PREFIX
        )
        # How often a source was actually probed and staged (for tests and the bench).
        self.probe_count = 0
        self.stage_count = 0

    async def _blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def check_allowed(self, source: str) -> bool:
        """Parse the source (SourceError when invalid); whether it is immutable.

        Raises LocalSourceRefused for a local source without --allow-local-sources.
        """
        spec = parse_source(source)
        if spec.is_local and not self.allow_local:
            raise LocalSourceRefused(
                f"local source {source!r} refused: the operator runs without --allow-local-sources"
            )
        return bool(spec.immutable)

    def stager(self, credentials: Credentials | None) -> Any:
        key = credentials_key(credentials)
        now = self._clock()
        self._stager_used[key] = now
        if now - self._last_sweep >= STAGER_IDLE_SECONDS / 4:
            self._last_sweep = now
            for idle in [
                k for k, used in self._stager_used.items() if now - used > STAGER_IDLE_SECONDS
            ]:
                # Work still running holds its own reference; its files go with it.
                self._stagers.pop(idle, None)
                del self._stager_used[idle]
        stager = self._stagers.get(key)
        if stager is None:
            stager = self._stager_factory(
                cache_dir=self.cache_dir,
                credentials=credentials,
                allow_local=self.allow_local,
                cache_max_idle=self.cache_max_idle,
            )
            self._stagers[key] = stager
        return stager

    async def probe(
        self, source: str, credentials: Credentials | None, *, round_at: float | None = None
    ) -> str | None:
        """The source's change token; concurrent probes of one source share one round trip.

        Without `round_at`, only in-flight probes are shared (no time-based cache), so the
        token is never older than the moment it was asked. `round_at` is the scheduled
        instant of a periodic attempt: every caller of that round gets the round's one
        probe, which started at or after the instant (or joined one in flight then), so a
        commit made before the instant is seen in that round.
        """
        key = (source, credentials_key(credentials))
        if round_at is not None:
            held = self._rounds.get(key)
            if held is not None and held[0] == round_at:
                return await asyncio.shield(held[1])
        inflight = self._probes.get(key)
        if inflight is not None:
            if round_at is not None:
                self._rounds[key] = (round_at, inflight)
            return await asyncio.shield(inflight)
        task = asyncio.get_running_loop().create_task(self._probe(source, credentials, round_at))
        self._probes[key] = task
        if round_at is not None:
            self._rounds[key] = (round_at, task)
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._probes.pop(key, None)
            else:
                task.add_done_callback(lambda _: self._probes.pop(key, None))

    async def _probe(
        self, source: str, credentials: Credentials | None, round_at: float | None
    ) -> str | None:
        stager = self.stager(credentials)
        async with self.slots:
            try:
                token: str | None = await self._blocking(stager.probe, source, fresh_after=round_at)
            except RototoError:
                # The load will report the problem with its full message.
                return None
        self.probe_count += 1
        return token

    async def load(
        self,
        source: str,
        credentials: Credentials | None,
        token: str | None,
        *,
        round_at: float | None = None,
    ) -> LoadedModel:
        key = credentials_key(credentials)
        if token is not None:
            cached = self._compiled.get((source, key, token))
            if cached is not None:
                self._compiled.move_to_end((source, key, token))
                return cached
        inflight = self._inflight.get((source, key))
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[LoadedModel] = asyncio.get_running_loop().create_future()
        self._inflight[(source, key)] = future
        try:
            loaded = await self._stage_and_compile(source, credentials, round_at)
        except BaseException as error:
            if isinstance(error, Exception):
                future.set_exception(error)
                # Joiners get the error; mark it retrieved so asyncio does not log it.
                future.exception()
            else:
                future.cancel()
            raise
        else:
            future.set_result(loaded)
            self._remember(key, loaded)
            return loaded
        finally:
            self._inflight.pop((source, key), None)

    def _remember(self, key: str, loaded: LoadedModel) -> None:
        self._compiled[(loaded.source, key, loaded.fingerprint)] = loaded
        while len(self._compiled) > CACHE_SIZE:
            self._compiled.popitem(last=False)

    async def _stage_and_compile(
        self, source: str, credentials: Credentials | None, round_at: float | None
    ) -> LoadedModel:
        stager = self.stager(credentials)
        async with self.slots:
            staged = await self._blocking(stager.stage, source, fresh_after=round_at)
            self.stage_count += 1
            try:
                compiled = await self._blocking(
                    self._compiler, staged.root, staged.source, staged.fingerprint
                )
                model_bytes = await self._blocking(compiled.to_bytes)
            finally:
                await self._blocking(staged.cleanup)
        return LoadedModel(
            source=source,
            fingerprint=staged.fingerprint,
            immutable=bool(staged.immutable),
            compiled=compiled,
            model_bytes=model_bytes,
        )

    def close(self) -> None:
        """Remove staging directories; never waits for a blocked fetch (see THREAD_PREFIX)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        for stager in self._stagers.values():
            stager.cleanup()
        self._stagers.clear()


class WorkspaceLoader:
    """The `sdk.refresh.Loader` of one Workspace: its source and credentials, via the service.

    `on_load` runs before an actual stage (not for a cheap "unchanged" probe): the loop
    uses it to mark the Workspace `refreshing` only when real work starts.
    """

    def __init__(
        self,
        service: LoadService,
        source: str,
        credentials: Credentials | None,
        *,
        immutable: bool,
        on_load: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.service = service
        self.source = source
        self.credentials = credentials
        self._immutable = immutable
        self.on_load = on_load
        # The scheduled instant (epoch seconds) of the periodic attempt now running, if any.
        self.round_at: float | None = None
        self._token: str | None = None

    @property
    def immutable(self) -> bool:
        return self._immutable

    async def probe(self) -> str | None:
        self._token = await self.service.probe(
            self.source, self.credentials, round_at=self.round_at
        )
        return self._token

    async def load(self) -> LoadedModel:
        if self.on_load is not None:
            await self.on_load()
        return await self.service.load(
            self.source, self.credentials, self._token, round_at=self.round_at
        )
