"""Refreshing a plain local workspace directory: content hashes decide "unchanged"."""

from __future__ import annotations

from pathlib import Path

import pytest

import rototo_operator as rototo


def write_workspace(root: Path, rate_limit: object) -> None:
    (root / "variables").mkdir(parents=True, exist_ok=True)
    (root / "rototo-workspace.toml").write_text("schema_version = 1\n")
    value = f'"{rate_limit}"' if isinstance(rate_limit, str) else rate_limit
    (root / "variables" / "rate-limit.toml").write_text(
        'schema_version = 1\ndescription = "Requests per second"\ntype = "int"\n\n'
        f"[resolve]\ndefault = {value}\n"
    )


async def test_a_local_directory_refreshes_on_content_change(tmp_path: Path) -> None:
    root = tmp_path / "config"
    write_workspace(root, 10)
    async with await rototo.RefreshingWorkspace.load(str(root)) as workspace:
        first = (await workspace.status()).current_fingerprint
        assert first is not None
        assert first.startswith("sha256:")
        assert await workspace.refresh_now() == "unchanged"

        write_workspace(root, 20)
        assert await workspace.refresh_now() == "refreshed"
        assert (await workspace.resolve_variable("rate-limit", {})).value == 20
        assert (await workspace.status()).current_fingerprint != first

        write_workspace(root, "twenty")
        with pytest.raises(rototo.RototoError, match="lint failed"):
            await workspace.refresh_now()
        assert (await workspace.resolve_variable("rate-limit", {})).value == 20


async def test_a_missing_directory_fails_the_initial_load(tmp_path: Path) -> None:
    with pytest.raises(rototo.RototoError):
        await rototo.RefreshingWorkspace.load(str(tmp_path / "absent"))
