"""One refresh attempt of one Workspace, as named steps with one exit path.

    attempt(trigger)
      ├─ reconcile_suspend      stop early when spec.suspend
      ├─ reconcile_credentials  spec.secretRef -> sources.Credentials (same namespace only)
      ├─ reconcile_source       parse, refuse local sources, (re)build the Refresher
      ├─ reconcile_refresh      Refresher.refresh(before_commit=publish): probe, load, publish
      └─ reconcile_output       verify the ConfigMap still holds the served model; restore it
    finish(...)                 the one exit: memory, conditions, status patch, events, metrics

Every step has the signature `async def step(attempt) -> bool` (False stops the run as a
success) and fails by raising `StepFailure(reason, message)`. Conditions are not set by
steps: `finish` computes them from the declared tables in `conditions.py`.

Status writes: an attempt writes status once at its end. An attempt that has to stage the
source (not a cheap "unchanged" probe) first writes a `refreshing: true` mark, so at most
two writes per attempt; every final write sets `refreshing: false`, and a loop starting up
clears a mark a crashed process left behind.

Schedule: the first attempt after start or a spec change and manual requests run at once;
after a success a mutable Workspace's next periodic attempt is the next instant of its
repository's schedule (`sdk.backoff.aligned_instant`, phased by a hash of the repository
URL and credentials), so Workspaces on one repository with one period wake together and
their attempts share one probe (`loading.LoadService.probe(round_at=...)`); after failures
the backoff applies unaligned. `status.nextRefreshAt` is that instant.

Limits: one attempt per Workspace at a time (its loop is sequential); the in-memory state of
a loop (`Memory`) is seeded from the status on start, so failure counts and the last success
survive an operator restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from rototo_operator.api import models
from rototo_operator.controller import conditions, kube, loading, metrics, publishing
from rototo_operator.controller.conditions import Reason
from rototo_operator.errors import RototoError, SourceError, WorkspaceLoadError
from rototo_operator.sdk import backoff
from rototo_operator.sdk import refresher as refresh_core
from rototo_operator.sdk import status as refresh_status
from rototo_operator.sources.credentials import Credentials
from rototo_operator.sources.spec import parse_source

log = logging.getLogger(__name__)

Trigger = Literal["start", "spec", "manual", "period", "output", "stale"]
MAX_ERROR_CHARS = 4096
MAX_HEADLINES = 3


class StepFailure(RototoError):
    """A step failed; `reason` is the Ready condition reason it maps to."""

    def __init__(self, reason: Reason, message: str, headlines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.headlines = tuple(headlines)


@dataclasses.dataclass
class Runtime:
    """What every loop shares: the API, the load service, metrics, clocks."""

    cluster: kube.Cluster
    loads: loading.LoadService
    metrics: metrics.Metrics
    clock: Callable[[], datetime.datetime] = refresh_status.utc_now
    monotonic: Callable[[], float] = time.monotonic


@dataclasses.dataclass
class Published:
    fingerprint: str
    digest: str | None
    config_map_name: str | None
    content_sha256: str | None
    bytes: int | None
    compressed: bool | None


@dataclasses.dataclass
class Memory:
    """What a Workspace loop remembers between attempts; seeded from status on start."""

    refresher: refresh_core.Refresher[loading.LoadedModel] | None = None
    loader: loading.WorkspaceLoader | None = None
    refresher_key: tuple[Any, ...] | None = None
    immutable: bool = False
    published: Published | None = None
    last_success: datetime.datetime | None = None
    last_attempt: datetime.datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    failure: Reason | None = None
    last_outcome: models.Outcome | None = None
    last_handled_request: str | None = None
    next_attempt_at: datetime.datetime | None = None
    # Whether next_attempt_at is an instant of the repository's schedule (not a backoff).
    next_attempt_aligned: bool = False
    observed_generation: int | None = None
    stale: bool = False
    conditions: list[models.Condition] = dataclasses.field(default_factory=list)
    # The last status this loop wrote: an identical status is not written again.
    last_written: dict[str, Any] | None = None

    @classmethod
    def from_status(cls, status: models.WorkspaceStatus) -> Memory:
        published = None
        if status.current_fingerprint:
            out = status.output or models.OutputStatus()
            published = Published(
                fingerprint=status.current_fingerprint,
                digest=out.compiled_digest,
                config_map_name=out.config_map_name,
                content_sha256=None,
                bytes=out.bytes,
                compressed=out.compressed,
            )
        return cls(
            immutable=status.immutable,
            published=published,
            last_success=status.last_success,
            last_attempt=status.last_attempt,
            consecutive_failures=status.consecutive_failures,
            last_error=status.last_error,
            last_outcome=status.last_refresh_outcome,
            last_handled_request=status.last_handled_refresh_request,
            stale=status.stale,
            conditions=list(status.conditions),
        )


@dataclasses.dataclass
class Attempt:
    """The working state of one attempt; steps read and fill it."""

    workspace: models.Workspace
    trigger: Trigger
    memory: Memory
    runtime: Runtime
    started: float = 0.0
    request: str | None = None
    credentials: Credentials | None = None
    outcome: models.Outcome | None = None
    published_now: loading.LoadedModel | None = None
    payload: publishing.Payload | None = None
    write: publishing.Decision = "keep"
    write_reason: str = ""
    failure: StepFailure | None = None
    marked_refreshing: bool = False
    # The scheduled instant (epoch seconds) a periodic attempt answers; shares its probe.
    round_at: float | None = None

    @property
    def ref(self) -> str:
        return f"{self.workspace.metadata.namespace}/{self.workspace.metadata.name}"


Step = Callable[[Attempt], Awaitable[bool]]


# -- steps ----------------------------------------------------------------------------------


async def reconcile_suspend(attempt: Attempt) -> bool:
    return not attempt.workspace.spec.suspend


async def reconcile_credentials(attempt: Attempt) -> bool:
    ref = attempt.workspace.spec.secret_ref
    if ref is None:
        attempt.credentials = None
        return True
    namespace = attempt.workspace.metadata.namespace
    try:
        data = await attempt.runtime.cluster.get_secret_data(namespace, ref.name)
    except kube.KubeError as error:
        raise StepFailure(
            Reason.CREDENTIALS_UNAVAILABLE,
            f"cannot read Secret {namespace}/{ref.name} (spec.secretRef): {error}",
        ) from None
    if data is None:
        raise StepFailure(
            Reason.CREDENTIALS_UNAVAILABLE,
            f"Secret {namespace}/{ref.name} (spec.secretRef) does not exist in the "
            "Workspace's namespace",
        )
    attempt.credentials = credentials_from_secret(data)
    return True


def credentials_from_secret(data: dict[str, str]) -> Credentials | None:
    """Secret keys to source credentials; None when the Secret holds none of the keys."""
    credentials = Credentials.from_secret_data(data)
    if all(getattr(credentials, f.name) is None for f in dataclasses.fields(credentials)):
        return None
    return credentials


async def reconcile_source(attempt: Attempt) -> bool:
    spec = attempt.workspace.spec
    loads = attempt.runtime.loads
    try:
        immutable = loads.check_allowed(spec.source)
    except loading.LocalSourceRefused as error:
        raise StepFailure(Reason.SOURCE_REFUSED, str(error)) from None
    except SourceError as error:
        raise StepFailure(Reason.FETCH_FAILED, f"invalid spec.source: {error}") from None
    key = (spec.source, loading.credentials_key(attempt.credentials))
    memory = attempt.memory
    if memory.refresher is None or memory.loader is None or memory.refresher_key != key:
        # A new source or new credentials: a new refresh core. What is published stays
        # published until the new source has loaded and linted cleanly.
        memory.loader = loading.WorkspaceLoader(
            loads, spec.source, attempt.credentials, immutable=immutable
        )
        memory.refresher = refresh_core.Refresher(memory.loader, clock=attempt.runtime.clock)
        memory.refresher_key = key
    memory.loader.on_load = lambda: mark_refreshing(attempt)
    memory.loader.round_at = attempt.round_at
    memory.immutable = immutable
    return True


async def reconcile_refresh(attempt: Attempt) -> bool:
    refresher = attempt.memory.refresher
    assert refresher is not None, "reconcile_source runs first"
    try:
        outcome = await refresher.refresh(
            before_commit=lambda loaded: publish(attempt, loaded, new_version=True)
        )
    except StepFailure:
        raise
    except WorkspaceLoadError as error:
        headlines = diagnostic_headlines(error)
        message = "; ".join(headlines) if headlines else str(error)
        raise StepFailure(Reason.LINT_FAILED, message, headlines) from None
    except SourceError as error:
        raise StepFailure(Reason.FETCH_FAILED, str(error)) from None
    except RototoError as error:
        log.exception("%s: unexpected refresh error", attempt.ref)
        raise StepFailure(Reason.INTERNAL_ERROR, str(error)) from None
    published = attempt.memory.published
    if outcome == "refreshed" and attempt.published_now is not None:
        same = published is not None and (
            published.fingerprint == attempt.published_now.fingerprint
            and published.digest == attempt.published_now.digest
        )
        # After an operator restart the first load finds what status already says is served.
        if same and attempt.write == "keep":
            outcome = "unchanged"
    if attempt.memory.immutable and outcome in ("refreshed", "unchanged"):
        outcome = "immutable"
    attempt.outcome = outcome
    return True


async def reconcile_output(attempt: Attempt) -> bool:
    if attempt.published_now is not None:
        return True
    refresher = attempt.memory.refresher
    current = None if refresher is None else refresher.current
    if current is None:
        return True
    await publish(attempt, current, new_version=False)
    return True


STEPS: tuple[Step, ...] = (
    reconcile_suspend,
    reconcile_credentials,
    reconcile_source,
    reconcile_refresh,
    reconcile_output,
)
# A changed or deleted ConfigMap only needs the served model put back: no fetch.
OUTPUT_STEPS: tuple[Step, ...] = (reconcile_suspend, reconcile_output)


def steps_for(trigger: Trigger) -> tuple[Step, ...]:
    return OUTPUT_STEPS if trigger == "output" else STEPS


# -- publishing -----------------------------------------------------------------------------


async def publish(attempt: Attempt, loaded: loading.LoadedModel, *, new_version: bool) -> None:
    """Make the ConfigMap hold `loaded`; writes only when its content or metadata differ.

    `new_version` is true when `loaded` is about to become the served version (the refresh
    core's before_commit), false when the served version is only verified or restored.
    """
    workspace = attempt.workspace
    namespace = workspace.metadata.namespace
    name = workspace.config_map_name
    cluster = attempt.runtime.cluster
    try:
        payload = publishing.encode_payload(loaded.model_bytes, digest=loaded.digest)
    except publishing.OutputTooLarge as error:
        raise StepFailure(Reason.OUTPUT_TOO_LARGE, str(error)) from None
    desired = publishing.render_configmap(
        workspace, payload, fingerprint=loaded.fingerprint, source=redacted(loaded.source)
    )
    try:
        existing = await cluster.get_configmap(namespace, name)
        owner = publishing.foreign_controller(existing, workspace.metadata.uid)
        if owner is not None:
            raise StepFailure(
                Reason.PUBLISH_FAILED,
                f"ConfigMap {namespace}/{name} is controlled by {owner}; choose another "
                "spec.output.configMapName",
            )
        decision, why = publishing.decide(
            existing,
            desired,
            owner_uid=workspace.metadata.uid,
            content_sha256=payload.content_sha256,
        )
        if decision == "create":
            await cluster.create_configmap(namespace, desired)
        elif decision == "replace":
            assert existing is not None
            body = publishing.merged_for_replace(existing, desired)
            await cluster.replace_configmap(namespace, name, body)
    except kube.KubeError as error:
        raise StepFailure(
            Reason.PUBLISH_FAILED, f"cannot write ConfigMap {namespace}/{name}: {error}"
        ) from None
    attempt.payload = payload
    attempt.write = decision
    attempt.write_reason = why
    if new_version:
        attempt.published_now = loaded
    if decision != "keep":
        log.info("%s: %s ConfigMap %s (%s)", attempt.ref, decision, name, why)


def redacted(source: str) -> str:
    try:
        return str(parse_source(source).redacted())
    except SourceError:
        return "<invalid source>"


def diagnostic_headlines(error: WorkspaceLoadError) -> list[str]:
    diagnostics = list(getattr(error, "diagnostics", None) or [])
    errors = [d for d in diagnostics if getattr(d, "is_error", True)] or diagnostics
    lines = [str(d.headline()) for d in errors[:MAX_HEADLINES]]
    if len(errors) > MAX_HEADLINES:
        lines.append(f"(+{len(errors) - MAX_HEADLINES} more)")
    return lines


# -- the attempt and its one exit path -------------------------------------------------------


async def mark_refreshing(attempt: Attempt) -> None:
    """The first of at most two status writes: staging starts."""
    if attempt.marked_refreshing:
        return
    attempt.marked_refreshing = True
    memory = attempt.memory
    now = attempt.runtime.clock()
    facts = _facts(attempt, refreshing=True, now=now)
    conds = conditions.compute_conditions(
        facts, memory.conditions, now=now, generation=attempt.workspace.metadata.generation
    )
    memory.conditions = conds
    memory.last_written = None
    await _write_status(
        attempt,
        {"refreshing": True, "lastAttempt": _ts(now), "conditions": _conditions_json(conds)},
    )


async def attempt(
    workspace: models.Workspace, trigger: Trigger, memory: Memory, rt: Runtime
) -> None:
    """Run the steps for `trigger`, then `finish`. Never raises except on cancellation."""
    current = Attempt(
        workspace=workspace,
        trigger=trigger,
        memory=memory,
        runtime=rt,
        started=rt.monotonic(),
        request=workspace.refresh_request,
    )
    memory.last_attempt = rt.clock()
    current.round_at = scheduled_round(trigger, memory, memory.last_attempt)
    try:
        for step in steps_for(trigger):
            if not await step(current):
                break
    except StepFailure as failure:
        current.failure = failure
        current.outcome = "failed"
    except asyncio.CancelledError:
        # Shutdown mid-attempt: nothing half-published (each write is one API call); make sure
        # the refreshing mark does not outlive us.
        if current.marked_refreshing:
            await asyncio.shield(_clear_refreshing(current))
        raise
    except Exception as error:  # a bug: report it as a failed attempt rather than kill the loop
        log.exception("%s: attempt failed unexpectedly", current.ref)
        current.failure = StepFailure(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
        current.outcome = "failed"
    await finish(current)


async def summarise(workspace: models.Workspace, memory: Memory, rt: Runtime) -> None:
    """Re-evaluate status without refreshing (staleness timer, startup, suspend)."""
    await finish(Attempt(workspace=workspace, trigger="stale", memory=memory, runtime=rt))


def _facts(attempt: Attempt, *, refreshing: bool, now: datetime.datetime) -> conditions.Facts:
    memory = attempt.memory
    spec = attempt.workspace.spec
    next_in = None
    if memory.next_attempt_at is not None:
        next_in = max(0.0, (memory.next_attempt_at - now).total_seconds())
    return conditions.Facts(
        published_fingerprint=None if memory.published is None else memory.published.fingerprint,
        attempted=memory.last_outcome is not None,
        failure=memory.failure,
        failure_message=memory.last_error,
        suspended=spec.suspend,
        immutable=memory.immutable,
        stale=memory.stale,
        refreshing=refreshing,
        max_staleness_seconds=spec.max_staleness_seconds,
        next_attempt_in=next_in,
    )


def scheduled_round(trigger: Trigger, memory: Memory, now: datetime.datetime) -> float | None:
    """The schedule instant a periodic attempt answers (None for any other attempt).

    Only an instant that has arrived counts: its round's probe then started after it.
    """
    due = memory.next_attempt_at
    if trigger != "period" or not memory.next_attempt_aligned or due is None or due > now:
        return None
    return due.timestamp()


def schedule_identity(workspace: models.Workspace, memory: Memory) -> str:
    """What the schedule phase hashes: the repository (no ref or subdir) and credentials.

    Credentials take part because the load service keys probes by them: Workspaces that
    cannot share a probe gain nothing from waking together.
    """
    try:
        repository = parse_source(workspace.spec.source).location
    except SourceError:
        repository = workspace.spec.source.split("#", 1)[0]
    credentials = "" if memory.refresher_key is None else str(memory.refresher_key[1])
    return f"{repository}\0{credentials}"


def next_attempt(
    workspace: models.Workspace, memory: Memory, now: datetime.datetime
) -> tuple[datetime.datetime | None, bool]:
    """When the next periodic attempt is due (None for none), and whether it is aligned.

    A healthy mutable Workspace waits for its repository's next schedule instant, at most
    one period away; after failures the backoff applies from `now`, unaligned.
    """
    spec = workspace.spec
    if spec.suspend:
        return None, False
    delay = backoff.next_refresh_delay(
        period_seconds=spec.period_seconds,
        consecutive_failures=memory.consecutive_failures,
        immutable=memory.immutable and memory.published is not None,
        failure_backoff=(
            spec.failure_backoff.initial_seconds,
            spec.failure_backoff.max_seconds,
        ),
    )
    if delay is None:
        return None, False
    if memory.consecutive_failures > 0:
        return now + datetime.timedelta(seconds=delay), False
    period = spec.period_seconds
    phase = backoff.schedule_phase(schedule_identity(workspace, memory), period)
    instant = backoff.aligned_instant(now.timestamp(), period, phase)
    return datetime.datetime.fromtimestamp(instant, datetime.UTC), True


def is_stale(workspace: models.Workspace, memory: Memory, now: datetime.datetime) -> bool:
    return refresh_status.is_stale(
        last_success=None if memory.last_success is None else memory.last_success.timestamp(),
        max_staleness=workspace.spec.max_staleness_seconds,
        now=now,
        immutable=memory.immutable,
    )


def stale_deadline(workspace: models.Workspace, memory: Memory) -> datetime.datetime | None:
    """When a fresh Workspace turns stale if nothing succeeds meanwhile (None: never)."""
    if memory.stale or memory.immutable or memory.last_success is None:
        return None
    seconds = workspace.spec.max_staleness_seconds
    return memory.last_success + datetime.timedelta(seconds=seconds, milliseconds=1)


async def finish(attempt: Attempt) -> None:
    """The one exit path: update memory, compute conditions, write status, events, metrics."""
    rt = attempt.runtime
    memory = attempt.memory
    workspace = attempt.workspace
    now = rt.clock()
    previous_fingerprint = None if memory.published is None else memory.published.fingerprint
    ran = attempt.outcome is not None
    if ran:
        memory.last_outcome = attempt.outcome
        memory.observed_generation = workspace.metadata.generation
        if attempt.request is not None and not workspace.spec.suspend:
            memory.last_handled_request = attempt.request
    elif attempt.trigger in ("start", "spec"):
        memory.observed_generation = workspace.metadata.generation
    if attempt.failure is not None:
        memory.consecutive_failures += 1
        memory.failure = attempt.failure.reason
        memory.last_error = attempt.failure.args[0][:MAX_ERROR_CHARS]
        log.warning(
            "%s: refresh failed (%s, %d in a row); %s: %s",
            attempt.ref,
            memory.failure.value,
            memory.consecutive_failures,
            conditions.serving(_facts(attempt, refreshing=False, now=now)),
            memory.last_error,
        )
    elif ran:
        memory.consecutive_failures = 0
        memory.failure = None
        memory.last_error = None
        memory.last_success = now
    if attempt.published_now is not None and attempt.payload is not None:
        memory.published = Published(
            fingerprint=attempt.published_now.fingerprint,
            digest=attempt.payload.digest,
            config_map_name=workspace.config_map_name,
            content_sha256=attempt.payload.content_sha256,
            bytes=attempt.payload.raw_bytes,
            compressed=attempt.payload.compressed,
        )
    if ran or attempt.trigger != "stale" or memory.next_attempt_at is None:
        memory.next_attempt_at, memory.next_attempt_aligned = next_attempt(workspace, memory, now)
    memory.stale = is_stale(workspace, memory, now)
    facts = _facts(attempt, refreshing=False, now=now)
    memory.conditions = conditions.compute_conditions(
        facts, memory.conditions, now=now, generation=workspace.metadata.generation
    )
    rendered = render_status(workspace, memory)
    if rendered != memory.last_written:
        memory.last_written = rendered if await _write_status(attempt, rendered) else None
    await _record_events(attempt, previous_fingerprint, facts)
    _record_metrics(attempt)


def render_status(workspace: models.Workspace, memory: Memory) -> dict[str, Any]:
    """The full status as a merge patch: None removes a field that no longer applies."""
    published = memory.published
    return {
        "currentFingerprint": None if published is None else published.fingerprint,
        "shortFingerprint": None if published is None else conditions.short(published.fingerprint),
        "lastSuccess": _ts(memory.last_success),
        "lastAttempt": _ts(memory.last_attempt),
        "consecutiveFailures": memory.consecutive_failures,
        "lastError": memory.last_error,
        "refreshing": False,
        "immutable": memory.immutable,
        "stale": memory.stale,
        "lastRefreshOutcome": memory.last_outcome,
        "lastHandledRefreshRequest": memory.last_handled_request,
        "nextRefreshAt": _ts(memory.next_attempt_at),
        "observedGeneration": memory.observed_generation,
        "output": None
        if published is None
        else {
            "configMapName": published.config_map_name,
            "compiledDigest": published.digest,
            "bytes": published.bytes,
            "compressed": published.compressed,
        },
        "conditions": _conditions_json(memory.conditions),
    }


async def _clear_refreshing(attempt: Attempt) -> None:
    """A cancelled attempt's last write: the mark and the Refreshing condition go back."""
    memory = attempt.memory
    now = attempt.runtime.clock()
    # The conditions in memory were computed for the mark (Refreshing=True).
    memory.conditions = conditions.compute_conditions(
        _facts(attempt, refreshing=False, now=now),
        memory.conditions,
        now=now,
        generation=attempt.workspace.metadata.generation,
    )
    try:
        await asyncio.wait_for(
            attempt.runtime.cluster.patch_workspace_status(
                attempt.workspace.metadata.namespace,
                attempt.workspace.metadata.name,
                render_status(attempt.workspace, attempt.memory),
            ),
            timeout=5,
        )
    except (kube.KubeError, TimeoutError, OSError) as error:
        log.warning("%s: could not clear the refreshing mark: %s", attempt.ref, error)


async def _write_status(attempt: Attempt, patch: dict[str, Any]) -> bool:
    meta = attempt.workspace.metadata
    try:
        await attempt.runtime.cluster.patch_workspace_status(meta.namespace, meta.name, patch)
    except kube.KubeError as error:
        if not error.not_found:  # not found: deleted meanwhile, its loop is being stopped
            log.warning("%s: status not written: %s", attempt.ref, error)
        return False
    except OSError as error:
        log.warning("%s: status not written: %s", attempt.ref, error)
        return False
    return True


async def _record_events(
    attempt: Attempt, previous_fingerprint: str | None, facts: conditions.Facts
) -> None:
    events: list[tuple[str, str, str]] = []
    published = attempt.memory.published
    destination = f"ConfigMap {attempt.workspace.metadata.namespace}/"
    destination += attempt.workspace.config_map_name
    if attempt.failure is not None:
        head = attempt.failure.headlines or (attempt.failure.args[0],)
        tail = conditions.serving(facts)
        if facts.next_attempt_in is not None:
            tail += f"; next attempt in {conditions.format_duration(facts.next_attempt_in)}"
        events.append(("Warning", "RefreshFailed", "\n".join(head) + f"\n({tail})"))
        return await _post(attempt, events)
    if attempt.write == "keep" or published is None:
        return None
    if attempt.published_now is not None and attempt.outcome != "unchanged":
        before = conditions.short(previous_fingerprint) or "nothing"
        events.append(
            (
                "Normal",
                "Published",
                f"published {conditions.short(published.fingerprint)} (was {before}) to "
                f"{destination}: {published.bytes} bytes, {published.digest}",
            )
        )
    else:
        events.append(
            (
                "Warning",
                "OutputRestored",
                f"restored {destination} to {conditions.short(published.fingerprint)}: "
                f"{attempt.write_reason}",
            )
        )
    return await _post(attempt, events)


async def _post(attempt: Attempt, events: list[tuple[str, str, str]]) -> None:
    for kind, reason, message in events:
        try:
            await attempt.runtime.cluster.record_event(attempt.workspace, kind, reason, message)
        except (kube.KubeError, OSError) as error:
            log.warning("%s: event %s not recorded: %s", attempt.ref, reason, error)


def _record_metrics(attempt: Attempt) -> None:
    memory = attempt.memory
    meta = attempt.workspace.metadata
    m = attempt.runtime.metrics
    if attempt.outcome is not None:
        m.observe_attempt(
            meta.namespace,
            meta.name,
            attempt.outcome,
            attempt.runtime.monotonic() - attempt.started,
        )
    m.set_state(
        meta.namespace,
        meta.name,
        fingerprint=None if memory.published is None else memory.published.fingerprint,
        consecutive_failures=memory.consecutive_failures,
        last_success=None if memory.last_success is None else memory.last_success.timestamp(),
        stale=memory.stale,
    )


def _ts(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions_json(conds: Sequence[models.Condition]) -> list[dict[str, Any]]:
    out = []
    for c in conds:
        item = c.model_dump(by_alias=True, mode="json", exclude_none=True)
        item["lastTransitionTime"] = _ts(c.last_transition_time)
        out.append(item)
    return out
