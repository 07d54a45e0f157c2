"""Differential: our `RefreshingWorkspace` and the reference's (0.1.0a5, own process) agree.

Both are driven through the same `git+file` commit sequence (initial load, unchanged, a new
commit, a commit failing lint twice, a fix, a pinned commit, an unknown branch) and must
give the same outcomes, errors, resolutions and status fields. Where docs/sdk.md lists a
deliberate difference the comparison normalises it: the reference's structured
fingerprint `{"kind": "git_commit", "value": sha}` is our `git:<sha>`, our `last_error`
appends lint headlines to the reference's message, and our `last_attempt` / `last_success`
also move on the initial load and on `unchanged`, so only their presence is compared.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rototo_operator as rototo
from tests.support import git_servers, oracle

WORKER = Path(__file__).resolve().parents[2] / "support" / "oracle_refresh_worker.py"
MANIFEST = "schema_version = 1\n"
STATUS_FIELDS = [field.name for field in dataclasses.fields(rototo.RefreshStatus)]


def files(rate_limit: object) -> dict[str, str]:
    value = f'"{rate_limit}"' if isinstance(rate_limit, str) else str(rate_limit)
    return {
        "rototo-workspace.toml": MANIFEST,
        "variables/rate-limit.toml": (
            'schema_version = 1\n\ndescription = "Requests per second"\ntype = "int"\n\n'
            f"[resolve]\ndefault = {value}\n"
        ),
    }


class Reference:
    """One reference RefreshingWorkspace in the oracle's interpreter, step by step."""

    def __init__(self) -> None:
        oracle.require()
        self.process = subprocess.Popen(
            [str(oracle.ORACLE_PYTHON), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference worker exited during {op!r}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture
def reference() -> Iterator[Reference]:
    started = Reference()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def repo(tmp_path: Path) -> git_servers.Repo:
    git_servers.require_git()
    return git_servers.Repo(tmp_path)


def reference_fingerprint(value: Any) -> str | None:
    if value is None:
        return None
    assert value["kind"] == "git_commit", f"unexpected reference fingerprint {value}"
    return f"git:{value['value']}"


def assert_same_status(ours: rototo.RefreshStatus, theirs: dict[str, Any]) -> None:
    assert ours.current_fingerprint == reference_fingerprint(theirs["current_fingerprint"])
    assert ours.consecutive_failures == theirs["consecutive_failures"]
    assert ours.refreshing == theirs["refreshing"]
    assert ours.immutable == theirs["immutable"]
    if theirs["last_error"] is None:
        assert ours.last_error is None
    else:
        assert ours.last_error is not None
        assert ours.last_error.startswith(theirs["last_error"])
    assert (ours.last_success is None) == (theirs["last_success"] is None)


class Both:
    """Applies each step to ours and to the reference and checks they agree."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.ours: rototo.RefreshingWorkspace | None = None

    async def load(self, source: str) -> bool:
        theirs = self.reference.call("load", source=source)
        try:
            self.ours = await rototo.RefreshingWorkspace.load(source)
        except rototo.RototoError:
            assert "error" in theirs, f"only we refused {source}"
            return False
        assert "ok" in theirs, f"only the reference refused {source}: {theirs}"
        return True

    async def refresh(self) -> str | None:
        assert self.ours is not None
        theirs = self.reference.call("refresh_now")
        if "error" in theirs:
            with pytest.raises(rototo.RototoError) as caught:
                await self.ours.refresh_now()
            assert str(caught.value).startswith(theirs["error"])
            outcome: str | None = None
        else:
            outcome = await self.ours.refresh_now()
            assert theirs == {"ok": outcome}
        await self.status()
        return outcome

    async def status(self) -> None:
        assert self.ours is not None
        theirs = self.reference.call("status", fields=STATUS_FIELDS)["ok"]
        assert_same_status(await self.ours.status(), theirs)

    async def value(self) -> Any:
        assert self.ours is not None
        ours = await self.ours.resolve_variable("rate-limit", {})
        theirs = self.reference.call("resolve_variable", id="rate-limit", context={})
        assert theirs == {"ok": dataclasses.asdict(ours)}
        return ours.value

    async def shutdown(self) -> None:
        assert self.ours is not None
        await self.ours.shutdown()
        assert self.reference.call("shutdown") == {"ok": True}


async def test_a_git_branch_commit_sequence_matches_the_reference(
    reference: Reference, repo: git_servers.Repo
) -> None:
    first = repo.commit(files(100), message="initial limits")
    both = Both(reference)
    assert await both.load(f"{repo.file_url}#main")
    await both.status()
    assert await both.value() == 100
    assert await both.refresh() == "unchanged"

    repo.commit(files(250), message="raise the limit")
    assert await both.refresh() == "refreshed"
    assert await both.value() == 250

    repo.commit(files("lots"), message="a change that fails lint")
    assert await both.refresh() is None
    assert await both.refresh() is None
    assert await both.value() == 250, "the last known good workspace is still served"

    repo.commit(files(300), message="fix the limit")
    assert await both.refresh() == "refreshed"
    assert await both.value() == 300
    await both.shutdown()

    pinned = Both(reference)
    assert await pinned.load(f"{repo.file_url}#{first}")
    assert await pinned.refresh() == "immutable"
    assert await pinned.value() == 100
    await pinned.shutdown()


async def test_initial_load_failures_match_the_reference(
    reference: Reference, repo: git_servers.Repo
) -> None:
    repo.commit(files("lots"), message="broken from the start")
    both = Both(reference)
    assert not await both.load(f"{repo.file_url}#main")
    assert not await both.load(f"{repo.file_url}#no-such-branch")
