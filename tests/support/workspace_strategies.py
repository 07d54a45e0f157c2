"""Hypothesis strategies for broken workspaces: arbitrary bytes, TOML pieces, JSON shapes.

Used by the lint robustness test (lint never raises) and by the differential test that
compares generated broken workspaces with the reference engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

SCHEMA_WORDS = [
    "type",
    "properties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
    "$defs",
    "required",
    "x-rototo-catalog-ref",
    "x-rototo-ui",
    "widget",
    "min",
    "max",
    "enum",
    "$id",
    "a",
    "e",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "e", "object", "#/a"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(SCHEMA_WORDS), children, max_size=4)
    ),
    max_leaves=12,
)
TOML_PIECES = [
    "schema_version = 1\n",
    'type = "catalog:c"\n',
    'type = "list<int>"\n',
    "[resolve]\n",
    'default = "e"\n',
    "[[resolve.rule]]\n",
    "when = 'qualifier[\"q\"]'\n",
    'value = "e"\n',
    "query = 'entry.a == 1'\n",
    "[values]\n",
    "x = [1,\n",
    "when = 5\n",
    "rule = [1]\n",
    "é = '😀'\n",
]
toml_texts = st.lists(st.sampled_from(TOML_PIECES), max_size=8).map("".join)


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _latin1(raw: bytes) -> str:
    return raw.decode("latin-1")


# One file per document kind, each possibly malformed; the manifest stays valid.
workspace_files = st.fixed_dictionaries(
    {
        "catalogs/c.schema.json": json_values.map(json.dumps),
        "catalogs/c-entries/e.toml": st.binary(max_size=60),
        "request-contexts/r.schema.json": json_values.map(json.dumps),
        "request-contexts/r-entries/s.json": json_values.map(json.dumps),
        "variables/v.toml": toml_texts,
        "qualifiers/q.toml": toml_texts | st.binary(max_size=40).map(_latin1),
    }
)
