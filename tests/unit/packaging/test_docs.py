"""Documentation that must stay in step with the files it describes.

- docs/index.md links every page in docs/ (no orphan pages) and every link resolves;
- docs/install.md's values table names every key of the chart's values.yaml;
- the README's and the packaging pages' relative links resolve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
REQUIRED_PAGES = [
    "api.md",
    "operations.md",
    "security.md",
    "sdk.md",
    "sources.md",
    "engine.md",
    "expressions.md",
    "compiled-format.md",
    "custom-lint.md",
    "pods.md",
    "install.md",
    "benchmarks.md",
    "development.md",
]


def relative_links(page: Path) -> list[str]:
    links = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        links.append(target.split("#", 1)[0])
    return links


def test_index_links_every_required_page_and_every_page_in_docs() -> None:
    linked = set(relative_links(DOCS / "index.md"))
    missing = [p for p in REQUIRED_PAGES if p not in linked]
    assert not missing, f"docs/index.md does not link {missing}"
    orphans = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p.name not in linked]
    assert not orphans, f"docs/index.md does not link {orphans}"


@pytest.mark.parametrize(
    "page",
    [
        "docs/index.md",
        "docs/pods.md",
        "docs/install.md",
        "README.md",
        "examples/sample-app/README.md",
    ],
)
def test_relative_links_resolve(page: str) -> None:
    path = REPO / page
    broken = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not broken, f"{page} links to missing files: {broken}"


def leaf_keys(node: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys down to the values' leaves, stopping at objects the schema leaves free."""
    keys = []
    for key, value in node.items():
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and value and "properties" in sub:
            keys += leaf_keys(value, sub, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_install_values_table_names_every_value() -> None:
    chart = REPO / "charts" / "rototo-operator"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = json.loads((chart / "values.schema.json").read_text())
    text = (DOCS / "install.md").read_text()
    table = "\n".join(line for line in text.splitlines() if line.startswith("| `"))
    undocumented = []
    for key in leaf_keys(values, schema):
        parent = key.rsplit(".", 1)[0]
        candidates = (key, f"{parent}.*", parent)
        if not any(f"`{c}`" in table for c in candidates):
            undocumented.append(key)
    assert not undocumented, f"docs/install.md's values table lacks {undocumented}"
