"""Generated broken workspaces: our engine and the reference agree on every one.

Hypothesis builds batches of small workspaces whose catalog schema and entry, request
context schema and sample, variable and qualifier are each arbitrary bytes, TOML pieces
or JSON shapes (`tests/support/workspace_strategies.py`). Each batch goes to the reference
in one process. Agreement is what issue 4 asks of broken input: the same multiset of lint
(rule, severity, path), the same load success or failure, and the same resolved value
and source (or both an error) for every variable and qualifier against each sample.

Ranges are not compared here: for garbage TOML the parser error can be located
differently (docs/compatibility.md); hand-written cases compare ranges too.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance import differential
from tests.support import oracle
from tests.support.workspace_strategies import workspace_files, write

pytestmark = [pytest.mark.oracle, pytest.mark.timeout(600)]
BATCH = 40


def _agreement(request: dict[str, Any], answer: dict[str, Any]) -> Any:
    if "error" in answer:
        return "error"
    if request["op"] == "lint":
        found = Counter(
            (item["rule"], item["severity"], item["location"]["path"])
            for item in answer["ok"]["diagnostics"]
        )
        return sorted(found.items())
    return answer["ok"]


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(workspace_files, min_size=BATCH, max_size=BATCH))
def test_generated_broken_workspaces_match_reference(batch: list[dict[str, Any]]) -> None:
    oracle.require()
    with tempfile.TemporaryDirectory(prefix="rototo-broken-") as scratch:
        requests: list[dict[str, Any]] = []
        for index, files in enumerate(batch):
            root = Path(scratch) / f"w{index}"
            write(root, {"rototo-workspace.toml": "schema_version = 1\n", **files})
            requests.extend(differential.questions(root, loads=True))
        theirs = oracle.ask(requests, timeout=600)
        mine = differential.ask_ours(requests)
        differ = [
            f"{Path(request['source']).name} {request['op']}: "
            f"reference {json.dumps(_agreement(request, their))[:300]}, "
            f"ours {json.dumps(_agreement(request, my))[:300]}"
            for request, their, my in zip(requests, theirs, mine, strict=True)
            if _agreement(request, their) != _agreement(request, my)
        ]
        # Every generated workspace was linted by both engines.
        assert sum(request["op"] == "lint" for request in requests) == BATCH
        assert not differ, "\n".join(differ[:10])
