"""Real servers on loopback for source tests: git over HTTPS and SSH, HTTPS archives.

Tests (never the product) use the system `git` binary to build repositories and to serve
them: `git http-backend` behind a small TLS HTTP server that checks Basic auth, and
`git-upload-pack` behind Debian's OpenSSH `sshd` (key authentication only, a fresh host key
per server). Certificates come from a throwaway CA made with `cryptography`. Every server
counts its requests so tests can assert how many round trips an operation took.

`SshdGitServer` needs `/usr/sbin/sshd` (`make test-deps` installs it when root); tests
skip naming it otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import http.server
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.cluster import launcher

GIT = shutil.which("git")


def require_git() -> str:
    if GIT is None:
        pytest.skip("the `git` binary is needed to build and serve test repositories")
    return GIT


def git(*args: str, cwd: Path | None = None, input_text: str | None = None) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")} | {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd or Path.cwd()),
    }
    completed = subprocess.run(
        [require_git(), *args],
        cwd=cwd,
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {completed.stderr}")
    return completed.stdout.strip()


class Repo:
    """A bare repository (what servers serve) plus a work tree to commit into it."""

    def __init__(self, root: Path, name: str = "config.git") -> None:
        self.bare = root / "repos" / name
        self.work = root / "work" / name
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=self.bare)
        git("init", "--quiet", "--initial-branch=main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def commit(
        self,
        files: dict[str, str],
        *,
        message: str = "change",
        branch: str = "main",
        delete: tuple[str, ...] = (),
        symlinks: dict[str, str] | None = None,
    ) -> str:
        """Write files (and links), commit on `branch`, push; returns the commit id."""
        with contextlib.suppress(RuntimeError):
            git("checkout", "--quiet", "-B", branch, f"origin/{branch}", cwd=self.work)
        if git("branch", "--show-current", cwd=self.work) != branch:
            git("checkout", "--quiet", "-B", branch, cwd=self.work)
        for relative in delete:
            git("rm", "-r", "--quiet", relative, cwd=self.work)
        for relative, text in files.items():
            path = self.work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for relative, target in (symlinks or {}).items():
            path = self.work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or path.exists():
                path.unlink()
            path.symlink_to(target)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, *, annotated: bool = True, target: str = "HEAD") -> str:
        if annotated:
            git("tag", "-f", "-a", "-m", name, name, target, cwd=self.work)
        else:
            git("tag", "-f", name, target, cwd=self.work)
        git("push", "--quiet", "--force", "origin", f"refs/tags/{name}", cwd=self.work)
        return git("rev-parse", f"{name}^{{commit}}", cwd=self.work)

    def set_head(self, branch: str) -> None:
        git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=self.bare)

    @property
    def file_url(self) -> str:
        return f"git+file://{self.bare}"


# -- certificates -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pki:
    """A private CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    ca_pem: str
    cert_file: Path
    key_file: Path


def make_pki(directory: Path, *, common_name: str = "rototo test CA") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_cert, ca_key = launcher.issue_ca(common_name, not_before, not_after)
    cert, key = launcher.issue_leaf(
        ca_cert,
        ca_key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        not_before=not_before,
        not_after=not_after,
    )
    cert_file = directory / "server.crt"
    key_file = directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        cert_file=cert_file,
        key_file=key_file,
    )


# -- HTTPS ------------------------------------------------------------------------------


Route = Callable[["_Handler"], None]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _TlsServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every response on loopback.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead."""

    def _dispatch(self) -> None:
        self.server.owner.requests.append((self.command, self.path))
        self.server.owner.handle(self)

    do_GET = do_POST = do_HEAD = _dispatch

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: HttpsServer


class HttpsServer:
    """A TLS HTTP server on 127.0.0.1 in a thread; subclasses implement `handle`.

    `port` 0 picks a free port; passing the port of a stopped server brings it back at the
    same address (for "server down, then back" tests)."""

    def __init__(self, pki: Pki, *, port: int = 0) -> None:
        self.requests: list[tuple[str, str]] = []
        self._server = _TlsServer(("127.0.0.1", port), _Handler)
        self._server.owner = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def handle(self, request: _Handler) -> None:
        raise NotImplementedError

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def __enter__(self) -> HttpsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class GitHttpsServer(HttpsServer):
    """`git http-backend` over TLS, serving every repository under `project_root`."""

    def __init__(
        self,
        pki: Pki,
        project_root: Path,
        *,
        username: str | None,
        password: str | None,
        port: int = 0,
    ) -> None:
        super().__init__(pki, port=port)
        self.project_root = project_root
        self.username = username
        self.password = password
        self.bearer_token: str | None = None
        # Seconds to hold every upload-pack POST (the object transfer of a fetch, not the
        # ls-remote GET) before answering: keeps a fetch in flight for shutdown tests.
        self.upload_pack_delay = 0.0
        # `redirect(path)` -> a URL answers that request with a 302 there (None: serve it).
        self.redirect: Callable[[str], str | None] | None = None
        # The Authorization header of every request, in order (None when absent).
        self.authorizations: list[str | None] = []

    def _authorized(self, request: _Handler) -> bool:
        if self.username is None and self.bearer_token is None:
            return True
        header = request.headers.get("Authorization", "")
        if self.bearer_token is not None and header == f"Bearer {self.bearer_token}":
            return True
        if self.username is not None and header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            return decoded == f"{self.username}:{self.password}"
        return False

    def handle(self, request: _Handler) -> None:
        self.authorizations.append(request.headers.get("Authorization"))
        target = self.redirect(request.path) if self.redirect is not None else None
        if target is not None:
            request.reply(302, b"", {"Location": target})
            return
        if not self._authorized(request):
            request.reply(401, b"auth required", {"WWW-Authenticate": 'Basic realm="git"'})
            return
        path, _, query = request.path.partition("?")
        if self.upload_pack_delay and path.endswith("/git-upload-pack"):
            time.sleep(self.upload_pack_delay)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": request.command,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "REMOTE_USER": self.username or "",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "HOME": str(self.project_root),
        }
        body = request.body()
        if request.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        env["CONTENT_LENGTH"] = str(len(body))
        completed = subprocess.run(
            [require_git(), "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = completed.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name] = value.strip()
        request.reply(status, payload, headers)


@dataclasses.dataclass
class Archive:
    """What the archive server serves at one path."""

    data: bytes
    etag: str | None = None
    last_modified: str | None = None


class ArchiveServer(HttpsServer):
    """Serves archives with validators, bearer auth, conditional GET and redirects."""

    def __init__(self, pki: Pki, *, token: str | None = None, port: int = 0) -> None:
        super().__init__(pki, port=port)
        self.token = token
        self.archives: dict[str, Archive] = {}
        self.redirects: dict[str, str] = {}

    def handle(self, request: _Handler) -> None:
        path = request.path
        if path in self.redirects:
            request.reply(302, b"", {"Location": self.redirects[path]})
            return
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            request.reply(401, b"missing or wrong bearer token")
            return
        archive = self.archives.get(path)
        if archive is None:
            request.reply(404, b"no such archive")
            return
        headers = {"Content-Type": "application/gzip"}
        if archive.etag:
            headers["ETag"] = archive.etag
        if archive.last_modified:
            headers["Last-Modified"] = archive.last_modified
        if archive.etag and request.headers.get("If-None-Match") == archive.etag:
            request.reply(304, b"", headers)
            return
        request.reply(200, archive.data, headers)


# -- SSH --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SshKeys:
    host_private: str
    host_public_line: str
    client_private: str
    client_public_line: str


def make_ssh_keys() -> SshKeys:
    host = ed25519.Ed25519PrivateKey.generate()
    client = ed25519.Ed25519PrivateKey.generate()

    def private(key: ed25519.Ed25519PrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()

    def public(key: ed25519.Ed25519PrivateKey) -> str:
        return (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )

    return SshKeys(private(host), public(host), private(client), public(client))


SSHD = Path("/usr/sbin/sshd")

# Run by sshd for every session (ForceCommand): logs the requested command so tests can
# count sessions, then runs it only when it is `git-upload-pack <path>`.
_FORCED_COMMAND = """#!/bin/sh
printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> "$0.log"
case "$SSH_ORIGINAL_COMMAND" in
  "git-upload-pack "*) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
echo "only git-upload-pack is served" >&2
exit 1
"""


def require_sshd() -> Path:
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"OpenSSH `sshd` ({SSHD}) serves SSH in these tests (`make test-deps`)")
    return SSHD


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    """Every live process whose parent is `pid`, from /proc (sshd's per-connection children
    call setsid, so a process group does not reach them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name is in parentheses and may hold spaces: split after it.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class SshdGitServer:
    """OpenSSH `sshd -D` on 127.0.0.1 serving `git-upload-pack` to the current user.

    Key authentication only (the client key of `keys` in a temp authorized_keys file),
    `keys.host_private` as the only host key, a forced command that logs each session's
    command (`commands`). `port` 0 picks a free port; the port of a stopped server brings
    it back there with the same host key. The URL's user is the user running the tests
    (root here: `PermitRootLogin prohibit-password`)."""

    def __init__(self, keys: SshKeys, project_root: Path, *, port: int = 0) -> None:
        self.keys = keys
        self.project_root = project_root
        self.port = port
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._log: Path | None = None
        self._earlier: list[str] = []

    @property
    def commands(self) -> list[str]:
        """The command each session asked for, in order (sessions refused at key exchange
        or authentication run nothing and are not listed)."""
        if self._log is None or not self._log.exists():
            return list(self._earlier)
        return self._earlier + self._log.read_text().splitlines()

    def known_hosts_line(self, host: str = "127.0.0.1") -> str:
        return f"[{host}]:{self.port} {self.keys.host_public_line}"

    def url(self, repo: str) -> str:
        return f"git+ssh://{self.user}@127.0.0.1:{self.port}{self.project_root / repo}"

    def _configure(self, directory: Path) -> Path:
        host_key = directory / "host_ed25519"
        host_key.write_text(self.keys.host_private)
        host_key.chmod(0o600)
        authorized = directory / "authorized_keys"
        authorized.write_text(self.keys.client_public_line + "\n")
        forced = directory / "git-only"
        forced.write_text(_FORCED_COMMAND)
        forced.chmod(0o755)
        self._log = directory / "git-only.log"
        config = directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{self.port}",
                    f"HostKey {host_key}",
                    f"PidFile {directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    f"ForceCommand {forced}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "X11Forwarding no",
                    "PermitTunnel no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return config

    def _wait_listening(self, stderr_file: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {stderr_file.read_text()}")
            with socket.socket() as client, contextlib.suppress(OSError):
                client.settimeout(1)
                client.connect(("127.0.0.1", self.port))
                return
            time.sleep(0.02)
        raise RuntimeError(f"sshd did not listen on port {self.port}: {stderr_file.read_text()}")

    def __enter__(self) -> SshdGitServer:
        sshd = require_sshd()
        require_git()
        # Debian's sshd refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        if self.port == 0:
            self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="rototo-sshd-"))
        config = self._configure(self._dir)
        stderr_file = self._dir / "sshd.log"
        with stderr_file.open("wb") as stderr:
            self._process = subprocess.Popen(
                [str(sshd), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        try:
            self._wait_listening(stderr_file)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            sessions = _children(process.pid)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            # A session still open when the server stops would outlive it: end it too.
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 15)
        if self._dir is not None:
            # What ran before a stop stays in `commands` after a restart.
            self._earlier = self.commands
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._log = None


@contextlib.contextmanager
def serving(server: Any) -> Iterator[Any]:
    with server:
        yield server
