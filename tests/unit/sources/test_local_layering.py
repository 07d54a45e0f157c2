"""Local staging and layering: projection order, manifests, cycles, limits, fingerprints."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Limits, Stager
from rototo_operator.sources.fingerprint import combine_layers


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def manifest(*extends: str) -> str:
    listed = ", ".join(f'"{entry}"' for entry in extends)
    return f"schema_version = 1\nextends = [{listed}]\n" if extends else "schema_version = 1\n"


def tree_of(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def stager(tmp_path: Path) -> Iterator[Stager]:
    with Stager(cache_dir=tmp_path / "cache") as instance:
        yield instance


def test_single_local_workspace_is_copied_and_fingerprinted(stager: Stager, tmp_path: Path) -> None:
    source = write(tmp_path / "ws", {"rototo-workspace.toml": manifest(), "variables/a.toml": "x"})
    staged = stager.stage(str(source))
    assert staged.root != source
    assert tree_of(staged.root) == tree_of(source)
    assert staged.fingerprint.startswith("sha256:")
    assert not staged.immutable
    assert [layer.source for layer in staged.layers] == [str(source)]
    assert stager.probe(str(source)) == staged.fingerprint
    assert stager.probe(f"file://{source}") == staged.fingerprint

    (source / "variables/a.toml").write_text("y")
    changed = stager.probe(str(source))
    assert changed != staged.fingerprint
    assert stager.stage(str(source)).fingerprint == changed
    assert (staged.root / "variables/a.toml").read_text() == "x", "a snapshot, not a view"


def test_fingerprint_covers_paths_and_content(stager: Stager, tmp_path: Path) -> None:
    one = write(tmp_path / "one", {"a/b": "xy", "c": ""})
    two = write(tmp_path / "two", {"a/bx": "y", "c": ""})
    three = write(tmp_path / "three", {"c": "", "a/b": "xy"})
    assert stager.probe(str(one)) != stager.probe(str(two))
    assert stager.probe(str(one)) == stager.probe(str(three))


def test_projection_parent_first_child_wins(stager: Stager, tmp_path: Path) -> None:
    write(
        tmp_path / "product",
        {
            "rototo-workspace.toml": manifest(),
            "variables/policy.toml": "product",
            "catalogs/p.schema.json": "{}",
            "catalogs/entries/rototo-workspace.toml": "nested manifest is an ordinary file",
        },
    )
    write(
        tmp_path / "customer",
        {
            "rototo-workspace.toml": manifest("../product"),
            "variables/policy.toml": "customer",
            "catalogs/entries/customer.toml": "c",
        },
    )
    team = write(
        tmp_path / "team",
        {
            "rototo-workspace.toml": manifest("../customer"),
            "qualifiers/q.toml": "team",
        },
    )
    staged = stager.stage(str(team))
    assert tree_of(staged.root) == {
        "rototo-workspace.toml": manifest("../customer"),
        "variables/policy.toml": "customer",
        "catalogs/p.schema.json": "{}",
        "catalogs/entries/rototo-workspace.toml": "nested manifest is an ordinary file",
        "catalogs/entries/customer.toml": "c",
        "qualifiers/q.toml": "team",
    }
    assert [Path(layer.source).name for layer in staged.layers] == ["product", "customer", "team"]
    assert staged.fingerprint == combine_layers([layer.fingerprint for layer in staged.layers])
    assert staged.fingerprint.startswith("layers:")
    assert stager.probe(str(team)) == staged.fingerprint

    (tmp_path / "product/variables/extra.toml").write_text("new")
    assert stager.probe(str(team)) != staged.fingerprint


def test_multiple_parents_in_declaration_order_and_file_dir_replacement(
    stager: Stager, tmp_path: Path
) -> None:
    write(tmp_path / "a", {"rototo-workspace.toml": manifest(), "x": "a", "d/f": "a"})
    write(tmp_path / "b", {"x": "b", "d": "b replaces the directory with a file"})
    child = write(tmp_path / "c", {"rototo-workspace.toml": manifest("../a", "../b")})
    assert tree_of(stager.stage(str(child)).root) == {
        "rototo-workspace.toml": manifest("../a", "../b"),
        "x": "b",
        "d": "b replaces the directory with a file",
    }
    child2 = write(tmp_path / "c2", {"rototo-workspace.toml": manifest("../b", "../a")})
    assert tree_of(stager.stage(str(child2)).root) == {
        "rototo-workspace.toml": manifest("../b", "../a"),
        "x": "a",
        "d/f": "a",
    }


def test_absolute_and_file_url_parents(stager: Stager, tmp_path: Path) -> None:
    base = write(tmp_path / "base", {"v": "base"})
    child = write(
        tmp_path / "child", {"rototo-workspace.toml": manifest(str(base), f"file://{base}")}
    )
    staged = stager.stage(str(child))
    assert len(staged.layers) == 3
    assert (staged.root / "v").read_text() == "base"


def test_cycles_are_named(stager: Stager, tmp_path: Path) -> None:
    write(tmp_path / "a", {"rototo-workspace.toml": manifest("../b")})
    write(tmp_path / "b", {"rototo-workspace.toml": manifest("../a")})
    with pytest.raises(SourceError) as caught:
        stager.stage(str(tmp_path / "a"))
    message = str(caught.value)
    assert "workspace extends cycle detected" in message
    assert message.count(" -> ") == 2
    assert stager.probe(str(tmp_path / "a")) is None

    write(tmp_path / "self", {"rototo-workspace.toml": manifest(".")})
    with pytest.raises(SourceError, match="cycle detected"):
        stager.stage(str(tmp_path / "self"))


def test_more_than_32_layers_refused(stager: Stager, tmp_path: Path) -> None:
    for index in range(40):
        parent = (f"../l{index + 1}",) if index < 39 else ()
        write(tmp_path / f"l{index}", {"rototo-workspace.toml": manifest(*parent)})
    with pytest.raises(SourceError, match="exceeds 32 layers"):
        stager.stage(str(tmp_path / "l0"))
    write(tmp_path / "l31", {"rototo-workspace.toml": manifest()})
    assert len(stager.stage(str(tmp_path / "l0")).layers) == 32


def test_diamond_is_bounded(stager: Stager, tmp_path: Path) -> None:
    # Every level extends the next level twice: 2**20 paths, refused after 32 layers.
    for index in range(20):
        parent = f"../d{index + 1}"
        entries = (parent, f"{parent}/../d{index + 1}") if index < 19 else ()
        write(tmp_path / f"d{index}", {"rototo-workspace.toml": manifest(*entries)})
    with pytest.raises(SourceError, match="exceeds 32 layers"):
        stager.stage(str(tmp_path / "d0"))


def test_missing_parent_names_the_chain(stager: Stager, tmp_path: Path) -> None:
    write(tmp_path / "mid", {"rototo-workspace.toml": manifest("../gone")})
    child = write(tmp_path / "child", {"rototo-workspace.toml": manifest("../mid")})
    with pytest.raises(SourceError) as caught:
        stager.stage(str(child))
    message = str(caught.value)
    assert "extends '../mid'" in message
    assert "extends '../gone'" in message
    assert "does not exist" in message


def test_root_manifest_problems_are_left_to_lint(stager: Stager, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken", {"rototo-workspace.toml": "schema_version = [", "v": "1"})
    assert (stager.stage(str(broken)).root / "v").read_text() == "1"
    padded = write(tmp_path / "padded", {"rototo-workspace.toml": 'extends = [" ../x "]'})
    assert len(stager.stage(str(padded)).layers) == 1
    missing = write(tmp_path / "missing", {"v": "1"})
    assert len(stager.stage(str(missing)).layers) == 1


def test_parent_manifest_problems_are_errors_naming_the_file(
    stager: Stager, tmp_path: Path
) -> None:
    write(tmp_path / "parent", {"rototo-workspace.toml": "extends = ["})
    child = write(tmp_path / "child", {"rototo-workspace.toml": manifest("../parent")})
    with pytest.raises(SourceError, match=r"parent/rototo-workspace.toml"):
        stager.stage(str(child))
    write(tmp_path / "parent", {"rototo-workspace.toml": 'extends = ["  "]'})
    with pytest.raises(SourceError, match="must not be blank"):
        stager.stage(str(child))
    write(tmp_path / "parent", {"rototo-workspace.toml": 'extends = "../x"'})
    with pytest.raises(SourceError, match="must be an array"):
        stager.stage(str(child))


def test_missing_and_non_directory_sources(stager: Stager, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        stager.stage(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceError, match="is not a directory"):
        stager.stage(str(tmp_path / "file"))


def test_symlinks_inside_are_followed_escaping_refused(stager: Stager, tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", {"real/v.toml": "v"})
    (ws / "alias.toml").symlink_to("real/v.toml")
    (ws / "aliasdir").symlink_to("real")
    staged = stager.stage(str(ws))
    assert (staged.root / "alias.toml").read_text() == "v"
    assert not (staged.root / "alias.toml").is_symlink()
    assert (staged.root / "aliasdir/v.toml").read_text() == "v"

    write(tmp_path / "outside", {"secret": "s"})
    (ws / "leak").symlink_to(tmp_path / "outside" / "secret")
    with pytest.raises(SourceError, match="points outside the workspace"):
        stager.stage(str(ws))
    (ws / "leak").unlink()
    (ws / "loop").symlink_to(".")
    with pytest.raises(SourceError, match="loop"):
        stager.stage(str(ws))
    (ws / "loop").unlink()
    os.mkfifo(ws / "fifo")
    with pytest.raises(SourceError, match="FIFOs are refused"):
        stager.stage(str(ws))


def test_limits_on_entries_and_bytes(tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", {f"f{index}": "12345" for index in range(5)})
    with Stager(limits=Limits(archive_entries=4)) as small, pytest.raises(SourceError) as caught:
        small.stage(str(ws))
    assert "archive_entries=4" in str(caught.value)
    with (
        Stager(limits=Limits(decompressed_bytes=20)) as small,
        pytest.raises(SourceError) as caught,
    ):
        small.stage(str(ws))
    assert "decompressed_bytes=20" in str(caught.value)
    with pytest.raises(ValueError, match="positive"):
        Limits(git_timeout=0)


def test_allow_local_false_refuses_every_local_form(tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", {"v": "1"})
    with Stager(allow_local=False) as remote_only:
        for source in (str(ws), f"file://{ws}", f"git+file://{ws}"):
            with pytest.raises(SourceError, match="local workspace sources are disabled"):
                remote_only.stage(source)
            with pytest.raises(SourceError, match="local workspace sources are disabled"):
                remote_only.probe(source)


def test_cleanup_removes_staged_directories(tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", {"v": "1"})
    stager = Stager()
    first = stager.stage(str(ws))
    second = stager.stage(str(ws))
    first.cleanup()
    assert not first.root.exists()
    assert second.root.exists()
    stager.cleanup()
    assert not second.root.exists()
    assert stager.cache_dir.exists(), "the process-wide git cache outlives one Stager"


def test_cleanup_removes_the_directories_of_stages_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage blocked for good (a fetch hung in libgit2) cannot remove its own directory;
    the Stager's cleanup, which the operator runs before it exits, does."""
    from rototo_operator.sources import layering

    entered, release = threading.Event(), threading.Event()
    real_collect = layering.collect

    def blocked_collect(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(layering, "collect", blocked_collect)
    staging = tmp_path / "staging"
    staging.mkdir()
    stager = Stager(staging_dir=staging)
    outcome: list[BaseException | None] = []

    def stage() -> None:
        try:
            stager.stage(str(write(tmp_path / "ws", {"rototo-workspace.toml": manifest()})))
        except BaseException as error:  # handed to the test thread
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=stage)
    worker.start()
    assert entered.wait(30)
    assert [path.name[:13] for path in staging.iterdir()] == ["rototo-stage-"]
    stager.cleanup()
    assert list(staging.iterdir()) == []
    release.set()
    worker.join(30)
    # The stage lost its directory under it: it fails, and leaves nothing behind either.
    assert len(outcome) == 1
    assert isinstance(outcome[0], SourceError)
    assert "was cancelled" in str(outcome[0])
    assert list(staging.iterdir()) == []


def test_credentials_repr_hides_secrets() -> None:
    credentials = Credentials(
        username="bob",
        password="pw-secret",
        bearer_token="tok-secret",
        ssh_identity="-----BEGIN OPENSSH PRIVATE KEY-----\nkey-secret",
        ssh_known_hosts="h ssh-ed25519 AAAA",
        ca_bundle="-----BEGIN CERTIFICATE-----\n",
    )
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert "secret" not in text
        assert "bob" in text
    assert Credentials.for_workspace_token(None, {}) is None
    assert Credentials.for_workspace_token(None, {"ROTOTO_WORKSPACE_TOKEN": "t"}) == Credentials(
        bearer_token="t"
    )
    assert Credentials.for_workspace_token("a", {"ROTOTO_WORKSPACE_TOKEN": "t"}) == Credentials(
        bearer_token="a"
    )
    secret = Credentials.from_secret_data(
        {
            "username": "u",
            "password": "p",
            "bearerToken": "b",
            "identity": "i",
            "known_hosts": "k",
            "ca.crt": "c",
        }
    )
    assert (secret.username, secret.password, secret.bearer_token) == ("u", "p", "b")
    assert (secret.ssh_identity, secret.ssh_known_hosts, secret.ca_bundle) == ("i", "k", "c")


def test_dropping_a_staged_workspace_removes_its_files(stager: Stager, tmp_path: Path) -> None:
    import gc

    ws = write(tmp_path / "ws", {"v": "1"})
    root = stager.stage(str(ws)).root
    gc.collect()
    assert not root.exists()
