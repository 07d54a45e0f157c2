"""git+https:// against `git http-backend` over TLS with Basic auth and a private CA."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Stager
from tests.support.git_servers import GitHttpsServer, Pki, Repo, make_pki, require_git

USER, PASSWORD = "reader", "pw-0123"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_git()
    return Repo(tmp_path)


@pytest.fixture
def server(pki: Pki, repo: Repo) -> Iterator[GitHttpsServer]:
    with GitHttpsServer(pki, repo.bare.parent, username=USER, password=PASSWORD) as running:
        assert isinstance(running, GitHttpsServer)
        yield running


def source(server: GitHttpsServer, fragment: str = "") -> str:
    return f"git+{server.url('config.git')}{fragment}"


def good(pki: Pki) -> Credentials:
    return Credentials(username=USER, password=PASSWORD, ca_bundle=pki.ca_pem)


def test_stage_and_probe_with_basic_auth_and_private_ca(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    first = repo.commit({"rototo-workspace.toml": "schema_version = 1\n", "v": "1"})
    with Stager(cache_dir=tmp_path / "cache", credentials=good(pki), allow_local=False) as stager:
        staged = stager.stage(source(server, "#main"))
        assert staged.fingerprint == f"git:{first}"
        assert (staged.root / "v").read_text() == "1"

        server.requests.clear()
        assert stager.probe(source(server, "#main")) == f"git:{first}"
        # ls-remote only: the ref advertisement (after the 401 that asks for credentials).
        assert [path.split("?")[0] for _, path in server.requests] == [
            "/config.git/info/refs",
            "/config.git/info/refs",
        ]

        second = repo.commit({"v": "2"})
        assert stager.probe(source(server, "#main")) == f"git:{second}"
        server.requests.clear()
        restaged = stager.stage(source(server, "#main"))
        assert (restaged.root / "v").read_text() == "2"
        assert any(
            "git-upload-pack" in path for method, path in server.requests if method == "POST"
        )

        server.requests.clear()
        again = stager.stage(source(server, "#main"))
        assert again.fingerprint == f"git:{second}"
        assert not any(method == "POST" for method, _ in server.requests), "no objects refetched"


def test_wrong_or_missing_password_is_refused(server: GitHttpsServer, repo: Repo, pki: Pki) -> None:
    repo.commit({"v": "1"})
    wrong = Credentials(username=USER, password="nope", ca_bundle=pki.ca_pem)
    with Stager(credentials=wrong) as stager, pytest.raises(SourceError) as caught:
        stager.probe(source(server))
    assert "rejected" in str(caught.value)
    assert "nope" not in str(caught.value)
    with (
        Stager(credentials=Credentials(ca_bundle=pki.ca_pem)) as stager,
        pytest.raises(SourceError, match="requires authentication"),
    ):
        stager.stage(source(server))


def test_bearer_token_is_sent_as_header(server: GitHttpsServer, repo: Repo, pki: Pki) -> None:
    commit = repo.commit({"v": "1"})
    server.bearer_token = "tok-1"
    with Stager(credentials=Credentials(bearer_token="tok-1", ca_bundle=pki.ca_pem)) as stager:
        assert stager.stage(source(server)).fingerprint == f"git:{commit}"


def test_a_redirect_to_another_host_is_refused_before_the_token_goes_there(
    repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    """libgit2 would follow the first request's redirect and send the bearer token (a
    header) along; the cache repositories tell it not to leave the host."""
    repo.commit({"rototo-workspace.toml": "schema_version = 1\n"})
    with (
        GitHttpsServer(pki, repo.bare.parent, username=None, password=None) as elsewhere,
        GitHttpsServer(pki, repo.bare.parent, username=None, password=None) as origin,
    ):
        assert isinstance(origin, GitHttpsServer)
        assert isinstance(elsewhere, GitHttpsServer)
        # Same server, another host name (the certificate covers both).
        origin.redirect = lambda path: f"https://localhost:{elsewhere.port}{path}"
        credentials = Credentials(bearer_token="tok-secret", ca_bundle=pki.ca_pem)
        with Stager(cache_dir=tmp_path / "cache", credentials=credentials) as stager:
            for attempt in (stager.probe, stager.stage):
                with pytest.raises(SourceError) as caught:
                    attempt(source(origin, "#main"))
                assert "cannot redirect from '127.0.0.1' to 'localhost'" in str(caught.value)
                assert "use the repository's final URL" in str(caught.value)
        assert origin.authorizations
        assert elsewhere.requests == [], "nothing, and so no token, reached the other host"


def test_a_redirect_within_the_host_is_followed(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    commit = repo.commit({"rototo-workspace.toml": "schema_version = 1\n"})
    server.redirect = lambda path: (
        None if path.startswith("/config.git") else server.url(path.removeprefix("/moved"))
    )
    with Stager(cache_dir=tmp_path / "cache", credentials=good(pki)) as stager:
        moved = f"git+{server.url('moved/config.git')}#main"
        assert stager.probe(moved) == f"git:{commit}"
        assert stager.stage(moved).fingerprint == f"git:{commit}"
    assert ("GET", "/moved/config.git/info/refs?service=git-upload-pack") in server.requests


def advertisements(server: GitHttpsServer) -> int:
    return sum(1 for _, path in server.requests if "/info/refs" in path)


def test_sources_on_one_repository_share_a_rounds_ls_remote(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    """`fresh_after`: refs from an ls-remote that started at or after the instant serve
    every source on the repository, whatever their ref or path."""
    manifest = "schema_version = 1\n"
    first = repo.commit({"a/rototo-workspace.toml": manifest, "b/rototo-workspace.toml": manifest})
    repo.tag("v1")
    server.bearer_token = "tok-1"
    credentials = Credentials(bearer_token="tok-1", ca_bundle=pki.ca_pem)
    sources_on_repo = [
        source(server, "#main:a"),
        source(server, "#main:b"),
        source(server, "#v1:a"),
    ]
    with Stager(cache_dir=tmp_path / "cache", credentials=credentials) as stager:
        round_one = time.time()
        fingerprints = {stager.probe(each, fresh_after=round_one) for each in sources_on_repo}
        assert fingerprints == {f"git:{first}"}
        assert advertisements(server) == 1

        # The stage after a probe of the same round resolves from that advertisement too
        # (the fetch's own ref negotiation is part of the fetch).
        server.requests.clear()
        staged = stager.stage(sources_on_repo[1], fresh_after=round_one)
        assert staged.fingerprint == f"git:{first}"
        assert [p for m, p in server.requests if m == "GET"] == [
            "/config.git/info/refs?service=git-upload-pack"
        ], "the fetch's negotiation only"

        # A later round asks again and sees a new commit.
        second = repo.commit({"a/v": "2"})
        server.requests.clear()
        round_two = time.time()
        for each in sources_on_repo[:2]:
            assert stager.probe(each, fresh_after=round_two) == f"git:{second}"
        assert advertisements(server) == 1

        # Without `fresh_after`, every probe asks.
        server.requests.clear()
        for each in sources_on_repo:
            stager.probe(each)
        assert advertisements(server) == 3


def test_concurrent_probes_join_the_ls_remote_in_flight(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    manifest = "schema_version = 1\n"
    commit = repo.commit({f"ws-{index}/rototo-workspace.toml": manifest for index in range(4)})
    server.bearer_token = "tok-1"
    # Hold every request for a moment, so the others arrive while the first is in flight.
    server.redirect = lambda path: time.sleep(0.3)
    credentials = Credentials(bearer_token="tok-1", ca_bundle=pki.ca_pem)
    with Stager(cache_dir=tmp_path / "cache", credentials=credentials) as stager:
        instant = time.time()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            found = list(
                pool.map(
                    lambda index: stager.probe(
                        source(server, f"#main:ws-{index}"), fresh_after=instant
                    ),
                    range(4),
                )
            )
    assert found == [f"git:{commit}"] * 4
    assert advertisements(server) == 1


def test_a_failed_shared_ls_remote_is_not_shared(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    """Each caller then asks for itself, so an error names the caller's own source."""
    commit = repo.commit({"a/rototo-workspace.toml": "schema_version = 1\n"})
    server.bearer_token = "tok-1"
    failing = iter([True])
    server.redirect = lambda path: (
        f"https://localhost:{server.port}{path}" if next(failing, False) else None
    )
    credentials = Credentials(bearer_token="tok-1", ca_bundle=pki.ca_pem)
    with Stager(cache_dir=tmp_path / "cache", credentials=credentials) as stager:
        instant = time.time()
        with pytest.raises(SourceError, match="#main:a"):
            stager.probe(source(server, "#main:a"), fresh_after=instant)
        assert stager.probe(source(server, "#main:b"), fresh_after=instant) == f"git:{commit}"
    assert advertisements(server) == 2


def test_untrusted_certificates_are_refused(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    repo.commit({"v": "1"})
    with (
        Stager(credentials=Credentials(username=USER, password=PASSWORD)) as stager,
        pytest.raises(SourceError, match="not trusted by the system store"),
    ):
        stager.probe(source(server))
    other = make_pki(tmp_path / "other", common_name="another CA")
    foreign = Credentials(username=USER, password=PASSWORD, ca_bundle=other.ca_pem)
    with (
        Stager(credentials=foreign) as stager,
        pytest.raises(SourceError, match="does not verify against the supplied CA bundle"),
    ):
        stager.stage(source(server))
    with (
        Stager(credentials=Credentials(ca_bundle="not pem")) as stager,
        pytest.raises(SourceError, match="not valid PEM"),
    ):
        stager.probe(source(server))


def test_credentials_stay_on_the_root_host(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    # The same server reached as "localhost" is another host for credential scoping.
    repo.commit({"base/v": "base"})
    parent = source(server, "#main:base").replace("127.0.0.1", "localhost")
    repo.commit({"rototo-workspace.toml": f'schema_version = 1\nextends = ["{parent}"]\n'})
    with Stager(credentials=good(pki)) as stager, pytest.raises(SourceError) as caught:
        stager.stage(source(server))
    assert "extends 'git+https://localhost:" in str(caught.value)
    assert "requires authentication and no credentials were supplied" in str(caught.value)


def test_cached_private_commits_stay_with_their_credentials(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    commit = repo.commit({"v": "private"})
    pinned = source(server, f"#{commit}")
    with Stager(cache_dir=tmp_path / "shared", credentials=good(pki)) as tenant_a:
        assert (tenant_a.stage(pinned).root / "v").read_text() == "private"
    anonymous = Credentials(ca_bundle=pki.ca_pem)
    with Stager(cache_dir=tmp_path / "shared", credentials=anonymous) as tenant_b:
        assert tenant_b.probe(pinned) == f"git:{commit}", "a pin is known without network"
        with pytest.raises(SourceError, match="requires authentication"):
            tenant_b.stage(pinned)


def test_layers_across_repositories_probe_every_layer(
    server: GitHttpsServer, repo: Repo, pki: Pki, tmp_path: Path
) -> None:
    base = Repo(tmp_path, "base.git")
    base.commit({"rototo-workspace.toml": "schema_version = 1\n", "v": "base", "w": "base"})
    parent = f"git+{server.url('base.git')}#main"
    repo.commit({"rototo-workspace.toml": f'schema_version = 1\nextends = ["{parent}"]\n'})
    repo.commit({"w": "child"})
    child = source(server, "#main")
    with Stager(cache_dir=tmp_path / "c", credentials=good(pki)) as stager:
        staged = stager.stage(child)
        assert (staged.root / "v").read_text() == "base"
        assert (staged.root / "w").read_text() == "child"
        assert [layer.source for layer in staged.layers] == [parent, child]
        assert stager.probe(child) == staged.fingerprint

        changed_parent = base.commit({"v": "base 2"})
        probed = stager.probe(child)
        assert probed != staged.fingerprint, "a new parent commit changes the fingerprint"
        restaged = stager.stage(child)
        assert restaged.fingerprint == probed
        assert restaged.layers[0].fingerprint == f"git:{changed_parent}"
        assert (restaged.root / "v").read_text() == "base 2"
