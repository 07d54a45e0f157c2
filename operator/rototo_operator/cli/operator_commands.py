"""Operator commands: `run`, `refresh`, `status`.

`run` starts the controller (all namespaces unless `--namespace` narrows it). `refresh` sets
the `rototo.dev/refresh-requested-at` annotation and, with `--wait`, waits until the
operator reports the outcome for exactly that request. `status` prints a table of
Workspaces. The formatting is pure (`refresh_report`, `status_table`) and unit tested.

Limits: `refresh --wait` polls the Workspace every half second (a watch would save a few
requests but not time); `status` reads Workspace status only, not the ConfigMaps.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rototo_operator.api import models
from rototo_operator.controller import conditions

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def register(commands: Any) -> None:
    """Add the operator commands to the top-level parser."""
    run = commands.add_parser(
        "run",
        help="run the operator (watches Workspaces, publishes ConfigMaps)",
        description="Run the rototo operator until SIGTERM.",
    )
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    run.add_argument(
        "--allow-local-sources",
        action="store_true",
        help="accept file://, git+file:// and plain-path sources (tests and demos only)",
    )
    run.add_argument("--metrics-port", type=int, default=8080, help="/metrics and /healthz port")
    run.add_argument("--metrics-address", default="0.0.0.0", help="address to serve metrics on")
    run.add_argument("--cache-dir", type=Path, default=None, help="git cache shared by all loops")
    run.add_argument(
        "--git-cache-max-idle",
        type=float,
        default=86400.0,  # runner.DEFAULT_GIT_CACHE_MAX_IDLE (the controller loads lazily)
        metavar="SECONDS",
        help=(
            "delete cached git repositories unused this long, such as clones made with a "
            "token since rotated (default 86400; 0 keeps them all)"
        ),
    )
    run.add_argument(
        "--max-concurrent-refreshes",
        type=int,
        default=4,
        metavar="N",
        help="at most N stages/compiles at once (default 4)",
    )
    election = run.add_mutually_exclusive_group()
    election.add_argument(
        "--leader-elect",
        "--peering",
        dest="leader_elect",
        action="store_true",
        default=True,
        help="run as one of several replicas; only the Lease holder works (default)",
    )
    election.add_argument(
        "--standalone",
        "--no-leader-elect",
        dest="leader_elect",
        action="store_false",
        help="no leader election: this process is the only replica",
    )
    run.add_argument("--lease-name", default="rototo-operator", help="leader election Lease")
    run.add_argument(
        "--lease-namespace",
        default=None,
        help="namespace of the Lease (default: the pod's namespace, else default)",
    )
    run.add_argument(
        "--lease-duration", type=int, default=15, metavar="SECONDS", help="Lease duration"
    )
    run.add_argument("--identity", default=None, help="this replica's Lease holder identity")
    run.add_argument(
        "--shutdown-grace",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="on SIGTERM, how long an in-flight refresh may finish before it is abandoned",
    )
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    run.set_defaults(handler=run_command)

    refresh = commands.add_parser(
        "refresh",
        help="ask the operator to refresh a Workspace now",
        description="Set rototo.dev/refresh-requested-at on a Workspace; --wait for the outcome.",
    )
    refresh.add_argument("name", help="Workspace name")
    refresh.add_argument("--namespace", "-n", default=None, help="namespace (default: context)")
    refresh.add_argument("--wait", action="store_true", help="wait for the outcome and print it")
    refresh.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="--wait limit"
    )
    refresh.set_defaults(handler=refresh_command)

    status = commands.add_parser(
        "status",
        help="show the Workspaces and what they serve",
        description="Print a table of Workspaces: readiness, fingerprint, staleness, failures.",
    )
    scope = status.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", default=None, help="namespace (default: context)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="every namespace")
    status.set_defaults(handler=status_command)


# -- run --------------------------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    from rototo_operator.controller import kube, runner

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kopf logs every handled watch event at INFO; ours says what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # The API client logs whole response bodies at DEBUG, Secrets (spec.secretRef) included:
    # never below INFO, whatever --log-level says.
    client_log = logging.getLogger("kubernetes_asyncio")
    client_log.setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))
    # The refresh core logs without the Workspace's name; the controller logs with it.
    logging.getLogger("rototo_operator.sdk.refresher").setLevel(logging.ERROR)
    if args.max_concurrent_refreshes < 1:
        print("rototo-operator run: --max-concurrent-refreshes must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.git_cache_max_idle < 0:
        print("rototo-operator run: --git-cache-max-idle must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    options = runner.Options(
        namespaces=tuple(args.namespace),
        allow_local_sources=args.allow_local_sources,
        metrics_host=args.metrics_address,
        metrics_port=args.metrics_port,
        cache_dir=args.cache_dir,
        git_cache_max_idle=args.git_cache_max_idle or None,
        max_concurrent_refreshes=args.max_concurrent_refreshes,
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        lease_seconds=args.lease_duration,
        identity=args.identity,
        shutdown_grace=args.shutdown_grace,
    )
    try:
        return runner.run_process(options)
    except kube.KubeError as error:
        # No credentials, or an API server refusing the start-up calls: say so, no traceback.
        print(f"rototo-operator run: {error}", file=sys.stderr)
        return EXIT_FAILED


# -- refresh ----------------------------------------------------------------------------------


def refresh_report(
    *, namespace: str, name: str, before: str | None, status: Mapping[str, Any]
) -> tuple[int, str]:
    """The exit code and line printed once the operator handled a refresh request."""
    outcome = status.get("lastRefreshOutcome")
    after = status.get("currentFingerprint")
    output = status.get("output") or {}
    where = f"ConfigMap {namespace}/{output.get('configMapName') or name}"
    if outcome == "refreshed":
        return EXIT_OK, (
            f"refreshed: {conditions.short(before) or 'nothing'} -> {conditions.short(after)} "
            f"(workspace published to {where})"
        )
    if outcome == "unchanged":
        return EXIT_OK, f"unchanged: {conditions.short(after)} ({where} is up to date)"
    if outcome == "immutable":
        return EXIT_OK, (
            f"immutable: {conditions.short(after)} (pinned to a commit; nothing to refresh)"
        )
    serving = conditions.short(after)
    still = f"still serving {serving}" if serving else "nothing is published"
    return EXIT_FAILED, f"failed: {status.get('lastError') or 'unknown error'} ({still})"


def refresh_command(args: argparse.Namespace) -> int:
    return asyncio.run(_refresh(args))


async def _refresh(args: argparse.Namespace) -> int:
    from rototo_operator.controller import kube

    namespace = args.namespace or context_namespace()
    try:
        api_client = await kube.connect()
    except kube.KubeError as error:
        print(f"rototo-operator refresh: {error}", file=sys.stderr)
        return EXIT_FAILED
    cluster = kube.KubeCluster(api_client)
    try:
        body = await cluster.get_workspace(namespace, args.name)
        if body is None:
            print(
                f"rototo-operator refresh: Workspace {namespace}/{args.name} not found",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if (body.get("spec") or {}).get("suspend"):
            print(
                f"rototo-operator refresh: Workspace {namespace}/{args.name} is suspended "
                "(spec.suspend: true); resume it first",
                file=sys.stderr,
            )
            return EXIT_FAILED
        before = (body.get("status") or {}).get("currentFingerprint")
        request = str(time.time_ns())
        await cluster.patch_workspace_metadata(
            namespace,
            args.name,
            {"annotations": {models.REFRESH_REQUESTED_ANNOTATION: request}},
        )
        if not args.wait:
            print(
                f"refresh requested: {namespace}/{args.name} "
                f"({models.REFRESH_REQUESTED_ANNOTATION}={request})"
            )
            return EXIT_OK
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            body = await cluster.get_workspace(namespace, args.name)
            if body is None:
                print(
                    f"rototo-operator refresh: Workspace {namespace}/{args.name} was deleted",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            status = body.get("status") or {}
            if status.get("lastHandledRefreshRequest") == request and not status.get("refreshing"):
                code, line = refresh_report(
                    namespace=namespace, name=args.name, before=before, status=status
                )
                print(line)
                return code
        print(
            f"rototo-operator refresh: no outcome within {args.timeout:g}s; is the operator "
            "running and watching this namespace?",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except kube.KubeError as error:
        print(f"rototo-operator refresh: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await cluster.close()


# -- status -----------------------------------------------------------------------------------


def format_age(seconds: float) -> str:
    """kubectl's short ages: 41s, 5m, 2h, 3d."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def status_table(
    items: Sequence[Mapping[str, Any]], *, now: datetime.datetime, all_namespaces: bool
) -> str:
    header = ["NAME", "READY", "FINGERPRINT", "STALE", "FAILURES", "LAST SUCCESS", "OUTCOME"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    header.append("MESSAGE")
    rows = [header]
    ordered = sorted(
        items,
        key=lambda i: (i.get("metadata", {}).get("namespace", ""), i["metadata"]["name"]),
    )
    for item in ordered:
        meta = item.get("metadata") or {}
        status = item.get("status") or {}
        ready: Mapping[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == conditions.READY), {}
        )
        last = _parse_time(status.get("lastSuccess"))
        row = [
            meta.get("name", ""),
            ready.get("status", "Unknown"),
            status.get("shortFingerprint") or conditions.short(status.get("currentFingerprint")),
            str(bool(status.get("stale", False))).lower(),
            str(status.get("consecutiveFailures", 0)),
            "-" if last is None else format_age((now - last).total_seconds()),
            status.get("lastRefreshOutcome") or "-",
            (ready.get("message") or "").splitlines()[0][:80] if ready.get("message") else "",
        ]
        if (item.get("spec") or {}).get("suspend"):
            row[-2] += " (suspended)"
        if all_namespaces:
            row.insert(0, meta.get("namespace", ""))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> int:
    return asyncio.run(_status(args))


async def _status(args: argparse.Namespace) -> int:
    from rototo_operator.controller import kube

    try:
        api_client = await kube.connect()
    except kube.KubeError as error:
        print(f"rototo-operator status: {error}", file=sys.stderr)
        return EXIT_FAILED
    cluster = kube.KubeCluster(api_client)
    try:
        namespace = None if args.all_namespaces else (args.namespace or context_namespace())
        items = await cluster.list_workspaces(namespace)
    except kube.KubeError as error:
        print(f"rototo-operator status: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await cluster.close()
    if not items:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No Workspaces in {where}.")
        return EXIT_OK
    now = datetime.datetime.now(tz=datetime.UTC)
    print(status_table(items, now=now, all_namespaces=namespace is None))
    return EXIT_OK


def context_namespace() -> str:
    """The current kubeconfig context's namespace, as kubectl would use it."""
    import yaml

    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path.home() / ".kube" / "config"
    )
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "default"
    current = config.get("current-context")
    for context in config.get("contexts") or []:
        if context.get("name") == current:
            return str((context.get("context") or {}).get("namespace") or "default")
    return "default"
