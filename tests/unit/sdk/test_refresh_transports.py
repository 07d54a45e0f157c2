"""The refresh model over every remote source form, against real servers on loopback.

For git+file, git+https (http-backend behind TLS, Basic auth, private CA), git+ssh
(OpenSSH sshd running git-upload-pack, pinned host key) and an https archive server with
ETag, one scenario: initial load, unchanged, refreshed, a broken commit keeps serving the
previous version and reports the lint error, the server goes down (failures count and the
backoff grows) and comes back (a success resets it), and for git a pinned commit is
immutable. The refresh core is driven through the same `SourceLoader` + `Stager` the
operator uses, so per-transport credentials come from the Stager.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import pwd
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rototo_operator import sources
from rototo_operator.errors import RototoError
from rototo_operator.sdk.loaders import SourceLoader
from rototo_operator.sdk.refresher import Refresher
from rototo_operator.sdk.workspace import Workspace
from tests.support import git_servers

MANIFEST = "schema_version = 1\n"
USER, PASSWORD, TOKEN = "reader", "pw-0123", "tok-archive"
PERIOD = 60.0


def variable(default: object) -> str:
    value = f'"{default}"' if isinstance(default, str) else str(default)
    return (
        "schema_version = 1\n\n"
        'description = "Requests per second for one account"\n'
        'type = "int"\n\n'
        f"[resolve]\ndefault = {value}\n"
    )


def workspace_files(rate_limit: object) -> dict[str, str]:
    return {"rototo-workspace.toml": MANIFEST, "variables/rate-limit.toml": variable(rate_limit)}


class Transport:
    """One source form: publish a version, take the server down, bring it back."""

    name = ""
    pinnable = True
    credentials: sources.Credentials | None = None

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.repo: git_servers.Repo | None = None
        if self.pinnable:
            git_servers.require_git()
            self.repo = git_servers.Repo(tmp_path)

    @property
    def source(self) -> str:
        raise NotImplementedError

    def pinned(self, commit: str) -> str:
        return f"{self.source.split('#')[0]}#{commit}"

    def publish(self, rate_limit: object) -> str:
        """Make `rate_limit` the served version; returns the expected fingerprint."""
        assert self.repo is not None
        return "git:" + self.repo.commit(workspace_files(rate_limit))

    def down(self) -> None:
        raise NotImplementedError

    def up(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop whatever server runs."""


class GitFile(Transport):
    name = "git+file"

    @property
    def source(self) -> str:
        assert self.repo is not None
        return f"{self.repo.file_url}#main"

    def down(self) -> None:
        assert self.repo is not None
        self.repo.bare.rename(self.repo.bare.with_suffix(".away"))

    def up(self) -> None:
        assert self.repo is not None
        self.repo.bare.with_suffix(".away").rename(self.repo.bare)


class ServedTransport(Transport):
    """A transport behind a loopback server that stops and restarts at the same port."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.server: Any = None
        self.port = 0

    def serve(self) -> Any:
        """A new (not yet started) server at `self.port` (0: any free port)."""
        raise NotImplementedError

    def up(self) -> None:
        server = self.serve()
        server.__enter__()
        self.server, self.port = server, server.port

    def down(self) -> None:
        self.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None


class GitHttps(ServedTransport):
    name = "git+https"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.pki = git_servers.make_pki(tmp_path / "pki")
        self.credentials = sources.Credentials(
            username=USER, password=PASSWORD, ca_bundle=self.pki.ca_pem
        )
        self.up()

    @property
    def source(self) -> str:
        return f"git+https://127.0.0.1:{self.port}/config.git#main"

    def serve(self) -> Any:
        assert self.repo is not None
        return git_servers.GitHttpsServer(
            self.pki, self.repo.bare.parent, username=USER, password=PASSWORD, port=self.port
        )


class GitSsh(ServedTransport):
    name = "git+ssh"

    def __init__(self, tmp_path: Path) -> None:
        git_servers.require_sshd()
        super().__init__(tmp_path)
        self.keys = git_servers.make_ssh_keys()
        self.up()
        # The host key is pinned: the same key at the same port after a restart.
        self.credentials = sources.Credentials(
            ssh_identity=self.keys.client_private,
            ssh_known_hosts=f"[127.0.0.1]:{self.port} {self.keys.host_public_line}\n",
        )

    @property
    def source(self) -> str:
        assert self.repo is not None
        # The user running the tests: sshd serves real accounts (root here).
        user = pwd.getpwuid(os.getuid()).pw_name
        return f"git+ssh://{user}@127.0.0.1:{self.port}{self.repo.bare}#main"

    def serve(self) -> Any:
        assert self.repo is not None
        return git_servers.SshdGitServer(self.keys, self.repo.bare.parent, port=self.port)


class HttpsArchive(ServedTransport):
    name = "https archive"
    pinnable = False

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.pki = git_servers.make_pki(tmp_path / "pki")
        self.credentials = sources.Credentials(bearer_token=TOKEN, ca_bundle=self.pki.ca_pem)
        self.archives: dict[str, git_servers.Archive] = {}
        self.version = 0
        self.up()

    @property
    def source(self) -> str:
        return f"https://127.0.0.1:{self.port}/config.tar.gz"

    def publish(self, rate_limit: object) -> str:
        self.version += 1
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, text in workspace_files(rate_limit).items():
                data = text.encode()
                info = tarfile.TarInfo(f"config-main/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        self.archives["/config.tar.gz"] = git_servers.Archive(
            buffer.getvalue(), etag=f'"v{self.version}"'
        )
        return "http:"  # a digest of the validator: only the prefix is known here

    def serve(self) -> Any:
        server = git_servers.ArchiveServer(self.pki, token=TOKEN, port=self.port)
        server.archives = self.archives  # the published versions outlive a restart
        return server


TRANSPORTS: dict[str, type[Transport]] = {
    kind.name: kind for kind in (GitFile, GitHttps, GitSsh, HttpsArchive)
}


@contextlib.contextmanager
def started(name: str, tmp_path: Path) -> Iterator[Transport]:
    if TRANSPORTS[name].pinnable and shutil.which("git") is None:
        pytest.skip("the system `git` command (used to make and serve test repositories)")
    made = TRANSPORTS[name](tmp_path)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    with started(request.param, tmp_path) as made:
        yield made


@pytest.fixture(params=[name for name, kind in TRANSPORTS.items() if kind.pinnable])
def git_transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    """Archives have no commit to pin: an archive source is never immutable."""
    with started(request.param, tmp_path) as made:
        yield made


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


@contextlib.contextmanager
def refresher_for(
    transport: Transport, source: str, clock: Clock
) -> Iterator[Refresher[Workspace]]:
    stager = sources.Stager(
        cache_dir=transport.tmp_path / "cache",
        credentials=transport.credentials,
        allow_local=transport.name == "git+file",
    )
    loader = SourceLoader(source, stager, owns_stager=True)
    try:
        yield Refresher(loader, clock=clock)
    finally:
        loader.close()


async def rate_limit(refresher: Refresher[Workspace]) -> Any:
    assert refresher.current is not None
    return (await refresher.current.resolve_variable("rate-limit", {})).value


def fingerprint_matches(found: str | None, expected: str) -> bool:
    """Exact for git; an archive's expected value is only its kind prefix ("http:")."""
    if found is None:
        return False
    return found == expected or (expected.endswith(":") and found.startswith(expected))


async def test_the_refresh_model_over_each_transport(transport: Transport) -> None:
    clock = Clock()
    first = transport.publish(100)
    with refresher_for(transport, transport.source, clock) as refresher:
        assert await refresher.refresh() == "refreshed", "the initial load"
        assert await rate_limit(refresher) == 100
        status = refresher.status()
        assert fingerprint_matches(status.current_fingerprint, first)
        assert not status.immutable
        served_first = status.current_fingerprint

        assert await refresher.refresh() == "unchanged"

        second = transport.publish(250)
        assert await refresher.refresh() == "refreshed"
        assert await rate_limit(refresher) == 250
        served_second = refresher.status().current_fingerprint
        assert fingerprint_matches(served_second, second)
        assert served_second != served_first

        transport.publish("lots")
        with pytest.raises(RototoError, match="lint failed"):
            await refresher.refresh()
        status = refresher.status()
        assert status.consecutive_failures == 1
        assert status.last_error is not None
        assert "rototo/variable-value-type-mismatch" in status.last_error
        assert status.current_fingerprint == served_second, "last known good kept"
        assert await rate_limit(refresher) == 250

        transport.publish(300)
        assert await refresher.refresh() == "refreshed"
        assert await rate_limit(refresher) == 300
        status = refresher.status()
        assert (status.consecutive_failures, status.last_error) == (0, None)
        assert refresher.next_delay(PERIOD) == PERIOD

        transport.down()
        delays = []
        for failures in (1, 2, 3):
            clock.now += datetime.timedelta(seconds=1)
            with pytest.raises(RototoError):
                await refresher.refresh()
            assert refresher.status().consecutive_failures == failures
            delays.append(refresher.next_delay(PERIOD))
        assert delays == [5.0, 10.0, 20.0], "the backoff doubles from 5 s while it is down"
        assert await rate_limit(refresher) == 300, "still serving while the server is down"
        last_success = refresher.status().last_success

        transport.up()
        clock.now += datetime.timedelta(seconds=1)
        assert await refresher.refresh() == "unchanged"
        status = refresher.status()
        assert (status.consecutive_failures, status.last_error) == (0, None)
        assert status.last_success is not None
        assert last_success is not None
        assert status.last_success > last_success
        assert refresher.next_delay(PERIOD) == PERIOD, "a success resets the backoff"


async def test_a_pinned_commit_is_immutable_over_each_git_transport(
    git_transport: Transport,
) -> None:
    transport = git_transport
    pinned = transport.publish(100).removeprefix("git:")
    transport.publish(200)
    with refresher_for(transport, transport.pinned(pinned), Clock()) as refresher:
        assert await refresher.refresh() == "refreshed"
        assert await rate_limit(refresher) == 100
        status = refresher.status()
        assert status.immutable
        assert status.current_fingerprint == f"git:{pinned}"
        assert refresher.next_delay(PERIOD) is None, "never polled"
        transport.down()
        assert await refresher.refresh() == "immutable", "no network needed"
        transport.up()
