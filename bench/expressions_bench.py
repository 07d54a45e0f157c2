"""Expression profile speed: parse, compile, compiled evaluation, qualifier resolution.

Run: `.venv/bin/python bench/expressions_bench.py [--evals 200000] [--resolves 20000]`.

For a set of representative `when` expressions (comparisons, `in`, helpers, composed
qualifiers) it measures, in this process:

- parse: `parse_expression` per expression (median of many);
- compile: `Expression.compile()` on a fresh expression (median of many);
- evaluate: calls per second of the compiled predicate on one `EvalEnv`;
- resolve: calls per second of a fresh `QualifierEvaluator(...).resolve(id)`, i.e. one
  whole qualifier resolution with memoisation state built per call;

and, when the reference `rototo==0.1.0a5` is installed in `.venv-oracle`, the same
qualifiers resolved through its Python SDK (`await workspace.resolve_qualifier(id,
context, validate_context=False)`, timed in its own process). The reference's number
includes its SDK call overhead (Python -> Rust, context conversion), which is part of
what an application pays. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
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

from rototo_operator.engine.expressions import QualifierEvaluator, parse_expression  # noqa: E402

ORACLE_PYTHON = Path(os.environ.get("ROTOTO_ORACLE_PYTHON", ROOT / ".venv-oracle/bin/python"))

CONTEXT: dict[str, Any] = {
    "account": {"id": "acct-0042", "plan": "enterprise", "seats": 42, "kind": "regular"},
    "request": {"region": "DE", "ip": "10.2.3.4", "time": "2026-07-10T12:30:00+02:00"},
    "user": {"email": "ava@example.com", "roles": ["admin", "billing"]},
    "app": {"version": "1.7.3"},
}

QUALIFIERS: dict[str, str] = {
    "plan-eq": 'context.account.plan == "enterprise"',
    "region-in": 'context.request.region in ["DE", "FR", "NL"]',
    "seats-range": "context.account.seats >= 10 && context.account.seats < 100",
    "has-guard": '!has(context.account.contract_end) || context.account.contract_end == ""',
    "email-suffix": 'suffix(context.user.email, "@example.com")',
    "roles-contains": (
        'contains(context.user.roles, "admin") && contains(context.user.roles, "billing")'
    ),
    "regex": 'regex(context.user.email, "^[a-z]+@example\\\\.com$")',
    "glob": 'glob(context.user.email, "*@example.*")',
    "semver": 'semver(context.app.version, ">=1.4.0, <2.0.0")',
    "time-between": (
        'time_between(context.request.time, "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z")'
    ),
    "cidr": 'cidr(context.request.ip, ["10.0.0.0/8", "fd00::/8"])',
    "bucket": 'bucket(context.account.id, "search-ranking-hybrid-2026-06", 0, 2500)',
    "composed": (
        'qualifier["plan-eq"] && qualifier["region-in"] && !qualifier["bucket"]'
        ' || qualifier["semver"]'
    ),
}

REFERENCE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import rototo

    async def main(job):
        workspace = await rototo.Workspace.load(job["source"])
        results = {}
        for qid in job["ids"]:
            context = job["context"]
            for _ in range(200):
                await workspace.resolve_qualifier(qid, context, validate_context=False)
            count = job["resolves"]
            start = time.perf_counter()
            for _ in range(count):
                await workspace.resolve_qualifier(qid, context, validate_context=False)
            results[qid] = count / (time.perf_counter() - start)
        print(json.dumps(results))

    asyncio.run(main(json.load(sys.stdin)))
    """
)


def median_us(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def per_second(fn: Any, count: int) -> float:
    for _ in range(min(count, 1000)):
        fn()
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - start)


def write_workspace(directory: Path) -> None:
    (directory / "qualifiers").mkdir(parents=True)
    (directory / "request-contexts").mkdir()
    (directory / "rototo-workspace.toml").write_text("schema_version = 1\n")
    properties: dict[str, Any] = {}
    for qid, when in QUALIFIERS.items():
        (directory / "qualifiers" / f"{qid}.toml").write_text(
            f"schema_version = 1\nwhen = {json.dumps(when)}\n"
        )
        for path in parse_expression(when).context_paths():
            node = properties
            for segment in path:
                node = node.setdefault(segment, {}).setdefault("properties", {})
    schema = {"type": "object", "properties": properties}
    (directory / "request-contexts" / "request.schema.json").write_text(json.dumps(schema))


def reference(resolves: int) -> dict[str, float] | None:
    if not ORACLE_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="rototo-expr-bench-") as tmp:
        write_workspace(Path(tmp))
        job = {"source": tmp, "ids": list(QUALIFIERS), "context": CONTEXT, "resolves": resolves}
        completed = subprocess.run(
            [str(ORACLE_PYTHON), "-c", REFERENCE_SCRIPT],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=200_000)
    parser.add_argument("--resolves", type=int, default=20_000)
    args = parser.parse_args()

    predicates = {qid: parse_expression(when).compile() for qid, when in QUALIFIERS.items()}
    env = QualifierEvaluator(predicates, CONTEXT).env
    theirs = reference(args.resolves)
    print("| qualifier | parse | compile | evaluate (compiled) | resolve (fresh state) |"
          " reference resolve_qualifier |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for qid, when in QUALIFIERS.items():
        parse = median_us(lambda when=when: parse_expression(when), 2000)
        compile_ = median_us(lambda when=when: parse_expression(when).compile(), 2000) - parse
        predicate = predicates[qid]
        evaluate = per_second(lambda predicate=predicate: predicate(env), args.evals)
        resolve = per_second(
            lambda qid=qid: QualifierEvaluator(predicates, CONTEXT).resolve(qid), args.resolves
        )
        reference_rate = f"{theirs[qid]:,.0f} /s" if theirs else "n/a"
        print(
            f"| `{qid}` | {parse:.1f} µs | {compile_:.1f} µs | {evaluate:,.0f} /s |"
            f" {resolve:,.0f} /s | {reference_rate} |"
        )
    print()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
