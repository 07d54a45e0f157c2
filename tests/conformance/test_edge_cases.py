"""Differential tests over our own probing workspaces (tests/conformance/cases.py).

rototo's fixtures leave many rules and edge cases out (list types, catalog queries,
request context samples, schema references, UI hints, encodings, graph shapes); these
small workspaces cover them, compared question by question with the reference engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import cases, differential
from tests.support import oracle

pytestmark = pytest.mark.oracle


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_case_matches_reference(name: str, tmp_path: Path) -> None:
    oracle.require()
    workspace = cases.materialize(cases.CASES[name], tmp_path / name)
    requests = differential.questions(workspace, loads=True)
    assert differential.differences(requests) == []
