"""Drives the reference `rototo.RefreshingWorkspace` (0.1.0a5) inside `.venv-oracle`.

A conversation, one JSON object per line each way, so a test can change a git repository
between steps. Requests: {"op": "load", "source": str}, {"op": "refresh_now"},
{"op": "status", "fields": [names]}, {"op": "resolve_variable", "id": str, "context": object},
{"op": "shutdown"}. Each answer is {"ok": value} or {"error": message}; a status is its
fields as an object. The product never imports the reference; tests reach it only here.
"""

import asyncio
import json
import os
import sys
from typing import Any

import rototo  # type: ignore[import-not-found]


async def answer(state: dict[str, Any], request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "load":
        state["workspace"] = await rototo.RefreshingWorkspace.load(request["source"])
        return True
    workspace = state["workspace"]
    if op == "refresh_now":
        return await workspace.refresh_now()
    if op == "status":
        status = await workspace.status()
        return {name: getattr(status, name) for name in request["fields"]}
    if op == "resolve_variable":
        resolution = await workspace.resolve_variable(request["id"], request.get("context", {}))
        return {"id": resolution.id, "value": resolution.value, "source": resolution.source}
    if op == "shutdown":
        await workspace.shutdown()
        return True
    raise ValueError(f"unknown op {op!r}")


async def main() -> None:
    state: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        try:
            reply = {"ok": await answer(state, json.loads(line))}
        except rototo.RototoError as error:
            reply = {"error": str(error)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


asyncio.run(main())
# The reference's native runtime threads can abort during interpreter finalization; every
# answer is already written, so skip it (as oracle_worker.py does).
os._exit(0)
