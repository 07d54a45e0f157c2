"""When the operator switches kopf's cluster scanning off (no cluster-scoped reads)."""

from __future__ import annotations

import pytest

from rototo_operator.controller import runner


@pytest.mark.parametrize(
    ("namespaces", "fixed"),
    [
        ((), False),
        (("team-a",), True),
        (("team-a", "team-b"), True),
        (("team-*",), False),
        (("team-a", "team-?"), False),
        (("!kube-system",), False),
        (("team-a,team-b",), False),
    ],
)
def test_only_exact_names_turn_scanning_off(namespaces: tuple[str, ...], fixed: bool) -> None:
    assert runner.fixed_namespaces(namespaces) is fixed
