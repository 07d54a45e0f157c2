"""A tiny service that answers from a mounted rototo workspace, hot-reading new versions.

The operator publishes a Workspace's compiled model to a ConfigMap; this pod mounts that
ConfigMap as a directory (``/etc/rototo/account-config``, never with ``subPath``, which
freezes the file) and reads it with the SDK's ``RefreshingWorkspace``. When the kubelet swaps
the volume's ``..data`` link to a new version, the next refresh period picks it up: no
restart. A refresh that fails (a half-written or corrupt file) keeps the last good version.

Routes:

- ``GET /resolve/<variable>?context=<json object>``: the variable's value for that context,
  with the fingerprint of the version that answered.
- ``GET /status``: the SDK's refresh status (fingerprint, last success, failures, ...).
- ``GET /healthz``: 200 once a workspace is loaded.

Settings come from the environment: ``ROTOTO_WORKSPACE_DIR`` (default
``/etc/rototo/account-config``), ``ROTOTO_REFRESH_SECONDS`` (default 5), ``PORT`` (default
8000), ``HOST`` (default 0.0.0.0). Run it with ``python app.py``; it needs only the
``rototo-operator`` distribution (its SDK) and aiohttp.

Limits: a demo. It answers one workspace and does no authentication.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import rototo_operator as rototo

WORKSPACE_KEY = web.AppKey("workspace", rototo.RefreshingWorkspace)


def settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if environ is None else environ)
    return {
        "directory": env.get("ROTOTO_WORKSPACE_DIR", "/etc/rototo/account-config"),
        "period_seconds": float(env.get("ROTOTO_REFRESH_SECONDS", "5")),
        "host": env.get("HOST", "0.0.0.0"),
        "port": int(env.get("PORT", "8000")),
    }


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def resolve(request: web.Request) -> web.Response:
    workspace = request.app[WORKSPACE_KEY]
    variable = request.match_info["variable"]
    raw = request.query.get("context", "{}")
    try:
        context = json.loads(raw)
    except json.JSONDecodeError as exc:
        return error(400, f"context is not JSON: {exc.msg} at character {exc.pos}")
    if not isinstance(context, dict):
        return error(400, "context must be a JSON object")
    # The fingerprint is read before resolving: a refresh in between makes it one version
    # older than the answer at worst, never newer.
    fingerprint = (await workspace.status()).current_fingerprint
    try:
        resolution = await workspace.resolve_variable(variable, context)
    except rototo.RototoError as exc:
        return error(422, str(exc))
    return web.json_response(
        {
            "variable": resolution.id,
            "value": resolution.value,
            "source": resolution.source,
            "fingerprint": fingerprint,
        }
    )


async def status(request: web.Request) -> web.Response:
    current = await request.app[WORKSPACE_KEY].status()
    return web.json_response(
        {
            "current_fingerprint": current.current_fingerprint,
            "last_success": current.last_success,
            "last_attempt": current.last_attempt,
            "consecutive_failures": current.consecutive_failures,
            "last_error": current.last_error,
            "refreshing": current.refreshing,
            "immutable": current.immutable,
        }
    )


async def healthz(request: web.Request) -> web.Response:
    loaded = (await request.app[WORKSPACE_KEY].status()).current_fingerprint is not None
    return web.json_response({"ok": loaded}, status=200 if loaded else 503)


def make_app(directory: str, period_seconds: float) -> web.Application:
    """The web application; the workspace loads on startup and shuts down on cleanup."""

    async def workspace_lifetime(app: web.Application) -> AsyncIterator[None]:
        # A failed initial load raises here, so the process exits instead of serving nothing.
        workspace = await rototo.RefreshingWorkspace.load(directory, period_seconds=period_seconds)
        app[WORKSPACE_KEY] = workspace
        try:
            yield
        finally:
            await workspace.shutdown()

    app = web.Application()
    app.cleanup_ctx.append(workspace_lifetime)
    app.router.add_get("/resolve/{variable}", resolve)
    app.router.add_get("/status", status)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> int:
    config = settings()
    try:
        web.run_app(
            make_app(config["directory"], config["period_seconds"]),
            host=config["host"],
            port=config["port"],
        )
    except rototo.RototoError as exc:
        # No workspace, no service: say why in one line and let the pod restart and retry.
        print(
            f"sample-app: cannot load the workspace from {config['directory']}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
