"""The differential harness itself: the reference answers through its own process."""

from __future__ import annotations

from pathlib import Path

from tests.support import oracle

EXAMPLE = {
    "rototo-workspace.toml": "schema_version = 1\n",
    "variables/greeting.toml": (
        'schema_version = 1\ntype = "string"\n\n[resolve]\ndefault = "hello"\n'
    ),
}


def test_reference_resolves_a_default(tmp_path: Path) -> None:
    for relative, text in EXAMPLE.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    result = oracle.ask_one({"op": "resolve_variable", "source": str(tmp_path), "id": "greeting"})
    assert result.get("ok", {}).get("value") == "hello", result


def test_reference_errors_come_back_as_messages(tmp_path: Path) -> None:
    result = oracle.ask_one({"op": "load", "source": str(tmp_path / "missing")})
    assert "error" in result
