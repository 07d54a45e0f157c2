"""One refresh loop per Workspace, and the registry that starts and stops them.

A `WorkspaceLoop` is an asyncio task that sleeps until something is due, then runs one
attempt (`reconcile.attempt`) or a status re-evaluation (`reconcile.summarise`):

| trigger | when                                                        | suspended? |
|---------|-------------------------------------------------------------|------------|
| start   | the loop starts (operator start, new Workspace)             | status only |
| spec    | metadata.generation differs from the one last handled       | status only |
| manual  | a new rototo.dev/refresh-requested-at annotation value      | ignored    |
| output  | the published ConfigMap changed or was deleted              | ignored    |
| period  | nextRefreshAt reached (period, or failure backoff)          | ignored    |
| stale   | the last success is about to exceed maxStalenessSeconds     | status only |

Watch events only update the loop's view of the object and set flags; the loop itself
does all the work, so at most one attempt per Workspace runs at a time.

`Registry.stop(grace)` stops every loop: idle loops end at once, a loop in an attempt
gets `grace` seconds to finish it, then is cancelled (nothing is half-published: each
ConfigMap write is one API call).

Limits: the loops live in one process; high availability (one active replica) is the
leader election's job (`leadership.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pydantic

from rototo_operator.api import models
from rototo_operator.controller import publishing, reconcile

log = logging.getLogger(__name__)

Key = tuple[str, str]


class WorkspaceLoop:
    """The refresh loop of one Workspace; see the module docstring."""

    def __init__(self, workspace: models.Workspace, runtime: reconcile.Runtime) -> None:
        self.workspace = workspace
        self.runtime = runtime
        self.memory = reconcile.Memory.from_status(workspace.status)
        self._pending: set[reconcile.Trigger] = {"start"}
        self._wake = asyncio.Event()
        self._stopping = False
        self.busy = False
        self.task: asyncio.Task[None] | None = None
        self._stale_refreshing = workspace.status.refreshing

    @property
    def key(self) -> Key:
        return (self.workspace.metadata.namespace, self.workspace.metadata.name)

    def start(self) -> None:
        name = f"workspace-loop:{self.key[0]}/{self.key[1]}"
        self.task = asyncio.get_running_loop().create_task(self._run(), name=name)

    def observe(self, workspace: models.Workspace) -> None:
        """A new version of the object arrived from the watch."""
        self.workspace = workspace
        if workspace.metadata.generation != self.memory.observed_generation:
            self._pending.add("spec")
        request = workspace.refresh_request
        if request is not None and request != self.memory.last_handled_request:
            self._pending.add("manual")
        self._wake.set()

    def holds_published(self, body: Any) -> bool:
        """Whether a ConfigMap body holds exactly what this loop published."""
        published = self.memory.published
        if published is None or published.content_sha256 is None:
            return False
        meta = body.get("metadata") or {}
        owned = any(
            ref.get("uid") == self.workspace.metadata.uid and ref.get("controller")
            for ref in meta.get("ownerReferences") or []
        )
        annotations = meta.get("annotations") or {}
        return (
            owned
            and annotations.get(models.DIGEST_ANNOTATION) == published.digest
            and publishing.stored_digest(body) == published.content_sha256
        )

    def output_changed(self) -> None:
        """The published ConfigMap was modified or deleted (by anyone, us included)."""
        self._pending.add("output")
        self._wake.set()

    async def stop(self, grace: float) -> None:
        self._stopping = True
        self._wake.set()
        task = self.task
        if task is None or task.done():
            return
        if not self.busy:
            task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            task.cancel()
        except asyncio.CancelledError:
            if not task.done():
                task.cancel()
                raise
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    def _settle(self) -> None:
        """Drop triggers that the attempt just finished has answered.

        Watch events that arrive during an attempt (our own status writes among them) are
        compared with the memory as it was before the attempt; once it finished they may
        already be handled.
        """
        if self.workspace.metadata.generation == self.memory.observed_generation:
            self._pending.discard("spec")
        request = self.workspace.refresh_request
        if request is None or request == self.memory.last_handled_request:
            self._pending.discard("manual")

    def _due(self) -> reconcile.Trigger | None:
        suspended = self.workspace.spec.suspend
        for trigger in ("start", "spec"):
            if trigger in self._pending:
                return trigger
        if not suspended:
            for trigger in ("manual", "output"):
                if trigger in self._pending:
                    return trigger
        now = self.runtime.clock()
        due_at = self.memory.next_attempt_at
        if not suspended and due_at is not None and due_at <= now:
            return "period"
        stale_at = reconcile.stale_deadline(self.workspace, self.memory)
        if stale_at is not None and stale_at <= now:
            return "stale"
        return None

    def _sleep_seconds(self) -> float | None:
        now = self.runtime.clock()
        deadlines = [reconcile.stale_deadline(self.workspace, self.memory)]
        if not self.workspace.spec.suspend:
            deadlines.append(self.memory.next_attempt_at)
        known = [d for d in deadlines if d is not None]
        if not known:
            return None
        return max(0.0, (min(known) - now).total_seconds())

    async def _run(self) -> None:
        try:
            if self._stale_refreshing:
                # A previous process died mid-attempt: its mark must not linger.
                await reconcile.summarise(self.workspace, self.memory, self.runtime)
            while not self._stopping:
                self._wake.clear()
                trigger = self._due()
                if trigger is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._sleep_seconds())
                    continue
                if trigger in ("start", "spec"):
                    self._pending.discard("start")
                    self._pending.discard("spec")
                    # Whatever else was pending is answered by this attempt too.
                    self._pending.discard("manual")
                    self._pending.discard("output")
                else:
                    self._pending.discard(trigger)
                self.busy = True
                try:
                    if trigger == "stale":
                        await reconcile.summarise(self.workspace, self.memory, self.runtime)
                    else:
                        log.debug("%s/%s: attempt (%s)", *self.key, trigger)
                        await reconcile.attempt(self.workspace, trigger, self.memory, self.runtime)
                finally:
                    self.busy = False
                self._settle()
        except asyncio.CancelledError:
            log.debug("%s/%s: loop cancelled", *self.key)
            raise
        except Exception:
            log.exception("%s/%s: refresh loop crashed", *self.key)
            raise


class Registry:
    """All Workspace loops of this process, keyed by (namespace, name)."""

    def __init__(self, runtime: reconcile.Runtime) -> None:
        self.runtime = runtime
        self.loops: dict[Key, WorkspaceLoop] = {}
        self._uids: dict[Key, str] = {}
        # Loops being stopped after a deletion; referenced so they are not garbage-collected.
        self._stopping_loops: set[asyncio.Task[None]] = set()
        self.stopping = False

    def workspace_event(self, event_type: str | None, body: Any) -> None:
        """A watch event for a Workspace (type None is kopf's initial listing)."""
        if self.stopping:
            return
        meta = body.get("metadata", {})
        key: Key = (meta.get("namespace", "default"), meta.get("name", ""))
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self.remove(key)
            return
        try:
            workspace = models.Workspace.from_body(body)
        except pydantic.ValidationError as error:
            # The API server validated it; this only happens with a newer, unknown schema.
            log.error("%s/%s: cannot parse the Workspace: %s", *key, error)
            return
        loop = self.loops.get(key)
        if loop is not None and self._uids.get(key) != workspace.metadata.uid:
            # Deleted and re-created between two events: a new object, a new loop.
            self.remove(key)
            loop = None
        if loop is None:
            loop = WorkspaceLoop(workspace, self.runtime)
            self.loops[key] = loop
            self._uids[key] = workspace.metadata.uid
            loop.start()
        else:
            loop.observe(workspace)

    def configmap_event(self, event_type: str | None, body: Any) -> None:
        meta = body.get("metadata", {})
        owner = (meta.get("labels") or {}).get(models.WORKSPACE_LABEL)
        if owner is None:
            return
        loop = self.loops.get((meta.get("namespace", "default"), owner))
        if loop is None or loop.workspace.config_map_name != meta.get("name"):
            return
        if event_type != "DELETED" and loop.holds_published(body):
            return  # our own write coming back through the watch
        loop.output_changed()

    def remove(self, key: Key) -> None:
        loop = self.loops.pop(key, None)
        self._uids.pop(key, None)
        if loop is not None:
            # Deletion: the ConfigMap goes with the Workspace (ownerReference); stop at once.
            task = asyncio.get_running_loop().create_task(loop.stop(grace=0))
            self._stopping_loops.add(task)
            task.add_done_callback(self._stopping_loops.discard)
        self.runtime.metrics.forget(*key)

    async def stop(self, grace: float) -> None:
        self.stopping = True
        loops = list(self.loops.values())
        self.loops.clear()
        await asyncio.gather(
            *(loop.stop(grace) for loop in loops), *self._stopping_loops, return_exceptions=True
        )
