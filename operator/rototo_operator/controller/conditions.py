"""Condition types, reasons and the declared tables that compute them.

Three conditions, in the standard metav1.Condition shape:

| type       | polarity          | True means                                              |
|------------|-------------------|---------------------------------------------------------|
| Ready      | normal-true       | the last attempt succeeded and a version is published   |
| Stale      | abnormal-true     | the last success is older than maxStalenessSeconds      |
| Refreshing | neutral/transient | an attempt is fetching or compiling right now           |

Each condition is computed at the end of an attempt from `Facts` by walking a table of
rows, first match wins, as Flux's summarise step does; no reconcile step sets a condition
itself. `lastTransitionTime` moves only when the status value changes.

Limits: pure functions; the caller supplies the clock and the previous conditions.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Callable, Sequence

from rototo_operator.api import models

READY = "Ready"
STALE = "Stale"
REFRESHING = "Refreshing"
CONDITION_TYPES = (READY, STALE, REFRESHING)


class Reason(enum.StrEnum):
    """Every reason the operator writes, documented in docs/api.md."""

    # Ready=True
    PUBLISHED = "Published"  # the latest version is published
    PINNED = "Pinned"  # an immutable source is published; it is never polled
    SUSPENDED = "Suspended"  # refresh is suspended; the published version stays
    # Ready=Unknown
    PROGRESSING = "Progressing"  # no attempt has finished yet
    # Ready=False: the failure kinds an attempt can end with
    SOURCE_REFUSED = "SourceRefused"  # a local source without --allow-local-sources
    CREDENTIALS_UNAVAILABLE = "CredentialsUnavailable"  # secretRef missing or unreadable
    FETCH_FAILED = "FetchFailed"  # staging the source failed (network, auth, limits)
    LINT_FAILED = "LintFailed"  # the workspace has lint errors or does not compile
    OUTPUT_TOO_LARGE = "OutputTooLarge"  # over the ConfigMap size limit after gzip
    PUBLISH_FAILED = "PublishFailed"  # the ConfigMap could not be written
    INTERNAL_ERROR = "InternalError"  # an unexpected error (a bug): see the operator log
    # Stale
    MAX_STALENESS_EXCEEDED = "MaxStalenessExceeded"
    FRESH = "Fresh"
    NOT_LOADED = "NotLoaded"
    IMMUTABLE = "Immutable"
    # Refreshing
    REFRESHING = "Refreshing"
    IDLE = "Idle"


FAILURE_REASONS = frozenset(
    {
        Reason.SOURCE_REFUSED,
        Reason.CREDENTIALS_UNAVAILABLE,
        Reason.FETCH_FAILED,
        Reason.LINT_FAILED,
        Reason.OUTPUT_TOO_LARGE,
        Reason.PUBLISH_FAILED,
        Reason.INTERNAL_ERROR,
    }
)


@dataclasses.dataclass(frozen=True)
class Facts:
    """What the conditions are computed from; gathered once at the end of an attempt."""

    published_fingerprint: str | None
    attempted: bool
    failure: Reason | None
    failure_message: str | None
    suspended: bool
    immutable: bool
    stale: bool
    refreshing: bool
    max_staleness_seconds: int
    next_attempt_in: float | None = None


Status = models.ConditionStatus
# (predicate, status, reason or how to pick it, message)
Row = tuple[
    Callable[[Facts], bool], Status, Reason | Callable[[Facts], Reason], Callable[[Facts], str]
]


def short(fingerprint: str | None) -> str:
    """The short form shown in tables: the hash's first 8 characters, scheme dropped."""
    if not fingerprint:
        return ""
    return fingerprint.rsplit(":", 1)[-1][:8]


def format_duration(seconds: float) -> str:
    """Go-style durations as Kubernetes users read them: 5s, 5m0s, 1h2m3s."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def serving(facts: Facts) -> str:
    if facts.published_fingerprint is None:
        return "nothing is published yet"
    return f"still serving {short(facts.published_fingerprint)}, the last known good version"


def _failure_message(facts: Facts) -> str:
    text = f"{facts.failure_message or facts.failure}; {serving(facts)}"
    if facts.next_attempt_in is not None:
        text += f"; next attempt in {format_duration(facts.next_attempt_in)}"
    return text


READY_TABLE: tuple[Row, ...] = (
    (
        lambda f: f.failure is not None,
        Status.FALSE,
        lambda f: f.failure or Reason.INTERNAL_ERROR,
        _failure_message,
    ),
    (
        lambda f: f.published_fingerprint is None,
        Status.UNKNOWN,
        Reason.PROGRESSING,
        lambda f: (
            "refresh is suspended before a first load"
            if f.suspended
            else "waiting for the first load"
        ),
    ),
    (
        lambda f: f.suspended,
        Status.TRUE,
        Reason.SUSPENDED,
        lambda f: f"serving {short(f.published_fingerprint)}; refresh is suspended",
    ),
    (
        lambda f: f.immutable,
        Status.TRUE,
        Reason.PINNED,
        lambda f: f"serving {short(f.published_fingerprint)}, pinned to an immutable commit",
    ),
    (
        lambda f: True,
        Status.TRUE,
        Reason.PUBLISHED,
        lambda f: f"serving {short(f.published_fingerprint)}, the latest version of the source",
    ),
)

STALE_TABLE: tuple[Row, ...] = (
    (
        lambda f: f.stale,
        Status.TRUE,
        Reason.MAX_STALENESS_EXCEEDED,
        lambda f: f"no successful refresh in the last {f.max_staleness_seconds}s",
    ),
    (
        lambda f: f.published_fingerprint is None,
        Status.FALSE,
        Reason.NOT_LOADED,
        lambda f: "nothing is published yet (see Ready)",
    ),
    (
        lambda f: f.immutable,
        Status.FALSE,
        Reason.IMMUTABLE,
        lambda f: "an immutable source cannot fall behind",
    ),
    (
        lambda f: True,
        Status.FALSE,
        Reason.FRESH,
        lambda f: f"refreshed within the last {f.max_staleness_seconds}s",
    ),
)

REFRESHING_TABLE: tuple[Row, ...] = (
    (lambda f: f.refreshing, Status.TRUE, Reason.REFRESHING, lambda f: "fetching and compiling"),
    (lambda f: True, Status.FALSE, Reason.IDLE, lambda f: "no attempt is running"),
)

TABLES: dict[str, tuple[Row, ...]] = {
    READY: READY_TABLE,
    STALE: STALE_TABLE,
    REFRESHING: REFRESHING_TABLE,
}


def evaluate(table: Sequence[Row], facts: Facts) -> tuple[Status, Reason, str]:
    """The first row whose predicate holds."""
    for predicate, status, reason, message in table:
        if predicate(facts):
            picked = reason if isinstance(reason, Reason) else reason(facts)
            return status, picked, message(facts)
    raise AssertionError("condition tables end with a catch-all row")


def compute_conditions(
    facts: Facts,
    previous: Sequence[models.Condition],
    *,
    now: datetime.datetime,
    generation: int | None,
) -> list[models.Condition]:
    """Ready, Stale and Refreshing from the tables; transition times kept when unchanged."""
    by_type = {c.type: c for c in previous}
    out: list[models.Condition] = []
    for kind, table in TABLES.items():
        status, reason, message = evaluate(table, facts)
        before = by_type.get(kind)
        moved = before is None or before.status != status
        out.append(
            models.Condition(
                type=kind,
                status=status,
                reason=reason.value,
                message=message,
                last_transition_time=now
                if moved or before is None
                else before.last_transition_time,
                observed_generation=generation,
            )
        )
    return out


def find(conditions: Sequence[models.Condition], kind: str) -> models.Condition | None:
    return next((c for c in conditions if c.type == kind), None)
