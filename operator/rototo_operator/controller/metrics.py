"""Prometheus metrics and the `/metrics` + `/healthz` HTTP endpoint.

Metrics live in the operator's own registry (no process or platform collectors mixed in
by accident), labelled by Workspace namespace and name:

- `rototo_workspace_info{namespace,name,fingerprint}` 1 for the fingerprint being served;
- `rototo_workspace_refresh_total{namespace,name,outcome}` attempts by outcome;
- `rototo_workspace_consecutive_failures{namespace,name}`;
- `rototo_workspace_last_success_timestamp_seconds{namespace,name}`;
- `rototo_workspace_stale{namespace,name}` 1 when stale;
- `rototo_workspace_refresh_duration_seconds{namespace,name}` a histogram of attempts;
- `rototo_operator_leader` 1 while this replica is the active one.

`/healthz` answers 200 while the operator's event loop runs and its health callback
agrees, else 503. Limits: a Workspace's series are removed when it is deleted; the info
series keeps one fingerprint label value per Workspace (the old one is removed on change).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import prometheus_client

PREFIX = "rototo_workspace"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The operator's metrics in a registry of their own."""

    def __init__(self, registry: prometheus_client.CollectorRegistry | None = None) -> None:
        self.registry = registry or prometheus_client.CollectorRegistry(auto_describe=True)
        labels = ("namespace", "name")
        self.info = prometheus_client.Gauge(
            f"{PREFIX}_info",
            "The source fingerprint each Workspace is serving (value 1).",
            (*labels, "fingerprint"),
            registry=self.registry,
        )
        self.refreshes = prometheus_client.Counter(
            f"{PREFIX}_refresh",
            "Refresh attempts by outcome (unchanged, refreshed, immutable, failed).",
            (*labels, "outcome"),
            registry=self.registry,
        )
        self.failures = prometheus_client.Gauge(
            f"{PREFIX}_consecutive_failures",
            "Failed refresh attempts since the last success.",
            labels,
            registry=self.registry,
        )
        self.last_success = prometheus_client.Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time of the last successful refresh.",
            labels,
            registry=self.registry,
        )
        self.stale = prometheus_client.Gauge(
            f"{PREFIX}_stale",
            "1 when the last success is older than spec.maxStalenessSeconds.",
            labels,
            registry=self.registry,
        )
        self.duration = prometheus_client.Histogram(
            f"{PREFIX}_refresh_duration_seconds",
            "Duration of refresh attempts (probe, stage, compile, publish).",
            labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.leader = prometheus_client.Gauge(
            "rototo_operator_leader",
            "1 while this replica holds the leader Lease and runs the refresh loops.",
            registry=self.registry,
        )
        self._fingerprints: dict[tuple[str, str], str] = {}

    def observe_attempt(self, namespace: str, name: str, outcome: str, seconds: float) -> None:
        self.refreshes.labels(namespace, name, outcome).inc()
        self.duration.labels(namespace, name).observe(seconds)

    def set_state(
        self,
        namespace: str,
        name: str,
        *,
        fingerprint: str | None,
        consecutive_failures: int,
        last_success: float | None,
        stale: bool,
    ) -> None:
        key = (namespace, name)
        previous = self._fingerprints.get(key)
        if previous is not None and previous != fingerprint:
            self.info.remove(namespace, name, previous)
            del self._fingerprints[key]
        if fingerprint is not None:
            self.info.labels(namespace, name, fingerprint).set(1)
            self._fingerprints[key] = fingerprint
        self.failures.labels(namespace, name).set(consecutive_failures)
        if last_success is not None:
            self.last_success.labels(namespace, name).set(last_success)
        self.stale.labels(namespace, name).set(1 if stale else 0)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted Workspace's series."""
        fingerprint = self._fingerprints.pop((namespace, name), None)
        if fingerprint is not None:
            self.info.remove(namespace, name, fingerprint)
        for metric in (self.failures, self.last_success, self.stale, self.duration):
            with contextlib.suppress(KeyError):
                metric.remove(namespace, name)
        for outcome in ("unchanged", "refreshed", "immutable", "failed"):
            with contextlib.suppress(KeyError):
                self.refreshes.remove(namespace, name, outcome)

    def render(self) -> bytes:
        data: bytes = prometheus_client.generate_latest(self.registry)
        return data


async def serve(
    metrics: Metrics, *, host: str, port: int, healthy: Callable[[], bool]
) -> Callable[[], Any]:
    """Start `/metrics` and `/healthz`; returns an async function that stops the server."""
    from aiohttp import web

    async def metrics_view(request: web.Request) -> web.Response:
        del request
        return web.Response(
            body=metrics.render(),
            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
        )

    async def health_view(request: web.Request) -> web.Response:
        del request
        if healthy():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="unhealthy\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    return runner.cleanup
