"""Built-in lint rules on small workspaces: rule, stage, location, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rototo_operator.engine.lint import lint_tree

CONTEXT = (
    '{"type": "object", "properties": {"account": {"type": "object",'
    ' "properties": {"plan": {"type": "string"}, "id": {"type": "string"}}}}}'
)


def workspace(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rototo-workspace.toml").write_text("schema_version = 1\n")
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def found(root: Path) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for diagnostic in lint_tree(root):
        where = "-"
        if diagnostic.location.range is not None:
            start, end = diagnostic.location.range.start, diagnostic.location.range.end
            where = f"{start.line}:{start.character}-{end.line}:{end.character}"
        rows.append((diagnostic.rule, diagnostic.stage, diagnostic.location.path, where))
    return rows


def test_missing_manifest_is_a_discover_diagnostic(tmp_path: Path) -> None:
    assert found(tmp_path) == [
        ("rototo/workspace-manifest-missing", "discover", str(tmp_path.resolve()), "-")
    ]


def test_missing_directory(tmp_path: Path) -> None:
    [(rule, stage, _, _)] = found(tmp_path / "absent")
    assert (rule, stage) == ("rototo/workspace-not-found", "discover")


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("", "workspace manifest must declare schema_version = 1"),
        ("schema_version = 2\n", "unsupported workspace schema_version: 2"),
        ('schema_version = 1\nextends = "../base"\n', "extends must be an array"),
        ('schema_version = 1\nextends = [" ../base "]\n', "surrounding whitespace"),
        ('schema_version = 1\nextends = [""]\n', "must not be blank"),
        ("schema_version = 1\nextends = [1]\n", "must be strings"),
    ],
)
def test_manifest_shape(tmp_path: Path, manifest: str, message: str) -> None:
    (tmp_path / "rototo-workspace.toml").write_text(manifest)
    [diagnostic] = lint_tree(tmp_path)
    assert diagnostic.rule == "rototo/workspace-manifest-schema-failed"
    assert message in diagnostic.message


def test_parse_failures_point_at_the_error(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "variables/broken.toml": 'schema_version = 1\ntype = "int"\n[resolve\n',
            "catalogs/c.schema.json": '{"type": "object",\n',
            "variables/binary.toml": b"\xff\xfe",
        },
    )
    assert found(root) == [
        ("rototo/catalog-parse-failed", "parse", "catalogs/c.schema.json", "1:0-1:0"),
        ("rototo/variable-parse-failed", "parse", "variables/binary.toml", "-"),
        ("rototo/variable-parse-failed", "parse", "variables/broken.toml", "2:8-3:0"),
    ]


def test_type_and_value_rules_with_ranges(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "variables/v.toml": (
                'schema_version = 1\ntype = "int"\n[resolve]\ndefault = "x"\n'
                '[[resolve.rule]]\nwhen = "true"\nvalue = 1.5\n'
            ),
            "variables/w.toml": 'schema_version = 1\ntype = "money"\n[resolve]\ndefault = 1\n',
        },
    )
    assert found(root) == [
        ("rototo/variable-value-type-mismatch", "value", "variables/v.toml", "3:10-3:13"),
        ("rototo/variable-value-type-mismatch", "value", "variables/v.toml", "6:8-6:11"),
        ("rototo/variable-unknown-type", "value", "variables/w.toml", "1:7-1:14"),
    ]


def test_rule_shapes(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "variables/v.toml": (
                'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "a"\n'
                'rule = [1, { value = "x" }]\n'
            ),
        },
    )
    assert found(root) == [
        ("rototo/variable-rule-shape", "project", "variables/v.toml", "4:8-4:9"),
        ("rototo/variable-rule-shape", "project", "variables/v.toml", "4:11-4:26"),
    ]


def test_graph_rules(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "request-contexts/request.schema.json": CONTEXT,
            "qualifiers/paid.toml": "schema_version = 1\nwhen = 'context.account.plan == \"p\"'\n",
            "qualifiers/unused.toml": "schema_version = 1\nwhen = 'context.account.id == \"x\"'\n",
            "qualifiers/self.toml": "schema_version = 1\nwhen = 'qualifier[\"self\"]'\n",
            "variables/v.toml": (
                'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "a"\n'
                '[[resolve.rule]]\nwhen = \'qualifier["paid"]\'\nvalue = "a"\n'
                '[[resolve.rule]]\nwhen = \'qualifier["paid"]\'\nvalue = "b"\n'
            ),
        },
    )
    rules = {(rule, path) for rule, _, path, _ in found(root)}
    assert rules == {
        ("rototo/qualifier-cycle", "qualifiers/self.toml"),
        ("rototo/qualifier-unreferenced", "qualifiers/unused.toml"),
        ("rototo/variable-rule-selects-default-value", "variables/v.toml"),
        ("rototo/variable-rule-shadowed", "variables/v.toml"),
    }


def test_context_compatibility(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "request-contexts/request.schema.json": CONTEXT,
            "qualifiers/q.toml": "schema_version = 1\nwhen = 'context.user.email == \"x\"'\n",
            "variables/v.toml": (
                'schema_version = 1\ntype = "bool"\n[resolve]\ndefault = false\n'
                "[[resolve.rule]]\nwhen = 'qualifier[\"q\"]'\nvalue = true\n"
            ),
        },
    )
    assert [row[0] for row in found(root)] == ["rototo/qualifier-no-compatible-request-context"]


def test_catalog_entries_are_validated(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "catalogs/c.schema.json": '{"type": "object", "required": ["x"]}',
            "catalogs/c-entries/bad.toml": "y = 1\n",
            "catalogs/c-entries/good.toml": "x = 1\n",
            "variables/v.toml": (
                'schema_version = 1\ntype = "catalog:c"\n[resolve]\ndefault = "nope"\n'
            ),
        },
    )
    assert found(root) == [
        ("rototo/catalog-entry-schema-mismatch", "value", "catalogs/c-entries/bad.toml", "0:0-1:0"),
        ("rototo/variable-unknown-value", "reference", "variables/v.toml", "3:10-3:16"),
    ]


def test_symlink_escape_is_unreadable(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text("schema_version = 1\nwhen = 'true'\n")
    root = workspace(tmp_path / "ws", {})
    (root / "qualifiers").mkdir()
    (root / "qualifiers" / "leak.toml").symlink_to(outside)
    [diagnostic] = lint_tree(root)
    assert diagnostic.rule == "rototo/qualifier-parse-failed"
    assert "path escapes workspace" in diagnostic.message


def test_headline_is_compiler_style(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {"variables/v.toml": 'schema_version = 1\ntype = "bool"\n[resolve]\ndefault = 1\n'},
    )
    [diagnostic] = lint_tree(root)
    assert diagnostic.headline() == (
        "variables/v.toml:4: error rototo/variable-value-type-mismatch "
        "resolve default does not match type bool: 1"
    )
    assert diagnostic.to_json()["target"] == {
        "entity": {"kind": "variable", "id": "v"},
        "field": {"kind": "variable_resolve_default"},
    }
