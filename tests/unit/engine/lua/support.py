"""Test helpers: write small workspaces and project them into the custom lint view.

`project(root)` builds the view the engine hands to `run_custom_lint`, for the plain
workspaces these tests write (a manifest, qualifiers, primitive or catalog variables with
`[[resolve.rule]]`, catalogs and request contexts with entries). It follows the shape in
docs/custom-lint.md without the engine's validation: enough to drive parity tests.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support import oracle

BASE_WORKSPACE = {
    "rototo-workspace.toml": "schema_version = 1\nextends = []\n",
    "qualifiers/premium-users.toml": """
        schema_version = 1

        description = "Premium users"

        when = '(context.user.tier == "premium")'
    """,
    "variables/checkout.toml": """
        schema_version = 1

        description = "Checkout config"
        type = "catalog:checkout"

        [resolve]
        default = "control"

        [[resolve.rule]]
        when = 'qualifier["premium-users"]'
        value = "premium"
    """,
    "variables/limit.toml": """
        schema_version = 1
        type = "int"

        [resolve]
        default = 3

        [[resolve.rule]]
        when = 'qualifier["premium-users"]'
        value = 25
    """,
    "catalogs/checkout.schema.json": json.dumps(
        {
            "type": "object",
            "properties": {
                "variant": {"type": "string"},
                "owner": {"type": "string"},
                "max_tokens": {"type": "integer"},
            },
            "required": ["variant"],
        }
    ),
    "catalogs/checkout-entries/control.toml": 'variant = "control"\nmax_tokens = 100\n',
    "catalogs/checkout-entries/premium.toml": 'variant = "premium"\nmax_tokens = 9000\n',
    "request-contexts/request.schema.json": json.dumps(
        {
            "type": "object",
            "properties": {"user": {"type": "object", "properties": {"tier": {"type": "string"}}}},
        }
    ),
    "request-contexts/request-entries/premium.json": '{"user": {"tier": "premium"}}\n',
}


def write_workspace(root: Path, lint_files: dict[str, str]) -> Path:
    """The base workspace plus `lint/<name>` files; returns `root`."""
    files = dict(BASE_WORKSPACE)
    files.update({f"lint/{name}": text for name, text in lint_files.items()})
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def _uri(path: Path) -> str:
    return "file://" + quote(str(path), safe="/.-_~:")


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def project(root: Path) -> dict[str, Any]:
    root = root.resolve()
    manifest_path = root / "rototo-workspace.toml"
    manifest_toml = _toml(manifest_path)
    workspace: dict[str, Any] = {
        "version": 1,
        "root": str(root),
        "manifest": {
            "kind": "workspace",
            "uri": _uri(manifest_path),
            "path": "rototo-workspace.toml",
            "toml": manifest_toml,
            "extends": list(manifest_toml.get("extends", [])),
        },
        "qualifiers": {},
        "variables": {},
        "catalogs": {},
        "request_contexts": {},
    }
    for path in sorted((root / "qualifiers").glob("*.toml")):
        data = _toml(path)
        workspace["qualifiers"][path.stem] = {
            "kind": "qualifier",
            "id": path.stem,
            "uri": _uri(path),
            "path": f"qualifiers/{path.name}",
            "description": data.get("description"),
            "when": data.get("when"),
            "toml": data,
        }
    for path in sorted((root / "variables").glob("*.toml")):
        data = _toml(path)
        declared = str(data.get("type", ""))
        declaration = (
            {"kind": "catalog", "value": declared.removeprefix("catalog:")}
            if declared.startswith("catalog:")
            else {"kind": "primitive", "value": declared}
        )
        resolve = data.get("resolve", {})
        rules = [
            {
                "kind": "rule",
                "variable": path.stem,
                "index": index,
                "when": rule.get("when"),
                "query": None,
                "value": rule.get("value"),
            }
            for index, rule in enumerate(resolve.get("rule", []))
        ]
        workspace["variables"][path.stem] = {
            "kind": "variable",
            "id": path.stem,
            "uri": _uri(path),
            "path": f"variables/{path.name}",
            "description": data.get("description"),
            "declaration": declaration,
            "values": {},
            "resolve": {"kind": "resolve", "default": resolve.get("default"), "rules": rules},
            "toml": {**data, "values": {}},
        }
    for kind, suffix, entry_suffix, parse in (
        ("catalogs", "catalog", ".toml", _toml),
        ("request_contexts", "request_context", ".json", _json),
    ):
        directory = root / kind.replace("_", "-")
        for path in sorted(directory.glob("*.schema.json")):
            member_id = path.name.removesuffix(".schema.json")
            entries: dict[str, Any] = {}
            entry_dir = directory / f"{member_id}-entries"
            for entry_path in sorted(entry_dir.glob(f"*{entry_suffix}")):
                entries[entry_path.stem] = {
                    "kind": f"{suffix}_entry",
                    suffix: member_id,
                    "key": entry_path.stem,
                    "path": entry_path.relative_to(root).as_posix(),
                    "value": parse(entry_path),
                }
            workspace[kind][member_id] = {
                "kind": suffix,
                "id": member_id,
                "path": path.relative_to(root).as_posix(),
                "json": _json(path),
                "entries": entries,
            }
    return {"workspace": workspace, "locations": {}}


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def oracle_custom_diagnostics(root: Path) -> list[dict[str, Any]]:
    """The reference's diagnostics for `root` that custom lint produces."""
    oracle.require()
    answer = oracle.ask_one({"op": "lint", "source": str(root)})
    if "error" in answer:
        pytest.fail(f"reference lint failed: {answer['error']}")
    return [
        item
        for item in answer["ok"]["diagnostics"]
        if not item["rule"].startswith("rototo/") or item["rule"].startswith("rototo/custom-lint")
    ]
