"""End to end over a real local git repository: commit, refresh, break, keep serving.

The repository is made with the system `git` (the product itself uses pygit2, never a git
subprocess) and read through `git+file://`, so staging, ls-remote probing, lint, compile
and resolution are all real.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import rototo_operator as rototo

MANIFEST = "schema_version = 1\n"


def variable(default: object) -> str:
    value = f'"{default}"' if isinstance(default, str) else str(default)
    return (
        "schema_version = 1\n\n"
        'description = "Requests per second for one account"\n'
        'type = "int"\n\n'
        f"[resolve]\ndefault = {value}\n"
    )


class Repo:
    """A git repository on disk, changed by committing with the system git."""

    def __init__(self, path: Path) -> None:
        if shutil.which("git") is None:
            pytest.skip("the system `git` command is not installed")
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        (path / "variables").mkdir()
        (path / "rototo-workspace.toml").write_text(MANIFEST)

    def git(self, *args: str) -> str:
        completed = subprocess.run(
            [
                "git",
                "-C",
                str(self.path),
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.test",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return completed.stdout.strip()

    def commit(self, rate_limit: object, message: str) -> str:
        (self.path / "variables" / "rate-limit.toml").write_text(variable(rate_limit))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def source(self) -> str:
        return f"git+file://{self.path}#main"


async def test_refreshing_a_git_branch_end_to_end(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "runtime-config")
    first = repo.commit(100, "initial limits")

    async with await rototo.RefreshingWorkspace.load(repo.source) as workspace:
        assert (await workspace.resolve_variable("rate-limit", {})).value == 100
        status = await workspace.status()
        assert status.current_fingerprint == f"git:{first}"
        assert not status.immutable
        assert await workspace.refresh_now() == "unchanged"

        second = repo.commit(250, "raise the limit")
        assert await workspace.refresh_now() == "refreshed"
        kept = await workspace.resolve_variable("rate-limit", {})
        assert kept.value == 250
        assert (await workspace.status()).current_fingerprint == f"git:{second}"

        repo.commit("lots", "a change that fails lint")
        with pytest.raises(rototo.RototoError, match="lint failed"):
            await workspace.refresh_now()
        status = await workspace.status()
        assert status.consecutive_failures == 1
        assert status.last_error is not None
        assert (
            "variables/rate-limit.toml:7: error rototo/variable-value-type-mismatch"
            in status.last_error
        )
        assert status.current_fingerprint == f"git:{second}"
        assert (await workspace.resolve_variable("rate-limit", {})).value == 250

        third = repo.commit(300, "fix the limit")
        assert await workspace.refresh_now() == "refreshed"
        status = await workspace.status()
        assert (status.consecutive_failures, status.last_error) == (0, None)
        assert status.current_fingerprint == f"git:{third}"
        assert (await workspace.resolve_variable("rate-limit", {})).value == 300
        assert kept.value == 250


async def test_a_commit_pinned_source_is_immutable(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "runtime-config")
    pinned = repo.commit(100, "initial limits")
    repo.commit(200, "later")

    source = f"git+file://{repo.path}#{pinned}"
    async with await rototo.RefreshingWorkspace.load(source, period_seconds=1) as workspace:
        assert await workspace.refresh_now() == "immutable"
        status = await workspace.status()
        assert status.immutable
        assert status.current_fingerprint == f"git:{pinned}"
        assert (await workspace.resolve_variable("rate-limit", {})).value == 100


async def test_the_background_loop_picks_up_a_new_commit(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "runtime-config")
    repo.commit(100, "initial limits")
    async with await rototo.RefreshingWorkspace.load(repo.source, period_seconds=0.05) as workspace:
        second = repo.commit(175, "raise the limit")
        # Status is a snapshot with no change notification, so the test polls it.
        async with asyncio.timeout(30):
            while (await workspace.status()).current_fingerprint != f"git:{second}":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert (await workspace.resolve_variable("rate-limit", {})).value == 175


async def test_an_initial_load_of_a_broken_branch_raises(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "runtime-config")
    repo.commit("lots", "broken from the start")
    with pytest.raises(rototo.RototoError, match="lint failed"):
        await rototo.RefreshingWorkspace.load(repo.source)


async def test_an_unknown_branch_raises_a_source_error(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "runtime-config")
    repo.commit(100, "initial limits")
    with pytest.raises(rototo.RototoError):
        await rototo.RefreshingWorkspace.load(f"git+file://{repo.path}#no-such-branch")


async def test_replaced_workspaces_release_their_staged_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    repo = Repo(tmp_path / "runtime-config")
    repo.commit(100, "initial limits")

    workspace = await rototo.RefreshingWorkspace.load(repo.source)
    for limit in (101, 102, 103):
        repo.commit(limit, f"limit {limit}")
        assert await workspace.refresh_now() == "refreshed"
    assert await workspace.refresh_now() == "unchanged"
    gc.collect()
    assert len(list(scratch.glob("rototo-stage-*"))) == 1
    assert (await workspace.resolve_variable("rate-limit", {})).value == 103

    await workspace.shutdown()
    assert list(scratch.iterdir()) == []
