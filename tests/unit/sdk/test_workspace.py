"""`Workspace`: the reference SDK surface over sources, lint and the compiled model."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

import rototo_operator as rototo
from rototo_operator.engine.compiled import compile_tree

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ACCOUNT = EXAMPLES / "account-config"
CONTEXTS = [
    {"account": {"plan": "enterprise"}},
    {"account": {"id": "acct-9001", "plan": "enterprise", "region": "eu-central-1"}},
    {"account": {"id": "acct-1207", "plan": "growth", "region": "us-east-1", "seats": 4}},
    {"account": {"id": "acct-0042", "plan": "free"}, "service": {"lane": "staging"}},
]


def test_public_names() -> None:
    for name in ("Workspace", "VariableResolution", "RototoError"):
        assert name in rototo.__all__
        assert hasattr(rototo, name)


async def test_load_and_resolve_the_demo_question() -> None:
    workspace = await rototo.Workspace.load(str(ACCOUNT))
    resolution = await workspace.resolve_variable("account-limits", CONTEXTS[0])
    assert resolution.id == "account-limits"
    assert resolution.value["projects"] == 1000
    assert resolution.source == {
        "kind": "catalog",
        "catalog": "account-limit-profile",
        "value": "enterprise",
    }
    assert dataclasses.is_dataclass(resolution)
    assert await workspace.resolve_qualifier("paid-account", CONTEXTS[0]) is True
    assert workspace.fingerprint is not None
    assert workspace.compiled is not None
    assert workspace.root.startswith("/")


async def test_unknown_lint_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="lint must be 'deny' or 'skip'"):
        await rototo.Workspace.load(str(ACCOUNT), lint="warn")


async def test_skip_loads_without_a_runtime_model(tmp_path: Path) -> None:
    broken = shutil.copytree(ACCOUNT, tmp_path / "broken")
    (broken / "qualifiers" / "paid-account.toml").write_text("schema_version = 1\n")
    with pytest.raises(rototo.RototoError, match=r"workspace lint failed with \d+ diagnostic"):
        await rototo.Workspace.load(str(broken))
    skipped = await rototo.Workspace.load(str(broken), lint="skip")
    with pytest.raises(rototo.RototoError, match="without a runtime model"):
        await skipped.resolve_variable("account-limits", CONTEXTS[0])
    report = await skipped.lint()
    assert set(report) == {"root", "diagnostics"}
    rules = {item["rule"] for item in report["diagnostics"]}
    assert "rototo/qualifier-when-missing" in rules
    item = report["diagnostics"][0]
    assert set(item) >= {"rule", "severity", "stage", "message", "help", "location", "related"}


async def test_inspect_checks_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "rototo-workspace.toml").write_text("schema_version = 2\n")
    with pytest.raises(rototo.RototoError, match="unsupported workspace schema_version: 2"):
        await rototo.Workspace.inspect(str(tmp_path))
    inspected = await rototo.Workspace.inspect(str(ACCOUNT))
    assert (await inspected.lint())["diagnostics"] == []


@pytest.mark.parametrize("layout", ["file", "directory", "kubelet"])
async def test_compiled_model_resolves_like_the_source(tmp_path: Path, layout: str) -> None:
    model = compile_tree(ACCOUNT, source=str(ACCOUNT), fingerprint="sha256:unit")
    if layout == "file":
        target = tmp_path / "anything.json"
        target.write_bytes(model.to_bytes())
    elif layout == "directory":
        target = tmp_path
        (tmp_path / "workspace.json").write_bytes(model.to_bytes())
    else:
        # A kubelet ConfigMap volume: keys are links through the atomically swapped ..data.
        version = tmp_path / "..2026_01_01_00_00_00.000000001"
        version.mkdir()
        (version / "workspace.json").write_bytes(model.to_bytes())
        os.symlink(version.name, tmp_path / "..data")
        os.symlink("..data/workspace.json", tmp_path / "workspace.json")
        target = tmp_path
    from_model = await rototo.Workspace.load(str(target))
    from_source = await rototo.Workspace.load(str(ACCOUNT))
    assert from_model.compiled is not None
    assert from_model.compiled.digest == model.digest
    assert from_model.fingerprint == "sha256:unit"
    assert (await from_model.lint())["diagnostics"] == []
    for context in CONTEXTS[1:]:
        for variable in from_model.compiled.variable_ids:
            ours = await from_model.resolve_variable(variable, context)
            theirs = await from_source.resolve_variable(variable, context)
            assert ours == theirs
        for qualifier in from_model.compiled.qualifier_ids:
            assert await from_model.resolve_qualifier(
                qualifier, context
            ) == await from_source.resolve_qualifier(qualifier, context)


async def test_mutating_a_resolution_never_changes_the_next() -> None:
    workspace = await rototo.Workspace.load(str(ACCOUNT))
    first = await workspace.resolve_variable("account-limits", CONTEXTS[0])
    first.value["features"].clear()
    first.value["members"] = 0
    first.source["catalog"] = "changed"
    second = await workspace.resolve_variable("account-limits", CONTEXTS[0])
    assert second.value["members"] == 10000
    assert "sso" in second.value["features"]
    assert second.source["catalog"] == "account-limit-profile"


async def test_layered_example_loads_through_staging() -> None:
    workspace = await rototo.Workspace.load(str(EXAMPLES / "account-config-eu"))
    growth = CONTEXTS[2]
    assert (await workspace.resolve_variable("card-processor", growth)).value == "eu-primary"
    assert (await workspace.resolve_variable("payout-delay-days", growth)).value == 4
    assert (await workspace.resolve_variable("account-limits", growth)).source["value"] == "growth"


async def test_resolution_errors_are_rototo_errors() -> None:
    workspace = await rototo.Workspace.load(str(ACCOUNT))
    with pytest.raises(rototo.RototoError, match="variable not found: variable://missing"):
        await workspace.resolve_variable("missing", CONTEXTS[0])
    with pytest.raises(rototo.RototoError, match="expression path is missing"):
        # Enterprise is paid, so the rollout bucket reads the absent account id.
        await workspace.resolve_variable("instant-payouts-enabled", CONTEXTS[0])


@pytest.mark.parametrize("method", ["load", "inspect"])
async def test_local_root_is_the_callers_path_not_the_staging_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    # The reference (0.1.0a5) reports a local directory as given, relative or with a
    # trailing slash, and lint()["root"] as its absolute path; file:// as its path.
    shutil.copytree(ACCOUNT, tmp_path / "account")
    monkeypatch.chdir(tmp_path)
    absolute = str((tmp_path / "account").resolve())
    opener = getattr(rototo.Workspace, method)
    for given, shown in [
        ("account", "account"),
        ("account/", "account/"),
        (absolute, absolute),
        (f"file://{absolute}", absolute),
    ]:
        workspace = await opener(given)
        assert workspace.root == shown
        assert (await workspace.lint())["root"] == absolute
        assert shown in repr(workspace)


async def test_local_root_lint_reads_the_staged_snapshot(tmp_path: Path) -> None:
    # The staging copy stays what lint reads: it is the tree the runtime model came from.
    account = shutil.copytree(ACCOUNT, tmp_path / "account")
    workspace = await rototo.Workspace.load(str(account))
    (account / "qualifiers" / "paid-account.toml").write_text("schema_version = 1\n")
    assert (await workspace.lint())["diagnostics"] == []


async def test_layered_local_root_is_the_projected_tree() -> None:
    # With extends there is no single user directory: the reference too reports the
    # projected temporary tree.
    workspace = await rototo.Workspace.load(str(EXAMPLES / "account-config-eu"))
    assert workspace.root != str(EXAMPLES / "account-config-eu")
    assert (Path(workspace.root) / "rototo-workspace.toml").is_file()
    assert (await workspace.lint())["root"] == workspace.root
