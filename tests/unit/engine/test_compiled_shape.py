"""The loader's shape check agrees with docs/compiled-format.schema.json.

`CompiledModel` checks a document's structure in the same pass that builds its runtime
tables. These tests mutate every structural spot of real compiled documents (drop a key,
add one, swap a value for one of another JSON type) and hold the loader to the published
schema: whatever the schema rejects, the loader refuses; whatever the schema accepts, the
loader either loads or refuses for a reason the schema cannot see (an unknown catalog
entry, an expression it cannot read), never for its shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from rototo_operator.engine.compiled import FORMAT, CompiledModel, compile_tree
from rototo_operator.errors import WorkspaceLoadError

REPO = Path(__file__).resolve().parents[3]
SCHEMA = jsonschema_rs.validator_for(
    json.loads((REPO / "docs" / "compiled-format.schema.json").read_text()), offline=True
)
SHAPE = f"compiled model does not match {FORMAT}: "

# Every selection kind, optional descriptions, rules with and without `when`.
SELECTIONS_WORKSPACE = {
    "rototo-workspace.toml": "schema_version = 1\n",
    "request-contexts/request.schema.json": (
        '{"type": "object", "properties": {"plan": {"type": "string"}}}'
    ),
    "request-contexts/request-entries/sample.json": '{"plan": "pro"}',
    "qualifiers/pro.toml": (
        'schema_version = 1\ndescription = "Paying plans"\nwhen = \'context.plan == "pro"\'\n'
    ),
    "catalogs/tier.schema.json": '{"type": "object", "properties": {"rank": {"type": "integer"}}}',
    "catalogs/tier-entries/low.toml": "rank = 1\n",
    "catalogs/tier-entries/high.toml": "rank = 9\n",
    "variables/tier.toml": (
        'schema_version = 1\ndescription = "Tier"\ntype = "catalog:tier"\n'
        '[resolve]\ndefault = "low"\n'
        '[[resolve.rule]]\nwhen = \'qualifier["pro"]\'\nvalue = "high"\n'
    ),
    "variables/tiers.toml": (
        'schema_version = 1\ntype = "list<catalog:tier>"\n[resolve]\ndefault = ["low"]\n'
        "[[resolve.rule]]\nwhen = 'qualifier[\"pro\"]'\n"
        "query = 'entry.rank > 5 && has(context.plan)'\n"
        "[[resolve.rule]]\nquery = 'entry.rank > 0 && has(context.plan)'\n"
    ),
    "variables/limit.toml": (
        'schema_version = 1\ntype = "int"\n[resolve]\ndefault = 1\n'
        "[[resolve.rule]]\nwhen = 'qualifier[\"pro\"]'\nvalue = 10\n"
    ),
}

# Subtrees the format leaves open (any JSON value), and expression internals, which the
# expression reader checks rather than the schema: mutated as a whole, not inside.
OPEN = {"entries", "samples", "schema", "value", "ast"}
REPLACEMENTS: list[Any] = [None, True, -1, 1.5, "x", [], ["x", "x"], {}, {"kind": "literal"}]


def _compiled(tmp_path: Path) -> list[dict[str, Any]]:
    root = tmp_path / "selections"
    for relative, text in SELECTIONS_WORKSPACE.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    documents = []
    for workspace in (root, REPO / "examples" / "account-config"):
        model = compile_tree(workspace, source=str(workspace), fingerprint="sha256:test")
        documents.append(json.loads(model.to_bytes()))
    return documents


def _spots(value: Any, where: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Paths of every structural member below `value` (open subtrees not entered)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        yield (*where, key)
        if key not in OPEN:
            yield from _spots(item, (*where, key))


def _mutations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for spot in _spots(document):
        *parent_path, last = spot
        for replacement in [*REPLACEMENTS, "drop"]:
            mutated = copy.deepcopy(document)
            parent: Any = mutated
            for part in parent_path:
                parent = parent[part]
            if replacement == "drop":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(replacement)
            yield f"{spot} -> {replacement!r}", mutated
    for spot in [(), *_spots(document)]:
        mutated = copy.deepcopy(document)
        parent = mutated
        for part in spot:
            parent = parent[part]
        if isinstance(parent, dict) and spot[-1:] != ("ast",) and not set(spot) & OPEN:
            parent["unexpected"] = 1
            yield f"{spot} + unexpected", mutated


def _load_error(document: dict[str, Any]) -> str | None:
    try:
        CompiledModel(document)
    except WorkspaceLoadError as error:
        return str(error)
    return None


def test_the_loader_refuses_exactly_what_the_schema_refuses(tmp_path: Path) -> None:
    checked = refused = 0
    for document in _compiled(tmp_path):
        assert SCHEMA.is_valid(document)
        assert _load_error(document) is None
        for label, mutated in _mutations(document):
            error = _load_error(mutated)
            if not SCHEMA.is_valid(mutated):
                assert error is not None, f"loaded a document the schema rejects: {label}"
                assert error.startswith((SHAPE, "compiled model holds an invalid expression")), (
                    label,
                    error,
                )
                refused += 1
            else:
                assert error is None or not error.startswith(SHAPE), (label, error)
            checked += 1
    # Both branches ran on many documents: the comparison is not vacuous.
    assert refused > 300
    assert checked - refused > 50


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["workspace"]["variables"].__setitem__("limit", []),
            "/workspace/variables/limit: expected an object",
        ),
        (
            lambda d: d["workspace"]["variables"]["limit"]["rules"][0].pop("index"),
            "/workspace/variables/limit/rules/0: missing index",
        ),
        (
            lambda d: d["workspace"]["variables"]["limit"]["rules"][0].__setitem__("index", True),
            "/workspace/variables/limit/rules/0/index: expected a non-negative integer",
        ),
        (
            lambda d: d["workspace"]["variables"]["tier"]["default"].__setitem__("kind", "query"),
            "/workspace/variables/tier/default/kind: expected one of literal, catalog, "
            "catalog_list",
        ),
        (
            lambda d: d["workspace"]["qualifiers"]["pro"].__setitem__("extra", 1),
            "/workspace/qualifiers/pro: unexpected extra",
        ),
        (
            lambda d: d["workspace"]["variables"]["tiers"]["request_contexts"].append("request"),
            "/workspace/variables/tiers/request_contexts: ids must be unique",
        ),
    ],
)
def test_shape_errors_name_the_spot(tmp_path: Path, mutate: Any, message: str) -> None:
    document = _compiled(tmp_path)[0]
    mutate(document)
    assert _load_error(document) == SHAPE + message


def test_invalid_expressions_name_the_spot(tmp_path: Path) -> None:
    document = _compiled(tmp_path)[0]
    document["workspace"]["variables"]["tiers"]["rules"][1]["select"]["query"]["ast"] = {"op": "??"}
    error = _load_error(document)
    assert error is not None
    assert error.startswith(
        "compiled model holds an invalid expression at /workspace/variables/tiers/rules/1/"
        "select/query: "
    )
