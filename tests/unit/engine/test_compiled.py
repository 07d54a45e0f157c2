"""The compiled runtime model: canonical bytes, digest rules, loading, resolution copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from rototo_operator.engine import compiled, expressions
from rototo_operator.engine.compiled import (
    FORMAT,
    CompiledModel,
    LintFailedError,
    canonical_json,
    compile_tree,
)
from rototo_operator.errors import ResolutionError, WorkspaceLoadError

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
ACCOUNT = EXAMPLES / "account-config"
SCHEMA = json.loads((REPO / "docs" / "compiled-format.schema.json").read_text())
ENTERPRISE = {"account": {"id": "acct-1", "plan": "enterprise", "region": "eu-west-1"}}


def compile_account(**kwargs: str) -> CompiledModel:
    options = {"source": str(ACCOUNT), "fingerprint": "sha256:test"} | kwargs
    return compile_tree(ACCOUNT, **options)


def test_compiling_twice_gives_identical_bytes() -> None:
    assert compile_account().to_bytes() == compile_account().to_bytes()


def test_bytes_are_canonical_json() -> None:
    data = compile_account().to_bytes()
    assert data == canonical_json(json.loads(data))
    assert b"\n" not in data
    assert json.loads(data)["format"] == FORMAT


def test_digest_ignores_where_the_model_came_from() -> None:
    one = compile_account(source="git+https://example.invalid/a.git#main", fingerprint="git:1")
    two = compile_account(source="/elsewhere", fingerprint="git:2")
    assert one.digest == two.digest
    assert one.to_bytes() != two.to_bytes()
    assert one.digest.startswith("sha256:")


def test_digest_covers_the_content(tmp_path: Path) -> None:
    copy = shutil.copytree(ACCOUNT, tmp_path / "copy")
    (copy / "variables" / "payout-delay-days.toml").write_text(
        'schema_version = 1\ntype = "int"\n[resolve]\ndefault = 6\n'
    )
    changed = compile_tree(copy, source=str(ACCOUNT), fingerprint="sha256:test")
    assert changed.digest != compile_account().digest


@pytest.mark.parametrize(
    "workspace", sorted(p.parent for p in EXAMPLES.glob("*/rototo-workspace.toml"))
)
def test_compiled_examples_match_the_documented_schema(workspace: Path) -> None:
    if "extends" in (workspace / "rototo-workspace.toml").read_text():
        workspace = ACCOUNT  # the layered example needs staging; its parent stands in
    model = compile_tree(workspace, source=str(workspace), fingerprint="sha256:test")
    validator = jsonschema_rs.validator_for(SCHEMA, offline=True)
    validator.validate(json.loads(model.to_bytes()))


def test_round_trip_through_bytes_resolves_the_same() -> None:
    model = compile_account()
    loaded = CompiledModel.from_bytes(model.to_bytes())
    assert loaded.digest == model.digest
    for variable in model.variable_ids:
        assert loaded.resolve_variable(variable, ENTERPRISE) == model.resolve_variable(
            variable, ENTERPRISE
        )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="rototo.compiled/v9"), "unsupported compiled model format"),
        (lambda d: d["workspace"]["variables"].clear(), "digest mismatch"),
        (lambda d: d.update(digest="sha256:" + "0" * 64), "digest mismatch"),
    ],
)
def test_tampered_models_are_refused(mutate: object, message: str) -> None:
    document = json.loads(compile_account().to_bytes())
    mutate(document)  # type: ignore[operator]
    with pytest.raises(WorkspaceLoadError, match=message):
        CompiledModel.from_bytes(canonical_json(document))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b"\xff\xfe",
        b'{"format": "rototo.compiled/v1", "x": NaN}',
        b'{"format": "rototo.compiled/v1", "x": 1e999}',
    ],
)
def test_corrupt_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(WorkspaceLoadError):
        CompiledModel.from_bytes(data)


def test_shape_errors_are_refused_even_with_a_matching_digest() -> None:
    document = json.loads(compile_account().to_bytes())
    document["workspace"]["variables"]["account-limits"]["default"] = {"kind": "mystery"}
    from rototo_operator.engine.compiled import content_digest

    document["digest"] = content_digest(document)
    with pytest.raises(WorkspaceLoadError, match="does not match"):
        CompiledModel.from_bytes(canonical_json(document))


def test_lint_errors_stop_compilation(tmp_path: Path) -> None:
    copy = shutil.copytree(ACCOUNT, tmp_path / "copy")
    (copy / "qualifiers" / "paid-account.toml").write_text("schema_version = 1\n")
    with pytest.raises(LintFailedError) as failure:
        compile_tree(copy, source="x", fingerprint="y")
    assert "rototo/qualifier-when-missing" in {d.rule for d in failure.value.diagnostics}


def test_returned_values_are_independent_copies() -> None:
    model = compile_account()
    first, source = model.resolve_variable("account-limits", ENTERPRISE)
    first["features"].append("tampered")
    first["projects"] = -1
    source["value"] = "tampered"
    again, again_source = model.resolve_variable("account-limits", ENTERPRISE)
    assert "tampered" not in again["features"]
    assert again["projects"] == 1000
    assert again_source["value"] == "enterprise"


def test_context_is_copied_and_checked() -> None:
    model = compile_account()
    with pytest.raises(ResolutionError, match="must be a JSON object"):
        model.resolve_variable("account-limits", ["not", "an", "object"])
    with pytest.raises(ResolutionError, match="failed to convert"):
        model.resolve_variable("account-limits", {"account": {"plan": b"bytes"}})
    with pytest.raises(ResolutionError, match="does not match any compatible request context"):
        model.resolve_variable("account-limits", {"account": {"plan": "platinum"}})
    value, _ = model.resolve_variable(
        "account-limits", {"account": {"plan": "platinum"}}, validate_context=False
    )
    assert value["projects"] == 3


def test_unknown_targets() -> None:
    model = compile_account()
    with pytest.raises(ResolutionError, match="variable not found: variable://nope"):
        model.resolve_variable("nope", ENTERPRISE)
    with pytest.raises(ResolutionError, match="qualifier not found: qualifier://nope"):
        model.resolve_qualifier("nope", ENTERPRISE)
    assert model.resolve_qualifier("eu-region", ENTERPRISE) is True


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"account": {"plan": "free", "seats": 2**70}}, "JSON number out of range"),
        ({"account": {"plan": "free", 1: "x"}}, "'int' object is not an instance of 'str'"),
        ({"account": {"plan": "\ud800"}}, "surrogates not allowed"),
        ({"account": {"plan": "free", "x": object()}}, "unsupported type object"),
    ],
)
def test_contexts_json_cannot_hold_are_refused(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ResolutionError, match="failed to convert Python value to JSON") as error:
        compile_account().resolve_variable("payout-delay-days", context, validate_context=False)
    assert message in str(error.value)


def test_sequences_and_non_finite_floats_convert_like_json() -> None:
    context = {"account": {"plan": "growth", "tags": ("a", "b"), "x": float("nan")}}
    value, _ = compile_account().resolve_variable(
        "payout-delay-days", context, validate_context=False
    )
    assert value == 3


def test_expressions_are_built_once_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = CompiledModel.from_bytes(compile_account().to_bytes())

    def answers() -> dict[str, Any]:
        return {
            **{v: loaded.resolve_variable(v, ENTERPRISE) for v in loaded.variable_ids},
            **{q: loaded.resolve_qualifier(q, ENTERPRISE) for q in loaded.qualifier_ids},
        }

    before = answers()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an expression was parsed or compiled during resolution")

    monkeypatch.setattr(compiled, "expression_from_json", refuse)
    monkeypatch.setattr(expressions, "parse_expression", refuse)
    monkeypatch.setattr(expressions.Expression, "compile", refuse)
    assert loaded.qualifier_ids
    for _ in range(3):
        assert answers() == before


def test_indented_model_loads_like_the_canonical_one() -> None:
    model = compile_account()
    indented = json.dumps(json.loads(model.to_bytes()), indent=2).encode()
    loaded = CompiledModel.from_bytes(indented)
    assert loaded.to_bytes() == model.to_bytes()
    assert loaded.digest == model.digest
    assert loaded.resolve_variable("account-limits", ENTERPRISE) == model.resolve_variable(
        "account-limits", ENTERPRISE
    )
