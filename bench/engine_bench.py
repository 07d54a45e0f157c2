"""Engine speed, side by side with the reference `rototo==0.1.0a5` in the same run.

Run: `.venv/bin/python bench/engine_bench.py [--variables 300] [--rounds 9] [--blocks 15]`.

For each workspace (the project's `examples/account-config`, a generated one with N
variables, and rototo's `examples/basic` when ../shared is present) it measures, for our
engine and for the reference (a worker process in the reference's own virtual
environment, timing itself):

- load: `Workspace.load` (stage, lint, compile), median of `--rounds`;
- lint: `Workspace.inspect` + `lint()`, median of `--rounds`;
- compile: our `compile_tree` alone, and the size of the compiled model;
- load compiled: our `Workspace.load` of that model written as `workspace.json` (what
  pods do), compared with the reference's load of the source;
- resolve: `resolve_variable` calls per second (awaited one after another, context
  validation on), over `--resolves` calls cycling through the workspace's variables.

The two sides take turns: every measurement runs in `--blocks` short blocks, ours then
the reference's, so a burst of load from elsewhere on the machine falls on both sides
rather than on whichever happened to be running; medians are over all blocks' samples.

Then compiles the size goal's generated workspace (`--goal-variables 1000`,
`--goal-qualifiers 1000`, `--goal-entries 200`) and prints its median time.

Prints a Markdown table for docs/benchmarks.md, then issue 4's two goal ratios per
workspace for this run. Numbers depend on the machine; compare the two columns of one
run, not runs on different machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator")]

import rototo_operator as ours  # noqa: E402
from rototo_operator.engine import compiled  # noqa: E402

ORACLE_PYTHON = Path(os.environ.get("ROTOTO_ORACLE_PYTHON", ROOT / ".venv-oracle/bin/python"))

# Runs inside the reference's environment as a worker: one JSON request per line on stdin,
# one JSON answer per line on stdout, each measurement timed in its own process.
REFERENCE_WORKER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    import rototo

    loaded = {}

    async def serve(job):
        op, source, count = job["op"], job["source"], job["count"]
        samples = []
        if op == "load":
            for _ in range(count):
                start = time.perf_counter()
                loaded[source] = await rototo.Workspace.load(source)
                samples.append(time.perf_counter() - start)
        elif op == "lint":
            for _ in range(count):
                start = time.perf_counter()
                inspected = await rototo.Workspace.inspect(source)
                await inspected.lint()
                samples.append(time.perf_counter() - start)
        elif op == "resolve":
            workspace, calls, first = loaded[source], job["calls"], job["first"]
            start = time.perf_counter()
            for index in range(first, first + count):
                variable, context = calls[index % len(calls)]
                await workspace.resolve_variable(variable, context)
            samples.append(time.perf_counter() - start)
        return samples

    async def main():
        for line in sys.stdin:
            print(json.dumps(await serve(json.loads(line))), flush=True)

    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
    """
)


def generate(root: Path, variables: int, qualifiers: int = 0, entries: int = 0) -> Path:
    """A workspace with `variables` variables: ints, strings and catalog-backed ones.

    `qualifiers` extra qualifiers are each read by a rule of some variable, and `entries`
    extra catalog entries are added to the `tier` catalog.
    """
    (root / "rototo-workspace.toml").parent.mkdir(parents=True, exist_ok=True)
    (root / "rototo-workspace.toml").write_text("schema_version = 1\n")
    for directory in ("variables", "qualifiers", "request-contexts", "catalogs/tier-entries"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "request-contexts/request.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "account": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "plan": {"type": "string"},
                            "seats": {"type": "integer"},
                        },
                    }
                },
            }
        )
    )
    (root / "request-contexts/request-entries").mkdir(exist_ok=True)
    (root / "request-contexts/request-entries/sample.json").write_text(
        '{"account": {"id": "a-1", "plan": "enterprise", "seats": 40}}'
    )
    (root / "catalogs/tier.schema.json").write_text(
        '{"type": "object", "required": ["limit"], "properties": {"limit": {"type": "integer"}}}'
    )
    for name, limit in (("small", 1), ("large", 100)):
        (root / f"catalogs/tier-entries/{name}.toml").write_text(f"limit = {limit}\n")
    for index in range(entries):
        (root / f"catalogs/tier-entries/e-{index:04d}.toml").write_text(f"limit = {index}\n")
    for index in range(qualifiers):
        (root / f"qualifiers/q-{index:04d}.toml").write_text(
            f"schema_version = 1\nwhen = 'context.account.seats >= {index}'\n"
        )
    plans = ("free", "growth", "enterprise")
    for plan in plans:
        (root / f"qualifiers/{plan}.toml").write_text(
            f"schema_version = 1\nwhen = 'context.account.plan == \"{plan}\"'\n"
        )
    (root / "qualifiers/big.toml").write_text(
        "schema_version = 1\nwhen = 'qualifier[\"enterprise\"] && context.account.seats >= 10'\n"
    )
    (root / "qualifiers/rollout.toml").write_text(
        "schema_version = 1\nwhen = 'bucket(context.account.id, \"bench\", 0, 5000)'\n"
    )
    for index in range(variables):
        kind = index % 3
        qualifier = ("growth", "big", "rollout")[kind]
        if kind == 0:
            body = f'type = "int"\n[resolve]\ndefault = {index}\n'
            value = str(index + 1)
        elif kind == 1:
            body = 'type = "catalog:tier"\n[resolve]\ndefault = "small"\n'
            value = '"large"'
        else:
            body = f'type = "string"\n[resolve]\ndefault = "v{index}"\n'
            value = f'"w{index}"'
        extra = ""
        # Spread the extra qualifiers over the variables so each one is read.
        for q in range(index, qualifiers, max(variables, 1)):
            extra += f"[[resolve.rule]]\nwhen = 'qualifier[\"q-{q:04d}\"]'\nvalue = {value}\n"
        (root / f"variables/var-{index:04d}.toml").write_text(
            f"schema_version = 1\n{body}[[resolve.rule]]\nwhen = 'qualifier[\"{qualifier}\"]'\n"
            f"value = {value}\n{extra}"
        )
    return root


def calls_for(workspace: Path) -> list[tuple[str, dict[str, Any]]]:
    """(variable, context) pairs that resolve: every variable against every sample."""
    samples = [
        json.loads(path.read_text())
        for path in sorted(workspace.glob("request-contexts/*-entries/*.json"))
    ]
    variables = sorted(path.stem for path in workspace.glob("variables/*.toml"))
    model = compiled.compile_tree(workspace, source=str(workspace), fingerprint="bench")
    usable = []
    for variable in variables:
        for context in samples:
            try:
                model.resolve_variable(variable, context)
            except ours.RototoError:
                continue
            usable.append((variable, context))
    return usable


class Reference:
    """The reference engine in its own process, measuring on request."""

    def __init__(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
            script.write(REFERENCE_WORKER)
        self._script = script.name
        self._process = subprocess.Popen(
            [str(ORACLE_PYTHON), self._script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def measure(self, op: str, source: Path, count: int, **extra: Any) -> list[float]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        job = {"op": op, "source": str(source), "count": count, **extra}
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"reference worker died during {op} of {source}")
        samples: list[float] = json.loads(answer)
        return samples

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        os.unlink(self._script)


class Ours:
    """Our engine, measured the same way in this process."""

    def __init__(self, source: Path, model_file: Path) -> None:
        self.source = source
        self.model_file = model_file
        self.workspace: ours.Workspace | None = None

    async def measure(self, op: str, count: int, **extra: Any) -> list[float]:
        samples = []
        if op == "resolve":
            assert self.workspace is not None
            calls, first = extra["calls"], extra["first"]
            start = time.perf_counter()
            for index in range(first, first + count):
                variable, context = calls[index % len(calls)]
                await self.workspace.resolve_variable(variable, context)
            return [time.perf_counter() - start]
        for _ in range(count):
            start = time.perf_counter()
            if op == "load":
                self.workspace = await ours.Workspace.load(str(self.source))
            elif op == "load_compiled":
                await ours.Workspace.load(str(self.model_file))
            elif op == "lint":
                inspected = await ours.Workspace.inspect(str(self.source))
                await inspected.lint()
            else:
                compiled.compile_tree(self.source, source=str(self.source), fingerprint="bench")
            samples.append(time.perf_counter() - start)
        return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def measure(
    source: Path, reference: Reference | None, args: argparse.Namespace, calls: list[Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ours, reference) results for one workspace, taking turns block by block."""
    with tempfile.TemporaryDirectory() as scratch:
        model = compiled.compile_tree(source, source=str(source), fingerprint="bench")
        model_file = Path(scratch) / "workspace.json"
        model_file.write_bytes(model.to_bytes())
        mine = Ours(source, model_file)
        samples: dict[str, list[float]] = {}
        theirs: dict[str, list[float]] = {}

        def take(into: dict[str, list[float]], key: str, values: list[float]) -> None:
            into.setdefault(key, []).extend(values)

        # Staged loads and lint: `--rounds` samples each, one per turn.
        for _ in range(args.rounds):
            for op in ("load", "lint", "compile"):
                take(samples, op, await mine.measure(op, 1))
            if reference is not None:
                for op in ("load", "lint"):
                    take(theirs, op, reference.measure(op, source, 1))
        # The compiled-load goal: short blocks of each, alternating.
        per_block = 3
        for _ in range(args.blocks):
            take(samples, "load_compiled", await mine.measure("load_compiled", per_block))
            if reference is not None:
                take(theirs, "load_blocks", reference.measure("load", source, per_block))
        # Resolution: the calls split into blocks, alternating; rate over all of them.
        chunk = max(1, args.resolves // args.blocks)
        for block in range(args.blocks):
            take(
                samples,
                "resolve",
                await mine.measure("resolve", chunk, calls=calls, first=block * chunk),
            )
            if reference is not None:
                take(
                    theirs,
                    "resolve",
                    reference.measure("resolve", source, chunk, calls=calls, first=block * chunk),
                )
    total = chunk * args.blocks
    result = {
        "load_ms": median_ms(samples["load"]),
        "lint_ms": median_ms(samples["lint"]),
        "compile_ms": median_ms(samples["compile"]),
        "compiled_load_ms": median_ms(samples["load_compiled"]),
        "model_bytes": len(model.to_bytes()),
        "resolves_per_s": total / sum(samples["resolve"]),
    }
    if reference is None:
        return result, {}
    return result, {
        "load_ms": median_ms(theirs["load"]),
        # The same operation, sampled in the blocks that alternate with our compiled loads.
        "goal_load_ms": median_ms(theirs["load_blocks"]),
        "lint_ms": median_ms(theirs["lint"]),
        "resolves_per_s": total / sum(theirs["resolve"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--variables", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--resolves", type=int, default=20000)
    parser.add_argument("--goal-variables", type=int, default=1000)
    parser.add_argument("--goal-qualifiers", type=int, default=1000)
    parser.add_argument("--goal-entries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workspaces = [("examples/account-config", ROOT / "examples" / "account-config")]
        shared = ROOT.parent / "shared" / "conformance" / "examples" / "basic"
        if shared.is_dir():
            workspaces.append(("rototo examples/basic", shared))
        generated = generate(Path(scratch) / "generated", args.variables)
        workspaces.append((f"generated, {args.variables} variables", generated))
        ratios: list[str] = []
        print("| workspace | measure | rototo-operator | reference 0.1.0a5 |")
        print("| --- | --- | ---: | ---: |")
        reference = Reference() if ORACLE_PYTHON.exists() else None
        for label, path in workspaces:
            calls = calls_for(path)
            mine, theirs = asyncio.run(measure(path, reference, args, calls))

            def cell(result: dict[str, Any], key: str, unit: str) -> str:
                if key not in result:
                    return "n/a"
                # Two decimals for short times: the goal ratios are read off these.
                digits = 2 if unit == "ms" and result[key] < 10 else 1
                return f"{result[key]:,.{digits}f} {unit}"

            print(
                f"| {label} | load (stage+lint+compile) | {cell(mine, 'load_ms', 'ms')} | "
                f"{cell(theirs, 'load_ms', 'ms')} |"
            )
            print(
                f"| {label} | inspect + lint | {cell(mine, 'lint_ms', 'ms')} | "
                f"{cell(theirs, 'lint_ms', 'ms')} |"
            )
            print(
                f"| {label} | compile only ({mine['model_bytes']:,} bytes) | "
                f"{cell(mine, 'compile_ms', 'ms')} | n/a |"
            )
            print(
                f"| {label} | load compiled model vs. reference load | "
                f"{cell(mine, 'compiled_load_ms', 'ms')} | {cell(theirs, 'goal_load_ms', 'ms')} |"
            )
            print(
                f"| {label} | resolve_variable | {cell(mine, 'resolves_per_s', '/s')} | "
                f"{cell(theirs, 'resolves_per_s', '/s')} |"
            )
            if theirs:
                speedup = mine["resolves_per_s"] / theirs["resolves_per_s"]
                load_ratio = theirs["goal_load_ms"] / mine["compiled_load_ms"]
                ratios.append(
                    f"{label}: resolve_variable {speedup:.1f}x the reference (goal 10x), "
                    f"compiled load {load_ratio:.1f}x faster than its load (goal 5x)"
                )
        if reference is not None:
            reference.close()
        if ratios:
            print("\nIssue 4 goals, this run:")
            for line in ratios:
                print(f"- {line}")
        goal = generate(
            Path(scratch) / "goal", args.goal_variables, args.goal_qualifiers, args.goal_entries
        )
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            compiled.compile_tree(goal, source=str(goal), fingerprint="bench")
            times.append(time.perf_counter() - start)
        print(
            f"\ncompile of a generated workspace with {args.goal_variables} variables, "
            f"{args.goal_qualifiers + 5} qualifiers and {args.goal_entries + 2} catalog entries: "
            f"median {statistics.median(times) * 1000:,.0f} ms (goal: under 2 s)"
        )


if __name__ == "__main__":
    main()
