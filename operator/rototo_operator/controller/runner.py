"""Run the operator process: API client, metrics endpoint, leader election, kopf.

    run(options)
      connect (KUBECONFIG or in-cluster) ─ metrics server (/metrics, /healthz)
      ─ leader election (Lease; standby waits here) ─ kopf.operator(...) until SIGTERM
      ─ loops stop (in-flight attempts get `shutdown_grace` seconds after a signal, none
        after losing the Lease) ─ Lease released (when still held)

Exit codes: 0 after a signal, 1 when leadership was lost (the process restarts as a
standby; no refresh loop ever runs in two replicas at once).

`run_process` is the CLI's entry point: unlike `asyncio.run` it does not wait for worker
threads at exit. A git fetch or archive download blocked on a slow server cannot be
interrupted (it runs inside libgit2 or a blocking socket read until its own timeout, up to
`git_timeout`), and waiting for it would hold the process far past `--shutdown-grace`. The
cancelled attempt has already cleared its `refreshing` mark and published nothing, so
the process exits without those threads.

With `--namespace` naming only exact namespaces, kopf's cluster scanning is off (see
`fixed_namespaces`), so the operator makes no cluster-scoped request beyond discovery; a
CRD installed or changed after start is then noticed only on restart.

Limits: one process; the kopf reactor and all loops share one event loop, and blocking
work (git, compile) runs in worker threads via the load service.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import kopf

from rototo_operator.controller import (
    handlers,
    kube,
    leadership,
    loading,
    loops,
    metrics,
    reconcile,
)

log = logging.getLogger(__name__)


# Seconds before an unused git cache repository is deleted (`--git-cache-max-idle`).
DEFAULT_GIT_CACHE_MAX_IDLE = 86400.0


@dataclasses.dataclass(frozen=True)
class Options:
    namespaces: Sequence[str] = ()
    allow_local_sources: bool = False
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    cache_dir: Path | None = None
    git_cache_max_idle: float | None = DEFAULT_GIT_CACHE_MAX_IDLE
    max_concurrent_refreshes: int = 4
    leader_elect: bool = True
    lease_name: str = "rototo-operator"
    lease_namespace: str | None = None
    lease_seconds: int = 15
    identity: str | None = None
    shutdown_grace: float = 20.0
    kubeconfig: str | None = None


def default_lease_namespace() -> str:
    """The pod's namespace in a cluster (downward API or the service account), else default."""
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    if path.is_file():
        return path.read_text().strip() or "default"
    return "default"


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def run(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    api_client = await kube.connect(options.kubeconfig)
    cluster = kube.KubeCluster(api_client)
    registry_metrics = metrics.Metrics()
    loads = loading.LoadService(
        cache_dir=options.cache_dir,
        cache_max_idle=options.git_cache_max_idle,
        allow_local=options.allow_local_sources,
        max_concurrent=options.max_concurrent_refreshes,
    )
    runtime = reconcile.Runtime(cluster=cluster, loads=loads, metrics=registry_metrics)
    workspaces = loops.Registry(runtime)
    stop_metrics = await metrics.serve(
        registry_metrics,
        host=options.metrics_host,
        port=options.metrics_port,
        healthy=lambda: not stop.is_set(),
    )
    elector: leadership.LeaderElector | None = None
    lost = False
    try:
        if options.leader_elect:
            elector = leadership.LeaderElector(
                api_client,
                namespace=options.lease_namespace or default_lease_namespace(),
                name=options.lease_name,
                identity=options.identity or default_identity(),
                lease_seconds=options.lease_seconds,
                renew_seconds=max(1.0, options.lease_seconds / 3),
                renew_deadline=options.lease_seconds * 2 / 3,
                retry_seconds=max(1.0, options.lease_seconds / 5),
            )
            registry_metrics.leader.set(0)
            if not await elector.acquire(stop):
                return 0
            registry_metrics.leader.set(1)
        lost = await _operate(options, workspaces, elector, stop)
    finally:
        if elector is not None:
            await elector.release()
        registry_metrics.leader.set(0)
        await stop_metrics()
        loads.close()
        await cluster.close()
    return 1 if lost else 0


# Characters that make a kopf namespace pattern a glob, a negation or a list.
_PATTERN_CHARACTERS = frozenset("*?!,")


def fixed_namespaces(namespaces: Sequence[str]) -> bool:
    """True when the operator watches a fixed set of namespaces named exactly.

    Then kopf's cluster scanning is switched off: it serves exactly those names instead of
    listing and watching Namespaces, and it reads the API groups once through discovery
    (granted to every authenticated user) instead of watching CustomResourceDefinitions.
    So a namespaced operator needs no cluster-scoped permission at all. A glob such as
    `team-*` still needs the Namespace watch to find matching namespaces, so any pattern
    keeps scanning on; so does cluster-wide mode (no namespaces), which keeps noticing CRD
    changes without a restart.
    """
    return bool(namespaces) and not any(_PATTERN_CHARACTERS & set(ns) for ns in namespaces)


async def _operate(
    options: Options,
    workspaces: loops.Registry,
    elector: leadership.LeaderElector | None,
    stop: asyncio.Event,
) -> bool:
    """Run kopf until `stop`; True when it ended because leadership was lost."""
    lost = asyncio.Event()

    async def guard_leadership() -> None:
        if elector is None:
            return
        await elector.hold(stop)
        if not stop.is_set():
            lost.set()
            # A standby may take over from now on: an attempt in flight must not go on
            # publishing for --shutdown-grace seconds next to it, so no grace here.
            await workspaces.stop(0)
            stop.set()

    guard = asyncio.create_task(guard_leadership(), name="leadership")
    kopf_registry = handlers.build_registry(workspaces, grace=options.shutdown_grace, stopping=stop)
    namespaces = list(options.namespaces)
    settings = kopf.OperatorSettings()
    settings.scanning.disabled = fixed_namespaces(namespaces)
    try:
        await kopf.operator(
            registry=kopf_registry,
            settings=settings,
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            stop_flag=stop,
        )
    finally:
        stop.set()
        guard.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await guard
        # kopf runs the cleanup handler on a normal stop; make sure loops end in any case.
        await workspaces.stop(options.shutdown_grace)
    return lost.is_set()


# How long idle worker threads get to notice the executor's shutdown before exit.
THREAD_EXIT_WAIT = 1.0


def run_process(options: Options) -> int:
    """Run the operator in a new event loop; the exit code. See the module docstring."""
    loop = asyncio.new_event_loop()
    try:
        code = loop.run_until_complete(run(options))
    finally:
        _cancel_leftover_tasks(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # shuts the default executor down without waiting for its threads
    stuck = _busy_threads(THREAD_EXIT_WAIT)
    if stuck:
        log.warning(
            "exiting with %d blocked source operation(s) abandoned (%s)",
            len(stuck),
            ", ".join(sorted(thread.name for thread in stuck)),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # The interpreter would join these threads at exit (concurrent.futures does).
        os._exit(code)
    return code


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _busy_threads(wait: float) -> list[threading.Thread]:
    """Source threads (`loading.THREAD_PREFIX`) still alive after up to `wait` seconds.

    The load service's executor is shut down by then, so idle threads exit at once.
    """
    deadline = time.monotonic() + wait
    alive = []
    for thread in threading.enumerate():
        if not thread.name.startswith(loading.THREAD_PREFIX):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            alive.append(thread)
    return alive
