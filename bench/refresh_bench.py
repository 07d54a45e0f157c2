"""The refreshing SDK on a git source: bytes per unchanged refresh, latency, memory.

Run: `.venv/bin/python bench/refresh_bench.py [--rounds 20] [--workspaces 100]`.

Against the tests' real loopback servers (`git http-backend` behind TLS with Basic auth and
a private CA; `git+file` for the memory run), on the project's example workspace
(`examples/account-config`) committed into a fresh repository:

- bytes: what the server sends (response bodies) for one `refresh_now()` that finds nothing
  new (the ref advertisement only) against one that fetches a new commit;
- latency: from a new commit to `refresh_now()` returning "refreshed" and the next
  resolution answering from it, median over rounds;
- memory: resident set growth of 100 `RefreshingWorkspace`s on one repository (one
  process, one shared git cache), per workspace.

Needs the system `git`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.support import git_servers  # noqa: E402

from rototo_operator import sources  # noqa: E402
from rototo_operator.sdk.loaders import SourceLoader  # noqa: E402
from rototo_operator.sdk.refresh import RefreshingWorkspace  # noqa: E402

EXAMPLE = ROOT / "examples" / "account-config"
USER, PASSWORD = "bench", "bench-pw"
CONTEXT = {"account": {"id": "acct-9001", "plan": "enterprise", "region": "eu-central-1"}}


def example_files(version: int) -> dict[str, str]:
    files = {
        str(path.relative_to(EXAMPLE)): path.read_text()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file()
    }
    # A new commit with a real content change: the README is part of the staged tree.
    files["README.md"] = files.get("README.md", "") + f"\n<!-- revision {version} -->\n"
    return files


class CountingServer(git_servers.GitHttpsServer):
    """`git http-backend` that adds up the response body bytes it sends."""

    sent = 0

    def handle(self, request: Any) -> None:
        original = request.reply

        def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.sent += len(body)
            original(status, body, headers)

        request.reply = reply
        super().handle(request)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


async def bench_https(work: Path, rounds: int) -> None:
    repo = git_servers.Repo(work / "https")
    repo.commit(example_files(0))
    pki = git_servers.make_pki(work / "pki")
    credentials = sources.Credentials(username=USER, password=PASSWORD, ca_bundle=pki.ca_pem)
    with CountingServer(pki, repo.bare.parent, username=USER, password=PASSWORD) as server:
        assert isinstance(server, CountingServer)
        source = f"git+{server.url('config.git')}#main"
        stager = sources.Stager(work / "https-cache", credentials=credentials, allow_local=False)
        loader = SourceLoader(source, stager, owns_stager=True)
        workspace = await RefreshingWorkspace.from_loader(loader, on_close=loader.close)
        try:
            unchanged, fetched, latency = [], [], []
            for version in range(1, rounds + 1):
                before = server.sent
                assert await workspace.refresh_now() == "unchanged"
                unchanged.append(server.sent - before)

                repo.commit(example_files(version))
                before = server.sent
                started = time.perf_counter()
                assert await workspace.refresh_now() == "refreshed"
                await workspace.resolve_variable("account-limits", CONTEXT)
                latency.append((time.perf_counter() - started) * 1000)
                fetched.append(server.sent - before)
        finally:
            await workspace.shutdown()
    print(f"git+https, example workspace, median of {rounds}:")
    print(f"  unchanged refresh_now: {statistics.median(unchanged):,.0f} bytes sent by the server")
    print(f"  refresh_now after a new commit: {statistics.median(fetched):,.0f} bytes")
    print(
        f"  commit -> refresh_now() refreshed -> first resolution: "
        f"{statistics.median(latency):.1f} ms (p90 {sorted(latency)[int(len(latency) * 0.9)]:.1f})"
    )


async def bench_memory(work: Path, count: int) -> None:
    repo = git_servers.Repo(work / "memory")
    repo.commit(example_files(0))
    source = f"{repo.file_url}#main"
    warm = await RefreshingWorkspace.load(source)  # imports, caches, first clone
    await warm.shutdown()
    gc.collect()
    before = rss_kib()
    started = time.perf_counter()
    workspaces = [await RefreshingWorkspace.load(source, period_seconds=60) for _ in range(count)]
    elapsed = time.perf_counter() - started
    gc.collect()
    grown = rss_kib() - before
    staged = sum(tree_bytes(Path(ws.root)) for ws in workspaces)
    for workspace in workspaces:
        await workspace.shutdown()
    print(f"{count} RefreshingWorkspaces on one git+file repository (period 60 s):")
    print(f"  loaded in {elapsed:.2f} s; resident set +{grown / 1024:.1f} MiB")
    per_workspace = f"{grown / count:.0f} KiB per workspace"
    print(f"  ({per_workspace}; staged files {staged / count / 1024:.0f} KiB each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workspaces", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("git") is None:
        sys.exit("refresh_bench needs the system `git`")
    with tempfile.TemporaryDirectory(prefix="rototo-refresh-bench-") as scratch:
        asyncio.run(bench_https(Path(scratch), args.rounds))
        asyncio.run(bench_memory(Path(scratch), args.workspaces))


if __name__ == "__main__":
    main()
