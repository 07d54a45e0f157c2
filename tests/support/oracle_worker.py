"""Runs inside the reference engine's own virtual environment (`.venv-oracle`).

Reads a JSON list of requests on stdin, answers a JSON list of results on stdout. The
product never imports the reference; tests talk to it only through this process.

Requests: {"op": "lint" | "load" | "resolve_variable" | "resolve_qualifier", "source": str,
"id": str, "context": object, "validate_context": bool}. Each result is {"ok": value} or
{"error": message}.
"""

import asyncio
import json
import os
import sys
from typing import Any

import rototo  # type: ignore[import-not-found]


async def answer(request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    try:
        if op == "lint":
            workspace = await rototo.Workspace.inspect(request["source"])
            return {"ok": await workspace.lint()}
        workspace = await rototo.Workspace.load(request["source"])
        if op == "load":
            return {"ok": True}
        validate = request.get("validate_context", True)
        if op == "resolve_variable":
            resolution = await workspace.resolve_variable(
                request["id"], request.get("context", {}), validate_context=validate
            )
            return {
                "ok": {"id": resolution.id, "value": resolution.value, "source": resolution.source}
            }
        if op == "resolve_qualifier":
            matched = await workspace.resolve_qualifier(
                request["id"], request.get("context", {}), validate_context=validate
            )
            return {"ok": matched}
        return {"error": f"unknown op {op!r}"}
    except rototo.RototoError as error:
        return {"error": str(error)}


async def main() -> None:
    requests = json.load(sys.stdin)
    results = [await answer(request) for request in requests]
    json.dump(results, sys.stdout)
    sys.stdout.flush()


asyncio.run(main())
# The reference's native runtime threads can abort during interpreter finalization
# ("PyGILState_Release ... finalizing"); the answer is already written, so skip it.
os._exit(0)
