"""Run the same questions through our engine and the reference, side by side.

`questions(workspace)` lists what to ask about one workspace: its lint, whether it loads,
and — when it loads — every variable and qualifier resolved against every stored request
context sample (plus an empty context, which exercises the error paths).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import rototo_operator as ours
from rototo_operator.errors import RototoError
from tests.conformance.conftest import diagnostic_key
from tests.support import oracle


def samples(workspace: Path) -> list[Any]:
    """Every stored request context sample, then the empty context."""
    found: list[Any] = []
    contexts = workspace / "request-contexts"
    if contexts.is_dir():
        for path in sorted(contexts.glob("*-entries/*.json")):
            try:
                found.append(json.loads(path.read_text()))
            except ValueError:
                continue
    found.append({})
    return found


def ids(workspace: Path, directory: str, suffix: str) -> list[str]:
    base = workspace / directory
    if not base.is_dir():
        return []
    return sorted(path.name[: -len(suffix)] for path in base.glob(f"*{suffix}") if path.is_file())


def questions(workspace: Path, *, loads: bool) -> list[dict[str, Any]]:
    source = str(workspace)
    asked: list[dict[str, Any]] = [
        {"op": "lint", "source": source},
        {"op": "load", "source": source},
    ]
    if not loads:
        return asked
    for context in samples(workspace):
        for validate in (True, False):
            for variable in ids(workspace, "variables", ".toml"):
                asked.append(
                    {
                        "op": "resolve_variable",
                        "source": source,
                        "id": variable,
                        "context": context,
                        "validate_context": validate,
                    }
                )
            for qualifier in ids(workspace, "qualifiers", ".toml"):
                asked.append(
                    {
                        "op": "resolve_qualifier",
                        "source": source,
                        "id": qualifier,
                        "context": context,
                        "validate_context": validate,
                    }
                )
    return asked


async def _answer(request: dict[str, Any], cache: dict[str, Any]) -> dict[str, Any]:
    source = request["source"]
    try:
        if request["op"] == "lint":
            workspace = await ours.Workspace.inspect(source)
            return {"ok": await workspace.lint()}
        if source not in cache:
            try:
                cache[source] = await ours.Workspace.load(source)
            except RototoError as error:
                cache[source] = error
        loaded = cache[source]
        if isinstance(loaded, RototoError):
            raise loaded
        if request["op"] == "load":
            return {"ok": True}
        validate = request.get("validate_context", True)
        if request["op"] == "resolve_variable":
            resolution = await loaded.resolve_variable(
                request["id"], request["context"], validate_context=validate
            )
            return {
                "ok": {"id": resolution.id, "value": resolution.value, "source": resolution.source}
            }
        return {
            "ok": await loaded.resolve_qualifier(
                request["id"], request["context"], validate_context=validate
            )
        }
    except RototoError as error:
        return {"error": str(error)}


def ask_ours(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cache: dict[str, Any] = {}

    async def run() -> list[dict[str, Any]]:
        return [await _answer(request, cache) for request in requests]

    return asyncio.run(run())


def comparable(request: dict[str, Any], answer: dict[str, Any]) -> Any:
    """What must agree: lint diagnostics' keys, ok/error outcomes, resolved values."""
    if "error" in answer:
        return "error"
    if request["op"] == "lint":
        return sorted(diagnostic_key(item) for item in answer["ok"]["diagnostics"])
    return answer["ok"]


def differences(requests: list[dict[str, Any]]) -> list[str]:
    theirs = oracle.ask(requests, timeout=600)
    mine = ask_ours(requests)
    found = []
    for request, their, my in zip(requests, theirs, mine, strict=True):
        if comparable(request, their) != comparable(request, my):
            label = {k: v for k, v in request.items() if k != "source"}
            found.append(
                f"{Path(request['source']).name} {json.dumps(label)[:200]}\n"
                f"   reference: {json.dumps(their)[:400]}\n   ours:      {json.dumps(my)[:400]}"
            )
    return found
