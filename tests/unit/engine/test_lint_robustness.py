"""Lint never raises for bad input: arbitrary bytes and JSON shapes become diagnostics."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rototo_operator.engine.compiled import compile_tree
from rototo_operator.engine.lint import lint_tree
from rototo_operator.errors import RototoError
from tests.support.workspace_strategies import json_values, toml_texts, write


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=json_values,
    context=json_values,
    sample=json_values,
    variable=toml_texts,
    qualifier=toml_texts | st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    entry=st.binary(max_size=60),
)
def test_lint_and_compile_never_raise_unexpectedly(
    *, schema: Any, context: Any, sample: Any, variable: str, qualifier: str, entry: bytes
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write(
            root,
            {
                "rototo-workspace.toml": "schema_version = 1\n",
                "catalogs/c.schema.json": json.dumps(schema),
                "catalogs/c-entries/e.toml": entry,
                "request-contexts/r.schema.json": json.dumps(context),
                "request-contexts/r-entries/s.json": json.dumps(sample),
                "variables/v.toml": variable,
                "qualifiers/q.toml": qualifier,
            },
        )
        diagnostics = lint_tree(root)
        assert all(d.location.path for d in diagnostics)
        try:
            compile_tree(root, source="test", fingerprint="test")
        except RototoError:
            assert any(d.is_error for d in diagnostics)
