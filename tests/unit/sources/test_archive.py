"""HTTPS archive sources against a real TLS server: validators, auth, redirects, safety."""

from __future__ import annotations

import base64
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Credentials, Limits, Stager
from rototo_operator.sources.archive import extract
from tests.support.git_servers import Archive, ArchiveServer, Pki, make_pki

TOKEN = "tok-archive"
MANIFEST = "schema_version = 1\n"


def targz(files: dict[str, str], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"") if info.size == 0 else None)
    return buffer.getvalue()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def server(pki: Pki) -> Iterator[ArchiveServer]:
    with ArchiveServer(pki, token=TOKEN) as running:
        assert isinstance(running, ArchiveServer)
        yield running


@pytest.fixture
def stager(pki: Pki, tmp_path: Path) -> Iterator[Stager]:
    credentials = Credentials(bearer_token=TOKEN, ca_bundle=pki.ca_pem)
    with Stager(cache_dir=tmp_path / "c", credentials=credentials, allow_local=False) as instance:
        yield instance


def test_stage_and_probe_with_etag(server: ArchiveServer, stager: Stager) -> None:
    server.archives["/ws.tar.gz"] = Archive(
        targz({"config-main/rototo-workspace.toml": MANIFEST, "config-main/v": "1"}), etag='"v1"'
    )
    url = server.url("ws.tar.gz")
    staged = stager.stage(url)
    assert staged.fingerprint.startswith("http:")
    assert (staged.root / "v").read_text() == "1", "the single wrapper directory is the root"
    assert not staged.immutable
    server.requests.clear()
    assert stager.probe(url) == staged.fingerprint
    assert server.requests == [("HEAD", "/ws.tar.gz")], "one request, no download"

    server.archives["/ws.tar.gz"] = Archive(
        targz({"config-main/rototo-workspace.toml": MANIFEST, "config-main/v": "2"}), etag='"v2"'
    )
    assert stager.probe(url) != staged.fingerprint
    assert (stager.stage(url).root / "v").read_text() == "2"


def test_last_modified_and_content_hash_fallbacks(server: ArchiveServer, stager: Stager) -> None:
    data = targz({"rototo-workspace.toml": MANIFEST, "v": "1"})
    server.archives["/lm.tar.gz"] = Archive(data, last_modified="Thu, 28 May 2026 12:00:00 GMT")
    server.archives["/weak.tar.gz"] = Archive(data, etag='W/"weak"')
    server.archives["/none.tar.gz"] = Archive(data)
    by_date = stager.stage(server.url("lm.tar.gz"))
    assert by_date.fingerprint.startswith("http:")
    assert stager.probe(server.url("lm.tar.gz")) == by_date.fingerprint
    plain = stager.stage(server.url("none.tar.gz"))
    assert plain.fingerprint.startswith("sha256:")
    assert stager.probe(server.url("none.tar.gz")) is None
    assert stager.stage(server.url("weak.tar.gz")).fingerprint == plain.fingerprint


def test_subdir_fragments_and_wrapper_fallback(server: ArchiveServer, stager: Stager) -> None:
    server.archives["/multi.tar.gz"] = Archive(
        targz(
            {
                "repo/workspaces/prod/rototo-workspace.toml": MANIFEST,
                "repo/workspaces/prod/v": "prod",
                "repo/workspaces/dev/v": "dev",
            }
        ),
        etag='"m"',
    )
    url = server.url("multi.tar.gz")
    assert (stager.stage(f"{url}#:workspaces/prod").root / "v").read_text() == "prod"
    assert (stager.stage(f"{url}#:repo/workspaces/dev").root / "v").read_text() == "dev"
    with pytest.raises(SourceError, match="was not found"):
        stager.stage(f"{url}#:workspaces/qa")
    server.archives["/ambiguous.tar.gz"] = Archive(targz({"a/v": "1", "b/v": "2"}))
    with pytest.raises(SourceError, match="does not contain a clear workspace root; use #:subdir"):
        stager.stage(server.url("ambiguous.tar.gz"))


def test_layering_inside_an_archive(server: ArchiveServer, stager: Stager) -> None:
    server.archives["/layers.tar.gz"] = Archive(
        targz(
            {
                "r/base/v": "base",
                "r/base/w": "base",
                "r/prod/rototo-workspace.toml": 'schema_version = 1\nextends = ["../base"]\n',
                "r/prod/w": "prod",
            }
        ),
        etag='"l"',
    )
    url = server.url("layers.tar.gz")
    staged = stager.stage(f"{url}#:prod")
    assert (staged.root / "v").read_text() == "base"
    assert (staged.root / "w").read_text() == "prod"
    assert [layer.source for layer in staged.layers] == [f"{url}#:base", f"{url}#:prod"]
    assert stager.probe(f"{url}#:prod") == staged.fingerprint


def test_bearer_token_required_and_not_leaked(server: ArchiveServer, pki: Pki) -> None:
    server.archives["/ws.tar.gz"] = Archive(targz({"rototo-workspace.toml": MANIFEST}))
    with (
        Stager(credentials=Credentials(ca_bundle=pki.ca_pem)) as anonymous,
        pytest.raises(SourceError, match=r"HTTP 401 .*check the bearer token"),
    ):
        anonymous.stage(server.url("ws.tar.gz"))
    wrong = Credentials(bearer_token="nope-secret", ca_bundle=pki.ca_pem)
    with Stager(credentials=wrong) as stager, pytest.raises(SourceError) as caught:
        stager.probe(server.url("ws.tar.gz"))
    assert "nope-secret" not in str(caught.value)


def test_redirects_stay_on_https(server: ArchiveServer, stager: Stager) -> None:
    server.archives["/real.tar.gz"] = Archive(targz({"rototo-workspace.toml": MANIFEST}))
    server.redirects["/moved.tar.gz"] = "/real.tar.gz"
    server.redirects["/insecure.tar.gz"] = "http://127.0.0.1:1/real.tar.gz"
    server.redirects["/loop.tar.gz"] = "/loop.tar.gz"
    assert (stager.stage(server.url("moved.tar.gz")).root / tree_manifest()).is_file()
    with pytest.raises(SourceError, match="redirects must stay on https"):
        stager.stage(server.url("insecure.tar.gz"))
    with pytest.raises(SourceError, match="too many redirects"):
        stager.probe(server.url("loop.tar.gz"))


def tree_manifest() -> str:
    return "rototo-workspace.toml"


def test_untrusted_certificate(server: ArchiveServer, tmp_path: Path) -> None:
    server.archives["/ws.tar.gz"] = Archive(targz({"rototo-workspace.toml": MANIFEST}))
    with (
        Stager(credentials=Credentials(bearer_token=TOKEN)) as stager,
        pytest.raises(SourceError, match="TLS certificate is not trusted"),
    ):
        stager.stage(server.url("ws.tar.gz"))
    other = make_pki(tmp_path / "other", common_name="another CA")
    foreign = Credentials(bearer_token=TOKEN, ca_bundle=other.ca_pem)
    with (
        Stager(credentials=foreign) as stager,
        pytest.raises(SourceError, match="TLS certificate is not trusted"),
    ):
        stager.probe(server.url("ws.tar.gz"))


def test_http_errors_and_download_limit(server: ArchiveServer, pki: Pki) -> None:
    credentials = Credentials(bearer_token=TOKEN, ca_bundle=pki.ca_pem)
    with Stager(credentials=credentials) as stager, pytest.raises(SourceError, match="HTTP 404"):
        stager.stage(server.url("missing.tar.gz"))
    noise = base64.b64encode(os.urandom(5000)).decode()
    server.archives["/big.tar.gz"] = Archive(targz({"v": noise}))
    with (
        Stager(credentials=credentials, limits=Limits(archive_bytes=100)) as stager,
        pytest.raises(SourceError, match="archive_bytes=100"),
    ):
        stager.stage(server.url("big.tar.gz"))
    server.archives["/junk.tar.gz"] = Archive(b"not gzip at all")
    with (
        Stager(credentials=credentials) as stager,
        pytest.raises(SourceError, match=r"not a readable \.tar\.gz"),
    ):
        stager.stage(server.url("junk.tar.gz"))


def write_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (entry("/etc/evil"), "unsafe path: /etc/evil"),
        (entry("../evil"), "unsafe path: ../evil"),
        (entry("ws/../../evil"), "unsafe path"),
        (entry("ws/link", tarfile.SYMTYPE, "../../etc/passwd"), "pointing outside the archive"),
        (entry("ws/link", tarfile.SYMTYPE, "/etc/passwd"), "pointing outside the archive"),
        (entry("ws/hard", tarfile.LNKTYPE, "../outside"), "pointing outside the archive"),
        (entry("ws/fifo", tarfile.FIFOTYPE), "unsupported entry type"),
        (entry("ws/dev", tarfile.CHRTYPE), "unsupported entry type"),
    ],
)
def test_unsafe_entries_are_refused(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    archive = write_archive(tmp_path / "a.tar.gz", [(member, b"")])
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match=message):
        extract(archive, tmp_path / "out", Limits(), "test archive")
    assert not (tmp_path / "evil").exists()


def test_inner_links_are_skipped_and_files_kept(tmp_path: Path) -> None:
    archive = write_archive(
        tmp_path / "a.tar.gz",
        [
            (entry("./ws/rototo-workspace.toml"), MANIFEST.encode()),
            (entry("ws/alias", tarfile.SYMTYPE, "rototo-workspace.toml"), b""),
            (entry("ws/dir", tarfile.DIRTYPE), b""),
        ],
    )
    (tmp_path / "out").mkdir()
    extract(archive, tmp_path / "out", Limits(), "test archive")
    assert (tmp_path / "out/ws/rototo-workspace.toml").read_text() == MANIFEST
    assert not (tmp_path / "out/ws/alias").exists()
    assert (tmp_path / "out/ws/dir").is_dir()


def test_extraction_limits(tmp_path: Path) -> None:
    archive = write_archive(
        tmp_path / "a.tar.gz", [(entry(f"f{index}"), b"12345") for index in range(4)]
    )
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match="archive_entries=3"):
        extract(archive, tmp_path / "out", Limits(archive_entries=3), "a")
    with pytest.raises(SourceError, match="decompressed_bytes=12"):
        extract(archive, tmp_path / "out", Limits(decompressed_bytes=12), "a")


def test_gzip_bomb_is_cut_off(tmp_path: Path) -> None:
    # 16 MiB of pax header text compresses to a few KiB; tarfile would read all of it.
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("v")
        info.pax_headers = {"comment": "a" * (16 << 20)}
        tar.addfile(info, io.BytesIO(b""))
    assert bomb.stat().st_size < 100_000
    (tmp_path / "out").mkdir()
    limits = Limits(decompressed_bytes=1 << 20, archive_entries=10)
    with pytest.raises(SourceError, match="decompressed_bytes=1048576"):
        extract(bomb, tmp_path / "out", limits, "bomb")


def test_silent_server_hits_the_http_timeout() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepted by the kernel, never answered
        port = listener.getsockname()[1]
        with (
            Stager(limits=Limits(http_timeout=0.5)) as stager,
            pytest.raises(SourceError, match=r"source limit http_timeout=0\.5 exceeded"),
        ):
            stager.probe(f"https://127.0.0.1:{port}/ws.tar.gz")
