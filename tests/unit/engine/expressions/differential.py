"""Differential checks of the expression profile against the reference engine.

`compare(cases)` writes temporary workspaces whose qualifiers carry the case
expressions (plus `t` = true and `f` = false for qualifier references), a request
context schema declaring every context path read, and asks the reference (one process
per batch, through tests/support/oracle.py) to resolve each (expression, context) pair
with context validation off. The same pairs are evaluated here; the outcomes are
`{"ok": bool}` or `{"error": message}`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rototo_operator.engine.expressions import (
    ExpressionEvalError,
    QualifierEvaluator,
    parse_expression,
)
from tests.support import deviations, oracle

Case = tuple[str, Any]  # (when expression, context object)
Outcome = dict[str, Any]

# They read a declared path: the reference's lint finds a qualifier that reads no context
# compatible with no request context, and that would spill onto every qualifier using them.
FIXTURE_PATH = ("rototo_fixture",)
FIXED_QUALIFIERS = {
    "t": "has(context.rototo_fixture) || true",
    "f": "has(context.rototo_fixture) && false",
}
# Requests per oracle process: each request loads (and lints) the workspace again.
BATCH_REQUESTS = 4000
QUALIFIERS_PER_WORKSPACE = 8


def _schema_for(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    root: dict[str, Any] = {"type": "object", "properties": {}}
    # The reference's lint names a path by its dotted form, so declare that split too.
    for path in {*paths, *(tuple(".".join(p).split(".")) for p in paths)}:
        node = root
        for segment in path:
            node = node.setdefault("properties", {}).setdefault(segment, {})
    return root


def _toml_string(text: str) -> str:
    """A TOML basic string: control characters (and DEL) escaped, everything else kept."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def write_workspace(directory: Path, whens: Sequence[str]) -> list[str]:
    """Write one workspace with a qualifier per expression; return their ids."""
    (directory / "qualifiers").mkdir(parents=True)
    (directory / "request-contexts").mkdir()
    (directory / "rototo-workspace.toml").write_text("schema_version = 1\n")
    ids = []
    paths: set[tuple[str, ...]] = {FIXTURE_PATH}
    for qualifier_id, when in FIXED_QUALIFIERS.items():
        (directory / "qualifiers" / f"{qualifier_id}.toml").write_text(
            f"schema_version = 1\nwhen = {_toml_string(when)}\n"
        )
    for index, when in enumerate(whens):
        qualifier_id = f"q{index}"
        ids.append(qualifier_id)
        paths |= parse_expression(when).context_paths()
        (directory / "qualifiers" / f"{qualifier_id}.toml").write_text(
            f"schema_version = 1\nwhen = {_toml_string(when)}\n", encoding="utf-8"
        )
    (directory / "request-contexts" / "request.schema.json").write_text(
        json.dumps(_schema_for(paths))
    )
    return ids


def ours(whens: dict[str, str], qualifier_id: str, context: Any) -> Outcome:
    predicates = {key: parse_expression(text).compile() for key, text in whens.items()}
    try:
        return {"ok": QualifierEvaluator(predicates, context).resolve(qualifier_id)}
    except ExpressionEvalError as error:
        return {"error": str(error)}


def compare(cases: Sequence[Case]) -> list[tuple[Case, Outcome, Outcome]]:
    """Run every case on both engines; return (case, reference, ours) triples."""
    oracle.require()
    whens = sorted({when for when, _ in cases})
    contexts_by_when: dict[str, list[Any]] = {}
    for when, context in cases:
        contexts_by_when.setdefault(when, []).append(context)
    results: list[tuple[Case, Outcome, Outcome]] = []
    with tempfile.TemporaryDirectory(prefix="rototo-expr-diff-") as tmp:
        requests: list[dict[str, Any]] = []
        pending: list[tuple[Case, dict[str, str], str]] = []
        for chunk_start in range(0, len(whens), QUALIFIERS_PER_WORKSPACE):
            chunk = whens[chunk_start : chunk_start + QUALIFIERS_PER_WORKSPACE]
            directory = Path(tmp) / f"ws{chunk_start}"
            ids = write_workspace(directory, chunk)
            qualifier_whens = dict(FIXED_QUALIFIERS) | dict(zip(ids, chunk, strict=True))
            for qualifier_id, when in zip(ids, chunk, strict=True):
                for context in contexts_by_when[when]:
                    requests.append(
                        {
                            "op": "resolve_qualifier",
                            "source": str(directory),
                            "id": qualifier_id,
                            "context": context,
                            "validate_context": False,
                        }
                    )
                    pending.append(((when, context), qualifier_whens, qualifier_id))
        answers: list[dict[str, Any]] = []
        for start in range(0, len(requests), BATCH_REQUESTS):
            answers.extend(oracle.ask(requests[start : start + BATCH_REQUESTS], timeout=600))
        for (case, qualifier_whens, qualifier_id), answer in zip(pending, answers, strict=True):
            results.append((case, answer, ours(qualifier_whens, qualifier_id, case[1])))
    return results


def same(reference: Outcome, mine: Outcome) -> bool:
    """Outcomes agree; regex syntax errors agree on their stable prefix only."""
    if reference == mine:
        return True
    prefix = "regex is invalid: regex parse error"
    return (
        "error" in reference
        and "error" in mine
        and reference["error"].startswith(prefix)
        and mine["error"].startswith(prefix)
    )


def mismatches(cases: Sequence[Case]) -> list[str]:
    """Human-readable lines for every case where the engines disagree.

    Cases covered by a documented deviation (non-ASCII string literals, see
    docs/compatibility.md) are left out; unit tests pin our behaviour for them.
    """
    compared = [case for case in cases if not deviations.non_ascii_string_literal(case[0])]
    return [
        f"{case[0]!r} with {json.dumps(case[1], ensure_ascii=False)}: "
        f"reference {reference}, ours {mine}"
        for case, reference, mine in compare(compared)
        if not same(reference, mine)
    ]
