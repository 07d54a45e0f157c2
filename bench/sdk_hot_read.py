"""What a pod pays to stay fresh: probe, hot read, resolution, and a git probe vs a stage.

Run: `.venv/bin/python bench/sdk_hot_read.py [--variables 200] [--rounds 2000]`.
Prints one line per measurement (median and p99 microseconds per call). The workspace is
generated (N int variables with a rule each), so the numbers need nothing but this repo and
the system `git` for the git lines (skipped without it).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from tests.support.kubelet_volume import KubeletVolume  # noqa: E402

from rototo_operator import sources  # noqa: E402
from rototo_operator.engine import compiled  # noqa: E402
from rototo_operator.sdk import compiled_dir, loaders  # noqa: E402
from rototo_operator.sdk.refresh import RefreshingWorkspace  # noqa: E402


def make_workspace(root: Path, variables: int) -> None:
    (root / "variables").mkdir(parents=True)
    (root / "qualifiers").mkdir()
    (root / "rototo-workspace.toml").write_text("schema_version = 1\n")
    (root / "request-contexts").mkdir()
    (root / "request-contexts" / "request.schema.json").write_text(
        '{"type": "object", "properties": {"account": {"type": "object", '
        '"properties": {"plan": {"type": "string"}}}}}'
    )
    (root / "qualifiers" / "enterprise.toml").write_text(
        'schema_version = 1\ndescription = "Enterprise accounts"\n'
        "when = '(context.account.plan == \"enterprise\")'\n"
    )
    for index in range(variables):
        (root / "variables" / f"limit-{index}.toml").write_text(
            "schema_version = 1\n"
            f'description = "Limit {index}"\n'
            'type = "int"\n\n'
            f"[resolve]\ndefault = {index}\n\n"
            f"[[resolve.rule]]\nwhen = 'qualifier[\"enterprise\"]'\nvalue = {index * 10 + 1}\n"
        )


def report(name: str, samples: list[float]) -> None:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"{name:<44} median {statistics.median(samples) * 1e6:10.1f} us   p99 {p99 * 1e6:10.1f} us"
    )


def measure(rounds: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


async def measure_async(rounds: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def git_repository(repo: Path) -> None:
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *command],
            check=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variables", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        make_workspace(base / "ws", args.variables)
        model = compiled.compile_tree(base / "ws", source="bench", fingerprint="git:" + "0" * 40)
        data = model.to_bytes()
        print(f"model: {args.variables} variables, {len(data)} bytes")
        volume = KubeletVolume(base / "volume")
        volume.write({"workspace.json": data})
        path = volume.target / "workspace.json"

        report(
            "compiled dir: probe (readlink + stat)",
            measure(args.rounds, lambda: compiled_dir.model_token(path)),
        )
        loader = loaders.CompiledDirLoader(volume.target)
        report(
            "compiled dir: read + decode a new model",
            measure(max(args.rounds // 20, 10), loader.load_blocking),
        )

        workspace = await RefreshingWorkspace.load(volume.target)
        context = {"account": {"plan": "enterprise"}}
        report(
            "resolve_variable (rule matches)",
            await measure_async(
                args.rounds, lambda: workspace.resolve_variable("limit-7", context)
            ),
        )
        report(
            "refresh_now, nothing swapped",
            await measure_async(args.rounds // 4, workspace.refresh_now),
        )
        await workspace.shutdown()

        if shutil.which("git") is None:
            print("git: skipped (no system git)")
            return
        repo = base / "repo"
        shutil.copytree(base / "ws", repo)
        git_repository(repo)
        source = f"git+file://{repo}#main"
        stager = sources.Stager()
        try:
            stager.stage(source).cleanup()  # warm the cache, as a running loop would have
            report("git+file: probe (ls-remote)", measure(50, lambda: stager.probe(source)))
            report(
                "git+file: stage (cached repo)", measure(20, lambda: stager.stage(source).cleanup())
            )
            loader_git = loaders.SourceLoader(source, stager)
            report("git+file: stage + lint + compile", measure(10, loader_git.load_blocking))
        finally:
            stager.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
