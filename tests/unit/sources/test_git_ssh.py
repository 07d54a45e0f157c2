"""git+ssh:// against OpenSSH `sshd` running git-upload-pack, with host-key checks.

The server is Debian's sshd with key authentication only and a fresh host key per test
(`tests/support/git_servers.SshdGitServer`); without `/usr/sbin/sshd` these tests skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Stager
from tests.support.git_servers import (
    Repo,
    SshdGitServer,
    SshKeys,
    make_ssh_keys,
    require_git,
    require_sshd,
)


@pytest.fixture
def keys() -> SshKeys:
    return make_ssh_keys()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_git()
    return Repo(tmp_path)


@pytest.fixture
def server(keys: SshKeys, repo: Repo) -> Iterator[SshdGitServer]:
    require_sshd()
    with SshdGitServer(keys, repo.bare.parent) as running:
        yield running


def creds(keys: SshKeys, known_hosts: str) -> Credentials:
    return Credentials(ssh_identity=keys.client_private, ssh_known_hosts=known_hosts)


def test_stage_and_probe_over_ssh(
    server: SshdGitServer, repo: Repo, keys: SshKeys, tmp_path: Path
) -> None:
    commit = repo.commit({"ws/rototo-workspace.toml": "schema_version = 1\n", "ws/v": "1"})
    source = server.url("config.git") + "#main:ws"
    credentials = creds(keys, server.known_hosts_line() + "\n")
    with Stager(cache_dir=tmp_path / "c", credentials=credentials, allow_local=False) as stager:
        staged = stager.stage(source)
        assert staged.fingerprint == f"git:{commit}"
        assert (staged.root / "v").read_text() == "1"
        sessions = len(server.commands)
        newer = repo.commit({"ws/v": "2"})
        assert stager.probe(source) == f"git:{newer}"
        probed = server.commands[sessions:]
        assert len(probed) == 1, "probe is one upload-pack session (ls-remote)"
        assert probed[0] == f"git-upload-pack '{repo.bare}'"
        assert (stager.stage(source).root / "v").read_text() == "2"


def test_unknown_host_key_is_refused(server: SshdGitServer, repo: Repo, keys: SshKeys) -> None:
    repo.commit({"v": "1"})
    unrelated = make_ssh_keys().host_public_line
    with (
        Stager(credentials=creds(keys, f"[otherhost]:{server.port} {unrelated}\n")) as stager,
        pytest.raises(SourceError, match="is unknown") as caught,
    ):
        stager.probe(server.url("config.git"))
    assert "ssh-ed25519 SHA256:" in str(caught.value)
    assert not server.commands, "refused before any command ran"


def test_changed_host_key_is_refused(server: SshdGitServer, repo: Repo, keys: SshKeys) -> None:
    repo.commit({"v": "1"})
    impostor = make_ssh_keys().host_public_line
    with (
        Stager(credentials=creds(keys, f"[127.0.0.1]:{server.port} {impostor}\n")) as stager,
        pytest.raises(SourceError, match="does not match known_hosts"),
    ):
        stager.stage(server.url("config.git"))


def test_revoked_and_hashed_known_hosts(server: SshdGitServer, repo: Repo, keys: SshKeys) -> None:
    import base64
    import hashlib
    import hmac

    commit = repo.commit({"v": "1"})
    salt = b"0123456789abcdefghij"
    name = f"[127.0.0.1]:{server.port}".encode()
    mac = hmac.new(salt, name, hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"
    with Stager(credentials=creds(keys, f"{hashed} {keys.host_public_line}\n")) as stager:
        assert stager.probe(server.url("config.git")) == f"git:{commit}"
    revoked = f"{server.known_hosts_line()}\n@revoked * {keys.host_public_line}\n"
    with (
        Stager(credentials=creds(keys, revoked)) as stager,
        pytest.raises(SourceError, match="revoked"),
    ):
        stager.probe(server.url("config.git"))


def test_wrong_or_missing_identity(server: SshdGitServer, repo: Repo, keys: SshKeys) -> None:
    repo.commit({"v": "1"})
    known = server.known_hosts_line() + "\n"
    stranger = make_ssh_keys().client_private
    wrong = Credentials(ssh_identity=stranger, ssh_known_hosts=known)
    with Stager(credentials=wrong) as stager, pytest.raises(SourceError, match="was rejected"):
        stager.probe(server.url("config.git"))
    with (
        Stager(credentials=Credentials(ssh_known_hosts=known)) as stager,
        pytest.raises(SourceError, match="no SSH identity was supplied"),
    ):
        stager.probe(server.url("config.git"))
