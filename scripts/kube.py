"""Helpers shared by the demo and the packaging tests: helm, kubeconfigs, waiting.

Everything here drives real binaries (the kubectl and helm built by ``tests/cluster``) and
real processes; nothing is faked. Blocking calls with timeouts; errors carry the command's
stderr so a failure reads as what went wrong.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "rototo-operator"

T = TypeVar("T")


class CommandError(RuntimeError):
    """A helper command failed; the message carries its output."""


def run(
    args: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    done = subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode != 0:
        raise CommandError(
            f"{' '.join(cmd)} exited {done.returncode}\n"
            f"stderr:\n{done.stderr}\nstdout:\n{done.stdout}"
        )
    return done


def helm_env(home: Path) -> dict[str, str]:
    """Helm's cache, config and data under ``home``: no writes to the user's home."""
    return {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm_template(
    helm: Path,
    home: Path,
    *,
    release: str = "rototo-operator",
    namespace: str = "rototo-system",
    values: dict[str, Any] | None = None,
    extra: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``helm template`` of the chart; ``values`` are passed as a values file."""
    args: list[str | Path] = [helm, "template", release, CHART, "--namespace", namespace]
    if values is not None:
        home.mkdir(parents=True, exist_ok=True)
        values_file = home / f"values-{release}.yaml"
        values_file.write_text(yaml.safe_dump(values))
        args += ["--values", values_file]
    return run([*args, *extra], env=helm_env(home), check=check)


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def yaml_dump_all(docs: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def find(docs: Sequence[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    if len(hits) != 1:
        raise LookupError(f"expected one {kind} {name or ''}, found {len(hits)}")
    return hits[0]


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path, namespace: str) -> Path:
    """A kubeconfig for the same API server and CA that authenticates with ``token`` only."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    server = cluster["cluster"]["server"]
    ca_data = cluster["cluster"].get("certificate-authority-data")
    if ca_data is None:
        ca_path = Path(cluster["cluster"]["certificate-authority"])
        ca_data = base64.b64encode(ca_path.read_bytes()).decode("ascii")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cluster",
                "cluster": {"server": server, "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [
            {
                "name": "token",
                "context": {"cluster": "cluster", "user": "token", "namespace": namespace},
            }
        ],
        "current-context": "token",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=2))
    return path


def eventually(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float = 60.0,
    interval: float = 0.3,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f"\n{describe()}" if describe else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


class OperatorProcess:
    """``rototo-operator run`` as a local process, logging to a file; stopped with SIGTERM.

    It authenticates with ``kubeconfig`` only (in-cluster variables are removed from its
    environment), so what it may do is exactly what that kubeconfig's identity may do.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        kubeconfig: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
        # Staging directories go to a temporary directory beside the log, not the
        # machine's /tmp, so a killed operator's leftovers go with the caller's tree.
        tmpdir = self.log_path.with_name(f"{self.log_path.stem}-tmp")
        tmpdir.mkdir(parents=True, exist_ok=True)
        environ.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "PYTHONUNBUFFERED": "1",
                "TMPDIR": str(tmpdir),
                **self.env,
            }
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rototo_operator", "run", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        eventually(
            lambda: text in self.log() or self.returncode() is not None,
            what=f"{text!r} in the operator's log",
            timeout=timeout,
            describe=self.log_tail,
        )

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
