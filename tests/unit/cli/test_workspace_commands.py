"""`rototo-operator lint | compile | resolve` end to end through `cli.main`, in process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rototo_operator.cli import main
from rototo_operator.cli.workspace_commands import parse_context
from rototo_operator.engine.compiled import CompiledModel

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "account-config"


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    workspace = tmp_path / "broken"
    shutil.copytree(EXAMPLE, workspace)
    (workspace / "variables" / "payout-delay-days.toml").write_text(
        'schema_version = 1\ntype = "int"\n\n[resolve]\ndefault = "seven"\n'
    )
    return workspace


def test_lint_clean_workspace_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(EXAMPLE)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_lint_prints_compiler_style_lines_and_fails(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(broken)]) == 1
    out = capsys.readouterr().out
    assert (
        "variables/payout-delay-days.toml:5: error rototo/variable-value-type-mismatch "
        'resolve default does not match type int: "seven"'
    ) in out
    assert "  help: " in out


def test_lint_json_has_reference_shape(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(broken), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["root"] == str(broken)
    (item,) = payload["diagnostics"]
    assert item["rule"] == "rototo/variable-value-type-mismatch"
    assert item["stage"] == "value"
    assert item["location"]["range"]["start"] == {"line": 4, "character": 10}


def test_lint_missing_manifest_is_a_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(tmp_path)]) == 1
    assert "rototo/workspace-manifest-missing" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["lint", "compile", "resolve"])
def test_unstageable_source_exits_2_with_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nowhere")
    argv = {
        "lint": ["lint", missing],
        "compile": ["compile", missing, "-o", str(tmp_path / "out.json")],
        "resolve": ["resolve", missing, "--variable", "account-limits", "-c", "a=1"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"error: workspace source {missing} does not exist\n"


def test_compile_writes_a_loadable_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "workspace.json"
    assert main(["compile", str(EXAMPLE), "-o", str(output)]) == 0
    model = CompiledModel.from_bytes(output.read_bytes())
    assert model.digest in capsys.readouterr().out
    assert "account-limits" in model.variable_ids


@pytest.mark.parametrize("where", ["missing-dir", "is-a-dir"])
def test_compile_to_unwritable_path_is_one_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "no-such-dir" / "out.json" if where == "missing-dir" else tmp_path
    assert main(["compile", str(EXAMPLE), "-o", str(output)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: cannot write {output}: ")
    assert captured.err.count("\n") == 1
    # The atomic write leaves no temporary file behind.
    assert not list(output.parent.glob(f".{output.name}.*"))


def test_compile_refuses_lint_errors(
    broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.json"
    assert main(["compile", str(broken), "-o", str(output)]) == 1
    assert not output.exists()
    assert "workspace lint failed" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["source", "compiled"])
def test_resolve_variable_json(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(EXAMPLE)
    if target == "compiled":
        source = str(tmp_path / "workspace.json")
        assert main(["compile", str(EXAMPLE), "-o", source]) == 0
        capsys.readouterr()
    args = ["resolve", source, "--variable", "account-limits", "-c", "account.plan=enterprise"]
    assert main([*args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source"] == {
        "kind": "catalog",
        "catalog": "account-limit-profile",
        "value": "enterprise",
    }
    assert payload["value"]["projects"] == 1000


def test_resolve_qualifier(capsys: pytest.CaptureFixture[str]) -> None:
    context = '{"account": {"plan": "growth", "id": "a-1"}}'
    assert main(["resolve", str(EXAMPLE), "--qualifier", "paid-account", "--context", context]) == 0
    assert capsys.readouterr().out.strip() == "true"


def test_resolve_failure_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["resolve", str(EXAMPLE), "--variable", "no-such-variable", "-c", "account.plan=free"]
    )
    assert code == 1
    assert (
        capsys.readouterr().err.strip() == "error: variable not found: variable://no-such-variable"
    )


def test_resolve_bad_context_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", str(EXAMPLE), "--qualifier", "paid-account", "-c", "plan"]) == 2
    assert "key.path=value" in capsys.readouterr().err


def test_context_values_merge_left_to_right(tmp_path: Path) -> None:
    file = tmp_path / "ctx.json"
    file.write_text('{"account": {"region": "eu-west-1"}}')
    merged = parse_context(
        [
            '{"account": {"plan": "free", "seats": 1}}',
            "account.seats=42",
            f"@{file}",
            "account.plan=growth",
            'service.lane="prod"',
        ]
    )
    assert merged == {
        "account": {"plan": "growth", "seats": 42, "region": "eu-west-1"},
        "service": {"lane": "prod"},
    }


def test_resolve_without_context_uses_stored_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", str(EXAMPLE), "--qualifier", "paid-account", "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    by_sample = {item["sample"]: item["value"] for item in answers}
    assert by_sample == {
        "request/enterprise-eu": True,
        "request/free-staging": False,
        "request/growth-us": True,
    }


def test_context_json_is_strict() -> None:
    # Python's json accepts NaN, Infinity and overflowing numbers; the reference does not.
    assert parse_context(["account.plan=NaN", "account.seats=Infinity"]) == {
        "account": {"plan": "NaN", "seats": "Infinity"}
    }
    for bad in ['{"seats": NaN}', '{"seats": 1e999}', '{"seats": -Infinity}']:
        with pytest.raises(ValueError, match="is not valid JSON"):
            parse_context([bad])
