"""Many Workspaces on one repository: how many fetches and compiles, and how long a round takes.

Run: `.venv/bin/python bench/operator_bench.py [--workspaces 200] [--concurrency 4]
[--period 2] [--periods 4] [--paths 1] [--unaligned] [--per-source]`.

Drives the controller's real loading path (`controller.loading.LoadService` with the real
`sources.Stager` and the engine's `compile_tree`) behind one `sdk.refresh.Refresher` per
Workspace, as the operator's loops do, against a real git repository made with the system
`git` and served as `git+file://`. No API server: this measures the fetch/compile side
only. Three rounds: the initial load of every Workspace, a round after one new commit, and
a round with nothing new. Prints stage counts and wall times.

Part two runs the operator's real refresh loops (`controller.loops.Registry`, real clock,
real `LoadService`, `Stager` and compiler; the in-memory cluster of the unit tests stands in
for the API server) for the same number of Workspaces on one repository served by
`git http-backend` over HTTPS (tests/support/git_servers.py), created spread over one
period so that their own timings differ. It counts, at the git server, the ref
advertisements (`GET /info/refs?service=git-upload-pack`) and fetches (upload-pack POSTs) in
each period, with one new commit pushed on the way. `--unaligned` replaces the per-repository
schedule by "one period after my own last attempt" (the behaviour before issue 6) to compare.
`--paths K` spreads the Workspaces over K workspace directories of the repository
(`#main:team-0` ... a monorepo); `--per-source` turns off the sharing of one ls-remote per
repository and round between sources that differ in path, to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from rototo_operator.controller import loading, loops, reconcile  # noqa: E402
from rototo_operator.controller import metrics as controller_metrics  # noqa: E402
from rototo_operator.sdk import backoff, refresher  # noqa: E402

VARIABLE = """schema_version = 1
description = "limit {i}"
type = "int"

[resolve]
default = {value}
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.invalid",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.invalid",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


def commit(repo: Path, variables: int, value: int) -> None:
    for i in range(variables):
        (repo / "variables" / f"limit-{i}.toml").write_text(VARIABLE.format(i=i, value=value))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"value {value}")


async def round_trip(
    refreshers: list[refresher.Refresher[loading.LoadedModel]],
) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(r.refresh() for r in refreshers))
    elapsed = time.perf_counter() - started
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return elapsed, counts


async def main(workspaces: int, variables: int, concurrency: int) -> None:
    if shutil.which("git") is None:
        sys.exit("the system git is needed to make the benchmark repository")
    work = Path(tempfile.mkdtemp(prefix="rototo-operator-bench-"))
    try:
        repo = work / "repo"
        (repo / "variables").mkdir(parents=True)
        (repo / "rototo-workspace.toml").write_text("schema_version = 1\n")
        git(repo, "init", "-q", "-b", "main")
        commit(repo, variables, 1)
        service = loading.LoadService(
            cache_dir=work / "cache", allow_local=True, max_concurrent=concurrency
        )
        source = f"git+file://{repo}#main"
        refreshers = [
            refresher.Refresher(loading.WorkspaceLoader(service, source, None, immutable=False))
            for _ in range(workspaces)
        ]
        print(f"{workspaces} Workspaces on one repository, {variables} variables each")
        for label, change in (("initial load", None), ("one new commit", 2), ("nothing new", None)):
            if change is not None:
                commit(repo, variables, change)
            stages, probes = service.stage_count, service.probe_count
            elapsed, outcomes = await round_trip(refreshers)
            print(
                f"  {label:15s} {elapsed * 1000:9.1f} ms  probes: {service.probe_count - probes}"
                f"  stages: {service.stage_count - stages}  outcomes: {outcomes}"
            )
        service.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def workspace_body(i: int, source: str, period: int) -> dict[str, object]:
    return {
        "metadata": {
            "name": f"cfg-{i}",
            "namespace": "bench",
            "uid": f"uid-{i}",
            "generation": 1,
        },
        "spec": {"source": source, "periodSeconds": period, "secretRef": {"name": "ca"}},
    }


async def scheduled(  # noqa: PLR0917 - the bench's knobs, passed straight from argparse
    workspaces: int, variables: int, concurrency: int, period: int, periods: int, paths: int
) -> None:
    from tests.support import git_servers
    from tests.unit.controller import fakes

    work = Path(tempfile.mkdtemp(prefix="rototo-operator-bench-"))
    registry: loops.Registry | None = None
    service: loading.LoadService | None = None
    try:
        pki = git_servers.make_pki(work / "pki")
        repo = git_servers.Repo(work / "git")
        prefixes = [""] if paths <= 1 else [f"team-{k}/" for k in range(paths)]
        files = {}
        for prefix in prefixes:
            files[f"{prefix}rototo-workspace.toml"] = "schema_version = 1\n"
            files.update(
                {
                    f"{prefix}variables/limit-{i}.toml": VARIABLE.format(i=i, value=1)
                    for i in range(variables)
                }
            )
        repo.commit(files)
        with git_servers.GitHttpsServer(
            pki, repo.bare.parent, username=None, password=None
        ) as server:
            base = f"git+{server.url('config.git')}#main"
            sources = [base + (f":{prefix.rstrip('/')}" if prefix else "") for prefix in prefixes]
            cluster = fakes.FakeCluster()
            cluster.secrets[("bench", "ca")] = {"ca.crt": pki.ca_pem}
            service = loading.LoadService(
                cache_dir=work / "cache", allow_local=False, max_concurrent=concurrency
            )
            rt = reconcile.Runtime(
                cluster=cluster,
                loads=service,
                metrics=controller_metrics.Metrics(),
            )
            registry = loops.Registry(rt)
            for i in range(workspaces):
                source = sources[i % len(sources)]
                registry.workspace_event(None, workspace_body(i, source, period))
                await asyncio.sleep(period / workspaces)

            def statuses() -> list[dict[str, object]]:
                return [w.get("status", {}) for w in cluster.workspaces.values()]

            # The in-memory cluster has no change notification: poll it.
            while sum(1 for s in statuses() if s.get("currentFingerprint")) < workspaces:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            instants = {s.get("nextRefreshAt") for s in statuses()}
            print(
                f"{workspaces} Workspace loops on one repository over HTTPS ({len(sources)} "
                f"source path(s)), period {period} s: "
                f"{len(instants)} distinct nextRefreshAt"
            )

            def advertisements() -> int:
                return sum(
                    1
                    for method, path in server.requests
                    if method == "GET" and "/info/refs" in path and "upload-pack" in path
                )

            def fetches() -> int:
                return sum(1 for method, path in server.requests if method == "POST")

            # Sample half-way between aligned instants, when a round has finished.
            now = time.time()
            phase = backoff.schedule_phase(
                reconcile.schedule_identity(
                    next(iter(registry.loops.values())).workspace, reconcile.Memory()
                ),
                period,
            )
            await asyncio.sleep(backoff.aligned_delay(now, period, phase) + period / 2)
            for index in range(periods):
                before_ads, before_fetches = advertisements(), fetches()
                before_probes, before_stages = service.probe_count, service.stage_count
                if index == 1:
                    changed = f"{prefixes[0]}variables/limit-0.toml"
                    repo.commit({changed: VARIABLE.format(i=0, value=2)})
                await asyncio.sleep(period)
                served = {s.get("currentFingerprint") for s in statuses()}
                print(
                    f"  period {index + 1}: ref advertisements {advertisements() - before_ads:4d}"
                    f"  fetches {fetches() - before_fetches:3d}"
                    f"  (operator probes {service.probe_count - before_probes},"
                    f" stages {service.stage_count - before_stages})"
                    f"  fingerprints served {len(served)}"
                    + ("  (new commit pushed)" if index == 1 else "")
                )
    finally:
        if registry is not None:
            await registry.stop(grace=5)
        if service is not None:
            service.close()
        shutil.rmtree(work, ignore_errors=True)


def per_source_advertisements() -> None:
    """Before ls-remotes were shared per repository: every source string asks for itself
    (the load service's round cache still shares between identical source strings)."""
    from rototo_operator.sources import git

    shared = git.GitCache.advertised

    def own(
        self: git.GitCache, spec: object, credentials: object, *, fresh_after: float | None = None
    ) -> git.AdvertisedRefs:
        return shared(self, spec, credentials)  # type: ignore[arg-type]

    git.GitCache.advertised = own  # type: ignore[method-assign]


def unaligned_instant(now: float, period_seconds: float, phase: float) -> float:
    """The pre-issue-6 schedule: one period after the Workspace's own last attempt."""
    return now + period_seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--variables", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--period", type=int, default=2, help="periodSeconds of part two")
    parser.add_argument("--periods", type=int, default=4, help="periods part two counts")
    parser.add_argument("--unaligned", action="store_true", help="part two without alignment")
    parser.add_argument("--paths", type=int, default=1, help="workspace directories in part two")
    parser.add_argument(
        "--per-source", action="store_true", help="part two: one ls-remote per source string"
    )
    args = parser.parse_args()
    asyncio.run(main(args.workspaces, args.variables, args.concurrency))
    if args.unaligned:
        backoff.aligned_instant = unaligned_instant
    if args.per_source:
        per_source_advertisements()
    asyncio.run(
        scheduled(
            args.workspaces,
            args.variables,
            args.concurrency,
            args.period,
            args.periods,
            args.paths,
        )
    )
