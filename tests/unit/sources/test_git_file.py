"""Git sources over git+file:// against real repositories built with the git binary."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Limits, Stager
from rototo_operator.sources.git import GitCache
from tests.support.git_servers import Repo, require_git

MANIFEST = "schema_version = 1\n"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_git()
    return Repo(tmp_path)


@pytest.fixture
def stager(tmp_path: Path) -> Iterator[Stager]:
    with Stager(cache_dir=tmp_path / "cache") as instance:
        yield instance


def files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_default_branch_stage_and_probe(repo: Repo, stager: Stager) -> None:
    first = repo.commit({"rototo-workspace.toml": MANIFEST, "variables/a.toml": "1"})
    staged = stager.stage(repo.file_url)
    assert staged.fingerprint == f"git:{first}"
    assert not staged.immutable
    assert files(staged.root) == {"rototo-workspace.toml": MANIFEST, "variables/a.toml": "1"}
    assert stager.probe(repo.file_url) == f"git:{first}"

    second = repo.commit({"variables/a.toml": "2"})
    assert stager.probe(repo.file_url) == f"git:{second}"
    assert stager.probe(f"{repo.file_url}#main") == f"git:{second}"
    restaged = stager.stage(repo.file_url)
    assert restaged.fingerprint == f"git:{second}"
    assert (restaged.root / "variables/a.toml").read_text() == "2"
    assert (staged.root / "variables/a.toml").read_text() == "1"


def test_branches_tags_and_subdirectories(repo: Repo, stager: Stager) -> None:
    main = repo.commit({"ws/rototo-workspace.toml": MANIFEST, "ws/v": "main", "other/x": "o"})
    annotated = repo.tag("v1")
    lightweight = repo.tag("light", annotated=False)
    feature = repo.commit({"ws/v": "feature"}, branch="feature")
    assert annotated == lightweight == main

    by_tag = stager.stage(f"{repo.file_url}#v1:ws")
    assert by_tag.fingerprint == f"git:{main}"
    assert files(by_tag.root) == {"rototo-workspace.toml": MANIFEST, "v": "main"}
    assert stager.probe(f"{repo.file_url}#v1:ws") == f"git:{main}"
    assert stager.probe(f"{repo.file_url}#light") == f"git:{main}"
    assert stager.probe(f"{repo.file_url}#refs/heads/feature") == f"git:{feature}"
    by_branch = stager.stage(f"{repo.file_url}#feature:ws")
    assert (by_branch.root / "v").read_text() == "feature"

    with pytest.raises(SourceError, match="git ref `nope` was not found"):
        stager.stage(f"{repo.file_url}#nope")
    with pytest.raises(SourceError, match="subdir `missing` was not found"):
        stager.stage(f"{repo.file_url}#main:missing")
    with pytest.raises(SourceError, match="is not a directory"):
        stager.stage(f"{repo.file_url}#main:ws/v")


def test_default_ref_follows_remote_head(repo: Repo, stager: Stager) -> None:
    repo.commit({"v": "main"})
    trunk = repo.commit({"v": "trunk"}, branch="trunk")
    repo.set_head("trunk")
    staged = stager.stage(repo.file_url)
    assert staged.fingerprint == f"git:{trunk}"
    assert (staged.root / "v").read_text() == "trunk"


def test_pinned_commit_is_immutable_and_probed_without_network(
    repo: Repo, stager: Stager, tmp_path: Path
) -> None:
    old = repo.commit({"v": "old"})
    repo.commit({"v": "new"})
    source = f"{repo.file_url}#{old}"
    assert stager.probe(source) == f"git:{old}", "a pin needs no remote"
    staged = stager.stage(source)
    assert staged.immutable
    assert staged.fingerprint == f"git:{old}"
    assert (staged.root / "v").read_text() == "old"

    unknown = "f" * 40
    with pytest.raises(SourceError, match=f"git commit {unknown} was not found"):
        stager.stage(f"{repo.file_url}#{unknown}")


def test_unreachable_pinned_commit_is_fetched_by_id(repo: Repo, stager: Stager) -> None:
    doomed = repo.commit({"v": "doomed"}, branch="tmp")
    repo.commit({"v": "main"})
    from tests.support.git_servers import git

    git("push", "--quiet", "origin", ":refs/heads/tmp", cwd=repo.work)
    staged = stager.stage(f"{repo.file_url}#{doomed}")
    assert (staged.root / "v").read_text() == "doomed"


def test_symlinks_inside_repository_are_copies_escapes_refused(repo: Repo, stager: Stager) -> None:
    repo.commit(
        {"shared/limits.toml": "shared", "ws/rototo-workspace.toml": MANIFEST},
        symlinks={"ws/limits.toml": "../shared/limits.toml", "ws/dir": "../shared"},
    )
    staged = stager.stage(f"{repo.file_url}#main:ws")
    assert (staged.root / "limits.toml").read_text() == "shared"
    assert not (staged.root / "limits.toml").is_symlink()
    assert (staged.root / "dir/limits.toml").read_text() == "shared"

    repo.commit({}, symlinks={"ws/leak.toml": "../../outside"})
    with pytest.raises(SourceError, match="points outside the repository"):
        stager.stage(f"{repo.file_url}#main:ws")
    repo.commit({}, symlinks={"ws/leak.toml": "/etc/passwd"})
    with pytest.raises(SourceError, match="points outside the repository"):
        stager.stage(f"{repo.file_url}#main:ws")
    repo.commit({}, symlinks={"ws/leak.toml": "loop.toml", "ws/loop.toml": "leak.toml"})
    with pytest.raises(SourceError, match="loop"):
        stager.stage(f"{repo.file_url}#main:ws")
    repo.commit({}, delete=("ws/leak.toml", "ws/loop.toml"), symlinks={"ws/up": ".."})
    with pytest.raises(SourceError, match="loop"):
        stager.stage(f"{repo.file_url}#main:ws")


def test_layering_inside_one_repository(repo: Repo, stager: Stager) -> None:
    commit = repo.commit(
        {
            "base/rototo-workspace.toml": MANIFEST,
            "base/variables/a.toml": "base",
            "base/variables/b.toml": "base",
            "prod/rototo-workspace.toml": 'schema_version = 1\nextends = ["../base"]\n',
            "prod/variables/b.toml": "prod",
        }
    )
    source = f"{repo.file_url}#main:prod"
    staged = stager.stage(source)
    assert files(staged.root) == {
        "rototo-workspace.toml": 'schema_version = 1\nextends = ["../base"]\n',
        "variables/a.toml": "base",
        "variables/b.toml": "prod",
    }
    assert [layer.source for layer in staged.layers] == [
        f"{repo.file_url}#main:base",
        source,
    ]
    assert all(layer.fingerprint == f"git:{commit}" for layer in staged.layers)
    assert staged.fingerprint.startswith("layers:")
    assert stager.probe(source) == staged.fingerprint
    with Stager(cache_dir=stager.cache_dir) as fresh:
        assert fresh.probe(source) == staged.fingerprint, "read from the shared object cache"

    pinned = stager.stage(f"{repo.file_url}#{commit}:prod")
    assert pinned.immutable

    repo.commit({"prod/rototo-workspace.toml": 'schema_version = 1\nextends = ["../../x"]\n'})
    with pytest.raises(SourceError, match="escapes the staged tree"):
        stager.stage(source)
    repo.commit({"prod/rototo-workspace.toml": 'schema_version = 1\nextends = ["/etc"]\n'})
    with pytest.raises(SourceError, match="escapes a staged workspace"):
        stager.stage(source)
    repo.commit(
        {"prod/rototo-workspace.toml": f'schema_version = 1\nextends = ["file://{repo.bare}"]\n'}
    )
    with pytest.raises(SourceError, match="escapes a staged workspace"):
        stager.stage(source)


def test_remembered_layer_graphs_are_bounded(
    repo: Repo, stager: Stager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running operator stages new versions for ever: the (layer, version) graphs a
    Stager keeps for probe() are the most recently used few, and a forgotten one is read
    back from the git cache, so probes still answer exactly."""
    from rototo_operator.sources import stager as stager_module

    monkeypatch.setattr(stager_module, "KNOWN_EXTENDS", 3)
    repo.commit(
        {
            "base/rototo-workspace.toml": MANIFEST,
            "prod/rototo-workspace.toml": 'schema_version = 1\nextends = ["../base"]\n',
        }
    )
    source = f"{repo.file_url}#main:prod"
    fingerprints = []
    for value in range(4):
        repo.commit({"prod/v": str(value)})
        fingerprints.append(stager.stage(source).fingerprint)
        assert stager.probe(source) == fingerprints[-1]
    assert len(stager._known_extends) == 3
    assert len(set(fingerprints)) == 4
    monkeypatch.setattr(stager_module, "KNOWN_EXTENDS", 0)
    stager._remember_extends(("x", "y"), ((), None))
    assert not stager._known_extends
    assert stager.probe(source) == fingerprints[-1], "read back from the cache"


def test_idle_cache_repositories_are_collected(repo: Repo, tmp_path: Path) -> None:
    """Cache keys include the credentials: a rotated token leaves its predecessor's clone
    behind, which `cache_max_idle` reclaims, never one in use."""
    commit = repo.commit({"rototo-workspace.toml": MANIFEST})
    cache_dir = tmp_path / "cache"
    old_token, new_token = Credentials(bearer_token="old"), Credentials(bearer_token="new")
    with Stager(cache_dir=cache_dir, credentials=old_token, cache_max_idle=3600) as before:
        before.stage(repo.file_url)
    root = cache_dir / "git"
    (stale,) = [path.name.removesuffix(".git") for path in root.glob("*.git")]
    with Stager(cache_dir=cache_dir, credentials=new_token, cache_max_idle=3600) as after:
        assert after.stage(repo.file_url).fingerprint == f"git:{commit}"
        cache = after._git()
        assert isinstance(cache, GitCache)
        current = {path.name.removesuffix(".git") for path in root.glob("*.git")} - {stale}
        assert len(current) == 1
        assert cache.collect() == [], "both were used within the hour"

        two_hours_ago = time.time() - 7200
        os.utime(root / f"{stale}.lock", (two_hours_ago, two_hours_ago))
        with (root / f"{stale}.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            assert cache.collect() == [], "a repository in use is never collected"
            fcntl.flock(held, fcntl.LOCK_UN)
        assert cache.collect() == [stale]
        assert not (root / f"{stale}.git").exists()
        assert not (root / f"{stale}.lock").exists()
        assert {path.name.removesuffix(".git") for path in root.glob("*.git")} == current

        # Collection also runs by itself as the cache is used (at most every max_idle / 4).
        with Stager(cache_dir=cache_dir, credentials=old_token) as again:
            again.stage(repo.file_url)
        os.utime(root / f"{stale}.lock", (two_hours_ago, two_hours_ago))
        cache._last_collect = 0.0
        after.probe(repo.file_url)
        assert not (root / f"{stale}.git").exists()

    # The rotated-back token simply clones again.
    with Stager(cache_dir=cache_dir, credentials=old_token) as back:
        assert back.stage(repo.file_url).fingerprint == f"git:{commit}"


def test_a_lock_file_collected_while_waiting_is_taken_again(tmp_path: Path) -> None:
    """A stager that opened the lock file before `collect` unlinked it must not run on the
    stale file's lock next to one that locked the new file."""
    from rototo_operator.sources.git import _flocked

    path = tmp_path / "k.lock"
    path.touch()
    entered = threading.Event()
    with path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)

        def waiter() -> None:
            with _flocked(path):
                entered.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)
        # Play `collect`: holding the lock, remove the file, then let go.
        path.unlink()
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(5)
    assert entered.is_set()
    assert path.exists(), "the waiter locked a new file at the path, not the unlinked one"


def test_concurrent_stagers_share_one_cache(repo: Repo, tmp_path: Path) -> None:
    commit = repo.commit({"v": "1"})
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with Stager(cache_dir=tmp_path / "shared") as stager:
                results.append(stager.stage(repo.file_url).fingerprint)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [f"git:{commit}"] * 8
    assert len(list((tmp_path / "shared" / "git").glob("*.git"))) == 1


def test_tree_limits_apply_to_git(repo: Repo, tmp_path: Path) -> None:
    repo.commit({f"f{index}": "x" * 10 for index in range(6)})
    with (
        Stager(tmp_path / "c0", limits=Limits(archive_entries=3)) as small,
        pytest.raises(SourceError, match="archive_entries=3"),
    ):
        small.stage(repo.file_url)
    with (
        Stager(tmp_path / "c1", limits=Limits(decompressed_bytes=25)) as small,
        pytest.raises(SourceError, match="decompressed_bytes=25"),
    ):
        small.stage(repo.file_url)
    with (
        Stager(tmp_path / "c2", limits=Limits(repository_bytes=10)) as small,
        pytest.raises(SourceError, match="repository_bytes=10"),
    ):
        small.stage(repo.file_url)


def test_missing_repository_is_a_clear_error(stager: Stager, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="git ls-remote failed for workspace source"):
        stager.stage(f"git+file://{tmp_path}/nothing.git")
