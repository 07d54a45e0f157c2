"""Many Workspaces on one repository: how many fetches and compiles, and how long a round takes.

Run: `.venv/bin/python bench/operator_bench.py [--workspaces 200] [--concurrency 4]`.

Drives the controller's real loading path (`controller.loading.LoadService` with the real
`sources.Stager` and the engine's `compile_tree`) behind one `sdk.refresh.Refresher` per
Workspace, as the operator's loops do, against a real git repository made with the system
`git` and served as `git+file://`. No API server: this measures the fetch/compile side
only. Three rounds: the initial load of every Workspace, a round after one new commit, and
a round with nothing new. Prints stage counts and wall times.
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

from rototo_operator.controller import loading  # noqa: E402
from rototo_operator.sdk import refresher  # noqa: E402

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--variables", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.workspaces, args.variables, args.concurrency))
