"""In-memory fakes for refresh tests: a controllable clock, sleeper, loader and workspace.

Used by the SDK's unit tests (and available to the controller's) so backoff, staleness and
the refresh loop are exercised without real time, git or an engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from rototo_operator.errors import ResolutionError, WorkspaceLoadError
from rototo_operator.sdk.workspace import VariableResolution

START = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime.datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class ManualSleeper:
    """A sleeper whose sleeps end when the test says so; each records its delay.

    `await wake()` ends the oldest pending sleep (advancing the clock by its delay, when a
    clock is attached) and lets the woken task run until it blocks again.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self._pending: list[tuple[float, asyncio.Future[None]]] = []
        self._sleeping = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.delays.append(delay)
        self._pending.append((delay, future))
        self._sleeping.set()
        await future

    @property
    def pending(self) -> int:
        return sum(1 for _, future in self._pending if not future.done())

    async def wait_sleeping(self, limit: float = 5.0) -> float:
        """Wait until some task sleeps; returns the delay it asked for."""
        async with asyncio.timeout(limit):
            while not any(not future.done() for _, future in self._pending):
                self._sleeping.clear()
                await self._sleeping.wait()
        return next(delay for delay, future in self._pending if not future.done())

    async def wake(self) -> None:
        """End the oldest pending sleep and let the sleeper run until it blocks again."""
        delay = await self.wait_sleeping()
        index = next(i for i, (_, future) in enumerate(self._pending) if not future.done())
        _, future = self._pending.pop(index)
        if self.clock is not None:
            self.clock.advance(delay)
        future.set_result(None)
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (several loop iterations; threads are not involved)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclasses.dataclass(frozen=True)
class FakeCompiled:
    digest: str


class FakeWorkspace:
    """A loaded workspace whose variables are a plain mapping."""

    def __init__(
        self, fingerprint: str | None, values: Mapping[str, Any], digest: str | None = None
    ) -> None:
        self.fingerprint = fingerprint
        self.values = dict(values)
        self.compiled = None if digest is None else FakeCompiled(digest)
        self.root = f"/staged/{fingerprint}"

    async def resolve_variable(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> VariableResolution:
        if id not in self.values:
            raise ResolutionError(f"unknown variable {id!r}")
        # A fresh copy per call, like a real resolution: callers may keep and mutate it.
        return VariableResolution(id=id, value=_copy(self.values[id]), source={"kind": "default"})

    async def resolve_qualifier(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> bool:
        return bool(context.get(id))

    async def lint(self) -> dict[str, Any]:
        return {"diagnostics": []}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class FakeLoader:
    """A source whose content, probe answer and failures the test sets directly."""

    def __init__(
        self,
        fingerprint: str = "git:" + "1" * 40,
        values: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
        probe_supported: bool = True,
    ) -> None:
        self.fingerprint = fingerprint
        self.values: dict[str, Any] = dict(values or {"limit": 1})
        self.digest: str | None = None
        self.immutable = immutable
        self.probe_supported = probe_supported
        self.error: BaseException | None = None
        self.probes = 0
        self.loads = 0
        self.active_loads = 0
        self.max_active_loads = 0
        self.gate: asyncio.Event | None = None
        self.on_load: Callable[[], None] | None = None

    def publish(self, fingerprint: str, values: Mapping[str, Any]) -> None:
        """A new commit lands in the source."""
        self.fingerprint = fingerprint
        self.values = dict(values)

    async def probe(self) -> str | None:
        self.probes += 1
        return self.fingerprint if self.probe_supported else None

    async def load(self) -> FakeWorkspace:
        self.loads += 1
        self.active_loads += 1
        self.max_active_loads = max(self.max_active_loads, self.active_loads)
        try:
            if self.on_load is not None:
                self.on_load()
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            if self.error is not None:
                raise self.error
            return FakeWorkspace(self.fingerprint, self.values, self.digest)
        finally:
            self.active_loads -= 1

    def break_source(self, message: str = "variables/x.toml:3: error rototo/lint broken") -> None:
        self.error = WorkspaceLoadError(message)

    def fix_source(self) -> None:
        self.error = None
