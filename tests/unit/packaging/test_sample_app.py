"""The sample application hot-reads a kubelet-style ConfigMap volume without restarting.

``examples/sample-app/app.py`` runs as a real process on a loopback port, reading a
directory laid out and updated exactly as the kubelet's atomic writer does it
(``tests/support/kubelet_volume.py``). The compiled models are produced by the real engine
from small workspaces written here. After a ``..data`` swap the same process answers with
the new value and fingerprint; a corrupt update keeps the last good answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import gitrepo

from rototo_operator.engine import compiled
from tests.support.kubelet_volume import KubeletVolume

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "examples" / "sample-app" / "app.py"
ENTERPRISE = {"account": {"plan": "enterprise"}}


def workspace_model(tmp: Path, limit: int, fingerprint: str) -> bytes:
    """Compile a one-variable workspace whose `account-limits` depends on the plan."""
    root = gitrepo.write_small_workspace(tmp / fingerprint.replace(":", "-"), limit)
    model = compiled.compile_tree(root, source=f"file://{root}", fingerprint=fingerprint)
    return model.to_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class App:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def resolve(self, variable: str, context: dict[str, Any]) -> tuple[int, Any]:
        query = urllib.parse.urlencode({"context": json.dumps(context)})
        return self.get(f"/resolve/{variable}?{query}")

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        out, _ = self.process.communicate(timeout=5)
        return out


def eventually(probe: Callable[[], bool], what: str, app: App, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert app.process.poll() is None, f"app exited while waiting for {what}:\n{app.output()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def volume(tmp_path: Path) -> KubeletVolume:
    return KubeletVolume(tmp_path / "etc-rototo" / "account-config")


@pytest.fixture
def app(volume: KubeletVolume, tmp_path: Path) -> Iterator[App]:
    volume.write({"workspace.json": workspace_model(tmp_path, 1000, "git:" + "1" * 40)})
    port = free_port()
    env = {
        **os.environ,
        "ROTOTO_WORKSPACE_DIR": str(volume.target),
        "ROTOTO_REFRESH_SECONDS": "0.1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, str(APP)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = App(process, port)

    def healthy() -> bool:
        try:
            return running.get("/healthz")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        eventually(healthy, "the app to serve", running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_answer_changes_after_a_kubelet_swap_without_restart(
    app: App, volume: KubeletVolume, tmp_path: Path
) -> None:
    status, body = app.resolve("account-limits", ENTERPRISE)
    assert status == 200, body
    assert body["value"] == 1000
    assert body["fingerprint"] == "git:" + "1" * 40
    assert app.resolve("account-limits", {"account": {"plan": "free"}})[1]["value"] == 100
    pid = app.process.pid

    assert volume.write({"workspace.json": workspace_model(tmp_path, 5000, "git:" + "2" * 40)})
    eventually(
        lambda: app.resolve("account-limits", ENTERPRISE)[1].get("value") == 5000,
        "the new value after the ..data swap",
        app,
    )
    assert app.resolve("account-limits", ENTERPRISE)[1]["fingerprint"] == "git:" + "2" * 40
    assert app.process.pid == pid
    assert app.process.poll() is None
    status_code, refresh = app.get("/status")
    assert status_code == 200
    assert refresh["current_fingerprint"] == "git:" + "2" * 40
    assert refresh["consecutive_failures"] == 0


def test_a_corrupt_update_keeps_the_last_good_answer(
    app: App, volume: KubeletVolume, tmp_path: Path
) -> None:
    volume.write({"workspace.json": b'{"format": "rototo.compiled/v1", "trunc'})
    eventually(
        lambda: app.get("/status")[1]["consecutive_failures"] > 0,
        "the failed refresh to be counted",
        app,
    )
    status, body = app.resolve("account-limits", ENTERPRISE)
    assert status == 200
    assert body["value"] == 1000, "the last known good model keeps answering"
    assert app.get("/status")[1]["last_error"]

    volume.write({"workspace.json": workspace_model(tmp_path, 7000, "git:" + "3" * 40)})
    eventually(
        lambda: app.resolve("account-limits", ENTERPRISE)[1].get("value") == 7000,
        "recovery after a good update",
        app,
    )


def test_bad_requests_are_explained(app: App) -> None:
    status, body = app.get("/resolve/account-limits?context=%7Bnot-json")
    assert status == 400
    assert "context is not JSON" in body["error"]
    status, body = app.get("/resolve/account-limits?context=%5B1%5D")
    assert status == 400
    assert "JSON object" in body["error"]
    status, body = app.resolve("no-such-variable", ENTERPRISE)
    assert status == 422
    assert "no-such-variable" in body["error"]


def test_sigterm_stops_the_app_cleanly(app: App) -> None:
    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(timeout=10) == 0, app.output()


def test_missing_workspace_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(APP)],
        env={
            **os.environ,
            "ROTOTO_WORKSPACE_DIR": str(tmp_path / "not-mounted"),
            "PORT": str(free_port()),
            "HOST": "127.0.0.1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert f"cannot load the workspace from {tmp_path / 'not-mounted'}" in done.stderr
