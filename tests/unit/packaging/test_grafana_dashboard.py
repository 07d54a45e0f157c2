"""docs/grafana-dashboard.json queries only series the operator really exports.

The exported names are taken from the operator's own metrics registry after it has
observed a refresh, as Prometheus would scrape them (``_total``, ``_bucket``, ... included),
so renaming a metric in the controller breaks this test rather than a dashboard in
production. The metric names in each PromQL expression are found by dropping strings,
label matchers, range selectors, grouping clauses, function calls and keywords.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.controller import metrics

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "docs" / "grafana-dashboard.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def exported_series() -> set[str]:
    """Sample names in the operator's exposition after one refresh of each outcome."""
    registry = metrics.Metrics()
    for outcome in ("unchanged", "refreshed", "immutable", "failed"):
        registry.observe_attempt("ns", "ws", outcome, 0.2)
    registry.set_state(
        "ns", "ws", fingerprint="git:abc", consecutive_failures=1, last_success=1.0, stale=True
    )
    registry.leader.set(1)
    names = set()
    for line in registry.render().decode().splitlines():
        if line and not line.startswith("#"):
            names.add(IDENTIFIER.match(line).group(0))  # type: ignore[union-attr]
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (enough PromQL for dashboards)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings, including label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    names = set()
    for match in IDENTIFIER.finditer(text):
        name = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or name.lower() in KEYWORDS:
            continue  # a function call or an operator keyword
        if re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


def queries(node: Any) -> Iterator[str]:
    """Every PromQL expression in the dashboard: panel targets and variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            is_promql = key == "expr" or (key == "query" and "(" in str(value))
            if is_promql and isinstance(value, str):
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def label_values_metric(query: str) -> str | None:
    match = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)", query)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_label_values_queries_name_their_metric() -> None:
    assert label_values_metric('label_values(m{a=~"$b"}, name)') == "m"
    assert label_values_metric("sum(m)") is None


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{x=~"$ns", y="b c"}[5m]))) '
        "/ ignoring(z) time() - b or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b"}


def test_exported_series_include_the_suffixed_forms() -> None:
    series = exported_series()
    assert "rototo_workspace_refresh_total" in series
    assert "rototo_workspace_refresh_duration_seconds_bucket" in series


def test_every_query_references_only_exported_series(dashboard: dict[str, Any]) -> None:
    exported = exported_series()
    found = list(queries(dashboard))
    assert len(found) >= 10, "the dashboard should have its panels' queries"
    for expr in found:
        variable_metric = label_values_metric(expr)
        names = {variable_metric} if variable_metric else metric_names(expr)
        assert names, f"query references no metric: {expr}"
        unknown = names - exported
        assert not unknown, f"{expr!r} references {sorted(unknown)} the operator does not export"


def test_every_exported_metric_family_has_a_panel(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(q) for q in queries(dashboard)))
    families = {
        "rototo_workspace_info",
        "rototo_workspace_refresh_total",
        "rototo_workspace_consecutive_failures",
        "rototo_workspace_last_success_timestamp_seconds",
        "rototo_workspace_stale",
        "rototo_workspace_refresh_duration_seconds_bucket",
        "rototo_operator_leader",
    }
    assert families <= exported_series()
    assert families <= used


def test_panels_have_unique_ids_and_use_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
