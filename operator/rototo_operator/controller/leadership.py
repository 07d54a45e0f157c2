"""Leader election with a coordination.k8s.io/v1 Lease: one active replica, others standby.

The active replica renews the Lease every `renew_seconds`. A standby takes over only after
it has watched the same Lease record (holder and renewTime) stay unchanged for
`lease_seconds` of its *own* monotonic clock, so clock skew between nodes cannot make two
replicas active; this is client-go's rule. The active replica gives up (and the process
exits, to restart as a standby) when it could not renew for `renew_deadline` seconds,
which is shorter than `lease_seconds`, so it stops before anyone may take over. On a clean
shutdown it releases the Lease (empty holder) so a standby takes over at once.

Limits: takeover after a crash costs up to `lease_seconds` plus one retry period. The
decision is the pure function `decide`; the I/O is in `LeaderElector`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

log = logging.getLogger(__name__)

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclasses.dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    renew_time: str | None
    lease_seconds: int
    transitions: int
    resource_version: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> LeaseRecord:
        spec = body.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or None,
            renew_time=spec.get("renewTime"),
            lease_seconds=int(spec.get("leaseDurationSeconds") or 15),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=(body.get("metadata") or {}).get("resourceVersion"),
        )


@dataclasses.dataclass
class Observation:
    """The Lease record last seen, and when (local monotonic seconds) it was first seen."""

    holder: str | None = None
    renew_time: str | None = None
    seen_at: float = 0.0


Decision = Literal["create", "renew", "take", "wait"]


def decide(
    record: LeaseRecord | None, observed: Observation, *, me: str, now: float
) -> tuple[Decision, Observation]:
    """What to do with the Lease as it is now; returns the updated observation."""
    if record is None:
        return "create", Observation(None, None, now)
    if record.holder == me:
        return "renew", Observation(record.holder, record.renew_time, now)
    if (record.holder, record.renew_time) != (observed.holder, observed.renew_time):
        observed = Observation(record.holder, record.renew_time, now)
    if record.holder is None:
        return "take", observed
    if now - observed.seen_at > record.lease_seconds:
        return "take", observed
    return "wait", observed


def _micro_now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime(MICRO_TIME)


class LeaderElector:
    """Acquires, holds and releases the Lease; see the module docstring."""

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = 15,
        renew_seconds: float = 5.0,
        renew_deadline: float = 10.0,
        retry_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        from kubernetes_asyncio import client

        self._api: Any = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.renew_deadline = min(renew_deadline, lease_seconds * 0.8)
        self.retry_seconds = retry_seconds
        self._monotonic = monotonic
        self._observed = Observation()
        self.is_leader = False

    async def _read(self) -> dict[str, Any] | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            lease = await self._api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        body: dict[str, Any] = self._api.api_client.sanitize_for_serialization(lease)
        return body

    def _spec(self, record: LeaseRecord | None, *, taking: bool) -> dict[str, Any]:
        now = _micro_now()
        transitions = 0 if record is None else record.transitions + (1 if taking else 0)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if taking or record is None:
            spec["acquireTime"] = now
        return spec

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when this process holds the Lease afterwards."""
        from kubernetes_asyncio.client.exceptions import ApiException

        body = await self._read()
        record = None if body is None else LeaseRecord.from_body(body)
        action, self._observed = decide(
            record, self._observed, me=self.identity, now=self._monotonic()
        )
        if action == "wait":
            return False
        try:
            if action == "create":
                await self._api.create_namespaced_lease(
                    self.namespace,
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": self._spec(None, taking=True),
                    },
                )
            else:
                assert body is not None
                assert record is not None
                new_body = dict(body)
                keep = (body.get("spec") or {}).get("acquireTime")
                spec = self._spec(record, taking=action == "take")
                if action == "renew" and keep:
                    spec["acquireTime"] = keep
                new_body["spec"] = spec
                # resourceVersion in metadata makes this a compare-and-swap: a concurrent
                # taker gets 409 and stays standby.
                await self._api.replace_namespaced_lease(self.name, self.namespace, new_body)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        if action != "renew":
            log.info("acquired Lease %s/%s as %s", self.namespace, self.name, self.identity)
        return True

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process leads (True) or `stop` is set (False)."""
        logged = False
        while not stop.is_set():
            try:
                if await self.try_acquire_or_renew():
                    self.is_leader = True
                    return True
            except Exception as error:  # the API may be briefly unreachable; keep trying
                log.warning("leader election: %s", error)
            if not logged:
                log.info(
                    "standby: Lease %s/%s is held by another replica", self.namespace, self.name
                )
                logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)
        return False

    async def hold(self, stop: asyncio.Event) -> None:
        """Renew until `stop` is set; return early (leadership lost) when renewing fails."""
        last_renewed = self._monotonic()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.renew_seconds)
                return
            except TimeoutError:
                pass
            try:
                if await self.try_acquire_or_renew():
                    last_renewed = self._monotonic()
                    continue
                log.error("leadership lost: another replica holds the Lease")
                break
            except Exception as error:
                log.warning("could not renew the Lease: %s", error)
            if self._monotonic() - last_renewed > self.renew_deadline:
                log.error("leadership lost: the Lease was not renewed in time")
                break
        self.is_leader = False

    async def release(self) -> None:
        """Hand the Lease back at shutdown so a standby takes over without waiting."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            body = await self._read()
            if body is None or (body.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            body["spec"]["holderIdentity"] = None
            body["spec"]["leaseDurationSeconds"] = 1
            await self._api.replace_namespaced_lease(self.name, self.namespace, body)
            log.info("released Lease %s/%s", self.namespace, self.name)
        except Exception as error:
            log.warning("could not release the Lease: %s", error)
