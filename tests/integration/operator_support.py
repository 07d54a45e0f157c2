"""Helpers for the operator integration tests: a real operator process, Workspaces, polling.

Shared by `test_operator*.py`: `OperatorProcess` runs `rototo-operator run` as a real
process with its stdout and stderr in a log file (stopped with SIGTERM like a pod);
`GitRepo` is a local repository changed with the system `git`; the rest create Workspaces
with `kubectl` and poll their status, ConfigMaps and Events (`eventually`, never a fixed
sleep as an assertion).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.launcher import Kubectl

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = REPO_ROOT / "crds" / "workspaces.rototo.dev.yaml"
OPERATOR = Path(sys.executable).with_name("rototo-operator")
TIMEOUT = 60.0

VARIABLE = """schema_version = 1
description = "Maximum output tokens for generated summaries"
type = "int"

[resolve]
default = {value}
"""


def eventually(check: Callable[[], Any], *, timeout: float = TIMEOUT, what: str = "it") -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s (last: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GitRepo:
    """A real git repository holding a small rototo workspace, changed with system git."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if shutil.which("git") is None:
            pytest.skip("system git is not installed")
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        (path / "rototo-workspace.toml").write_text("schema_version = 1\n")
        (path / "variables").mkdir()
        self.commit_value("1800")

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit_value(self, value: str) -> str:
        """Commit a variable default (`"oops"` makes a lint error); returns the commit SHA."""
        (self.path / "variables" / "summary-token-budget.toml").write_text(
            VARIABLE.format(value=value)
        )
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"default {value}")
        return self.git("rev-parse", "HEAD")

    def source(self, ref: str = "main") -> str:
        return f"git+file://{self.path}#{ref}"


class OperatorProcess:
    """`rototo-operator run` as a real process; stopped with SIGTERM like a pod."""

    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        self.metrics_port = free_port()
        self.log = log
        # Its own temporary directory, inside the test's: staging directories land there,
        # so a killed operator's leftovers go with the test's tmp_path, and a clean stop
        # can be checked for leaving none (`staging_leftovers`).
        self.tmpdir = log.with_name(f"{log.stem}-tmp")
        self.tmpdir.mkdir(exist_ok=True)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TMPDIR": str(self.tmpdir)}
        cmd = [
            str(OPERATOR),
            "run",
            "--metrics-address",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            *args,
        ]
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def http(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            assert self.proc.poll() is None, f"operator exited:\n{self.log_text()}"
            with contextlib.suppress(OSError):
                return self.http("/healthz")[0] == 200
            return False

        eventually(healthy, what="operator /healthz")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log_file.close()


def start_operator(
    kubeconfig: Path, work: Path, label: str, *args: str, cache_dir: Path | None = None
) -> OperatorProcess:
    """A healthy `rototo-operator run` logging to `work/<label>.log`.

    Its `--cache-dir` is `work/<label>-cache` unless `cache_dir` is given (pass one to
    keep the cache across a restart). `args` come last, so they can override."""
    proc = OperatorProcess(
        kubeconfig,
        work / f"{label}.log",
        "--cache-dir",
        str(cache_dir if cache_dir is not None else work / f"{label}-cache"),
        *args,
    )
    try:
        proc.wait_healthy()
    except BaseException:
        proc.kill()
        raise
    return proc


@contextlib.contextmanager
def running_operator(
    kubeconfig: Path, work: Path, *args: str, label: str = "operator"
) -> Iterator[OperatorProcess]:
    """`start_operator` for a block; on leaving, SIGTERM and (unless failing) exit code 0."""
    proc = start_operator(kubeconfig, work, label, *args)
    try:
        yield proc
    finally:
        code = proc.terminate()
    assert code == 0, f"operator exit code {code}:\n{proc.log_text()}"
    leftovers = sorted(path.name for path in proc.tmpdir.glob("rototo-stage-*"))
    assert not leftovers, f"a clean stop left staging directories behind: {leftovers}"


@contextlib.contextmanager
def workspace_namespace(kubectl: Kubectl, prefix: str) -> Iterator[str]:
    """A fresh namespace (the Workspace CRD installed) for a block; deleted without waiting."""
    apply_crd(kubectl)
    name = make_namespace(kubectl, prefix)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def apply_crd(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(CRD_FILE))
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workspaces.rototo.dev",
        "--timeout=60s",
    )
    # The API server publishes a new CRD's OpenAPI schema about a second after it is
    # Established; `kubectl explain` fails until then.
    eventually(
        lambda: kubectl("explain", "workspace", check=False).returncode == 0,
        what="the Workspace schema served for kubectl explain",
    )


def workspace_yaml(name: str, namespace: str, source: str, **spec: Any) -> str:
    body = {
        "apiVersion": "rototo.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"source": source, **spec},
    }
    return json.dumps(body)


def get_json(kubectl: Kubectl, *args: str) -> Any:
    done = kubectl("get", *args, "-o", "json", check=False)
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return None
    return json.loads(done.stdout)


def status_of(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body = get_json(kubectl, "workspace", name, "-n", namespace) or {}
    status: dict[str, Any] = body.get("status") or {}
    return status


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in status.get("conditions") or [] if c["type"] == kind]
    return found[0] if found else {}


def make_namespace(kubectl: Kubectl, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    return name


def create(kubectl: Kubectl, name: str, namespace: str, source: str, **spec: Any) -> None:
    kubectl("apply", "-f", "-", input=workspace_yaml(name, namespace, source, **spec))


def patch_spec(kubectl: Kubectl, namespace: str, name: str, **spec: Any) -> None:
    """Merge `spec` fields into Workspace `name` with `kubectl patch` (a spec change)."""
    body = json.dumps({"spec": spec})
    kubectl("patch", "workspace", name, "-n", namespace, "--type", "merge", "-p", body)


def published(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    body: dict[str, Any] | None = get_json(kubectl, "configmap", name, "-n", namespace)
    return body


def wait_ready(
    kubectl: Kubectl, namespace: str, name: str, fingerprint: str | None = None
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        if condition(status, "Ready").get("status") != "True":
            return None
        if fingerprint is not None and status.get("currentFingerprint") != fingerprint:
            return None
        return status

    result: dict[str, Any] = eventually(ready, what=f"Workspace {name} Ready ({fingerprint})")
    return result


def events_for(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    body = get_json(
        kubectl, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    items: list[dict[str, Any]] = (body or {}).get("items", [])
    return items


def wait_failed(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    """The status once an attempt of Workspace `name` has failed."""

    def failed() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        return status if status.get("lastRefreshOutcome") == "failed" else None

    result: dict[str, Any] = eventually(failed, what=f"a failed attempt of Workspace {name}")
    return result


def apply_secret(kubectl: Kubectl, namespace: str, name: str, data: dict[str, str]) -> None:
    """Create or replace an Opaque Secret holding `data` (as stringData)."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": data,
    }
    kubectl("apply", "-f", "-", input=json.dumps(body))
