"""Outages survived without a restart: the git server, then the API server, go away and return.

One operator process (standalone, narrowed to the test's namespace) serves one Workspace on
a `git+file` repository. The repository disappearing makes attempts fail while the
ConfigMap keeps the last known good version; its return recovers. The operator reaches the
API server through a loopback TCP proxy in front of the real one, so "the API server is
down" (connections refused and cut) is real from the operator's side without stopping the
control plane the other tests share. After both outages the same process publishes the
next commit: no restart was needed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    GitRepo,
    create,
    eventually,
    published,
    start_operator,
    status_of,
    wait_failed,
    wait_ready,
    workspace_namespace,
)

API_DOWN_SECONDS = 12.0


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; `stop()` refuses and cuts connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "outage") as name:
        yield name


@pytest.fixture
def proxied(cluster: Path, tmp_path: Path) -> Iterator[tuple[Path, TcpProxy]]:
    """A kubeconfig whose server is a proxy in front of the cluster's API server."""
    config = yaml.safe_load(cluster.read_text())
    context_name = config["current-context"]
    context = next(c for c in config["contexts"] if c["name"] == context_name)["context"]
    entry = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    server = urllib.parse.urlsplit(entry["server"])
    host = server.hostname or ""
    if not _is_loopback(host):
        pytest.skip(f"the API server outage needs a loopback API server to proxy (got {host!r})")
    proxy = TcpProxy((host, server.port or 443))
    proxy.start()
    entry["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path, proxy
    finally:
        proxy.stop()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def test_git_server_and_api_server_outages_are_survived_without_a_restart(
    kubectl: Kubectl,
    namespace: str,
    proxied: tuple[Path, TcpProxy],
    tmp_path: Path,
) -> None:
    kubeconfig, proxy = proxied
    repo = GitRepo(tmp_path / "repo")
    first = repo.git("rev-parse", "HEAD")
    args = ("--standalone", "--allow-local-sources", "--namespace", namespace)
    operator = start_operator(kubeconfig, tmp_path, "operator", *args)
    try:
        create(
            kubectl,
            "cfg",
            namespace,
            repo.source(),
            periodSeconds=1,
            failureBackoff={"initialSeconds": 1, "maxSeconds": 2},
        )
        wait_ready(kubectl, namespace, "cfg", f"git:{first}")
        before = published(kubectl, namespace, "cfg")
        assert before is not None

        # The git server goes away: attempts fail, the last known good version stays.
        away = repo.path.with_name("repo-away")
        repo.path.rename(away)
        failed = wait_failed(kubectl, namespace, "cfg")
        assert failed["currentFingerprint"] == f"git:{first}"
        eventually(
            lambda: status_of(kubectl, namespace, "cfg").get("consecutiveFailures", 0) >= 2,
            what="failures counted while the git server is away",
        )
        after = published(kubectl, namespace, "cfg")
        assert after is not None
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

        away.rename(repo.path)
        eventually(
            lambda: (
                (s := status_of(kubectl, namespace, "cfg")).get("consecutiveFailures") == 0
                and s.get("lastRefreshOutcome") == "unchanged"
            ),
            what="recovery once the git server is back",
        )

        # The API server goes away for a while; a commit lands meanwhile.
        proxy.stop()
        second = repo.commit_value("2400")
        time.sleep(API_DOWN_SECONDS)  # the outage itself, not an assertion on timing
        assert operator.proc.poll() is None, f"operator exited:\n{operator.log_text()}"
        proxy.start()

        wait_ready(kubectl, namespace, "cfg", f"git:{second}")
        configmap = published(kubectl, namespace, "cfg")
        assert configmap is not None
        assert configmap["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{second}"
        assert operator.proc.poll() is None, "the same process recovered"
        assert operator.http("/healthz")[0] == 200
        status = status_of(kubectl, namespace, "cfg")
        assert status["refreshing"] is False
    finally:
        code = operator.terminate()
    assert code == 0, operator.log_text()
    # Both outages are expected operating conditions: logged as plain warnings.
    assert "Traceback" not in operator.log_text()
    assert "cannot reach the API server" in operator.log_text()
