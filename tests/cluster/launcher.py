"""A real Kubernetes control plane as plain processes on loopback, for tests and the demo.

etcd, kube-apiserver and kube-controller-manager are built from Go modules by
``tests/cluster/build.sh`` (pins in ``tests/cluster/go.mod``) and started here on free
127.0.0.1 ports, each in its own process group, with a throwaway PKI made with
``cryptography``: a CA, the apiserver serving certificate, an admin client certificate
(``O=system:masters``) and the service-account signing key pair. There is no scheduler
and no kubelet: pods are accepted but never run.

As a library (the pytest fixtures in ``tests/integration/conftest.py``)::

    with ControlPlane(state_dir, locate_bin_dir(build=True)) as cp:
        run(["kubectl", "--kubeconfig", str(cp.kubeconfig), "get", "ns"])

As a command (``make cluster`` / ``make cluster-down``)::

    python tests/cluster/launcher.py up      # detached; writes .cluster/kubeconfig
    python tests/cluster/launcher.py env     # eval "$(...)": KUBECONFIG and PATH
    python tests/cluster/launcher.py down    # stops it; no process is left behind
    python tests/cluster/launcher.py run     # foreground; Ctrl-C stops it

``up`` starts a small supervisor (``run``) in its own session; the supervisor owns the three
servers, which get SIGKILL from the kernel if the supervisor dies (``PR_SET_PDEATHSIG``), so
even ``kill -9`` of the supervisor leaves no orphan. A state file records every pid with its
start time, so a pid file left by a killed run never blocks the next start.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import datetime
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
BUILD_SCRIPT = HERE / "build.sh"
DEFAULT_STATE_DIR = REPO_ROOT / ".cluster"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
SERVERS = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "resourcequota-controller",
)
STATE_FILE = "state.json"
KUBECONFIG_FILE = "kubeconfig"
STOP_GRACE_SECONDS = 10.0
START_TIMEOUT_SECONDS = 120.0
_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The control plane could not be built, started or stopped."""


class ServerExited(ClusterError):
    """A server exited while starting (e.g. a free port was taken in the meantime)."""


# --------------------------------------------------------------------------- binaries


def locate_bin_dir(*, build: bool = False) -> Path:
    """The directory holding the built binaries.

    ``ROTOTO_CLUSTER_BIN_DIR`` overrides the cache. With ``build=True`` missing binaries are
    built (slow the first time on a machine: see docs/development.md); otherwise a missing
    build raises :class:`ClusterError` saying how to build.
    """
    override = os.environ.get("ROTOTO_CLUSTER_BIN_DIR")
    if override:
        path = Path(override)
        missing = [b for b in BINARIES if not (path / b).is_file()]
        if missing:
            raise ClusterError(f"ROTOTO_CLUSTER_BIN_DIR={path} lacks {', '.join(missing)}")
        return path
    args = ["bash", str(BUILD_SCRIPT)]
    if not build:
        check = subprocess.run([*args, "--check"], check=False, capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterError(
                "control-plane binaries are not built: run `make cluster-bins` "
                f"(or bash {BUILD_SCRIPT}); {check.stderr.strip()}".rstrip("; ")
            )
        args.append("--print-dir")
    done = subprocess.run(args, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"building the control plane failed:\n{done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


class KubectlError(subprocess.CalledProcessError):
    """A kubectl command failed; the message carries its stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr:\n{self.stderr}\nstdout:\n{self.output}"


@dataclass(frozen=True)
class Kubectl:
    """The built kubectl bound to one kubeconfig: ``kubectl("get", "ns", "-o", "name")``."""

    binary: Path
    kubeconfig: Path

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
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
            raise KubectlError(done.returncode, cmd, done.stdout, done.stderr)
        return done


# --------------------------------------------------------------------------- PKI


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    """Paths of the generated PKI files."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue_ca(
    common_name: str, not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed P-256 CA; the test git servers issue their certificates from it too."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    *,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A P-256 server or client certificate signed by `issue_ca`'s CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def generate_pki(directory: Path) -> Pki:
    """Write a fresh CA, apiserver serving cert, admin client cert and SA key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=365)

    ca_cert, ca_key = issue_ca("rototo-local-ca", not_before, not_after)

    def leaf(
        subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        return issue_leaf(
            ca_cert, ca_key, subject, usage, sans, not_before=not_before, not_after=not_after
        )

    service_ip = ipaddress.IPv4Network(SERVICE_CLUSTER_IP_RANGE)[1]
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    serving_sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    serving_sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(service_ip),
    ]
    serving, serving_key = leaf(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        ExtendedKeyUsageOID.SERVER_AUTH,
        serving_sans,
    )
    admin, admin_key = leaf(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "rototo-admin"),
            ]
        ),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [],
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    _write(pki.ca_cert, _cert_pem(ca_cert), 0o644)
    _write(pki.ca_key, _key_pem(ca_key))
    _write(pki.serving_cert, _cert_pem(serving) + _cert_pem(ca_cert), 0o644)
    _write(pki.serving_key, _key_pem(serving_key))
    _write(pki.admin_cert, _cert_pem(admin), 0o644)
    _write(pki.admin_key, _key_pem(admin_key))
    _write(pki.sa_key, _key_pem(sa_key))
    _write(
        pki.sa_pub,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    return pki


def kubeconfig_document(server: str, pki: Pki, *, context: str = "rototo-local") -> str:
    """A self-contained admin kubeconfig (JSON, which every YAML reader accepts)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode("ascii")

    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "rototo-admin",
                "user": {
                    "client-certificate-data": b64(pki.admin_cert),
                    "client-key-data": b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": "rototo-admin", "namespace": "default"},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_start_time(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie is gone for our purposes
        return None
    return int(fields[19])


@dataclass(frozen=True)
class ProcessRecord:
    """A pid plus its start time: survives pid reuse after a crash or reboot."""

    name: str
    pid: int
    start_time: int

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.start_time

    @classmethod
    def of(cls, name: str, pid: int) -> ProcessRecord:
        start = process_start_time(pid)
        if start is None:
            raise ClusterError(f"{name} (pid {pid}) exited right after starting")
        return cls(name, pid, start)


def _pdeathsig() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    # SIGKILL, not SIGTERM: an apiserver whose etcd is gone hangs in graceful shutdown.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def terminate(records: Sequence[ProcessRecord], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each record's process group, then SIGKILL whatever is left after ``grace``."""

    def signal_group(rec: ProcessRecord, sig: signal.Signals) -> None:
        if not rec.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rec.pid, sig)  # each server leads its own process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(rec.pid, sig)

    for rec in records:
        signal_group(rec, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while rec.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_group(rec, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while any(r.alive() for r in records) and time.monotonic() < deadline:
        time.sleep(0.05)


def _https_get(url: str, context: ssl.SSLContext, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------- control plane


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager with their data in ``state_dir``."""

    state_dir: Path
    bin_dir: Path
    supervisor_pid: int | None = None
    processes: list[tuple[ProcessRecord, subprocess.Popen[bytes]]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    _atexit: Callable[[], None] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / KUBECONFIG_FILE

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- lifecycle

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start everything and return once the API is ready and controllers run."""
        self.state_dir = self.state_dir.resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        reap_stale(self.state_dir)
        missing = [b for b in SERVERS if not (self.bin_dir / b).is_file()]
        if missing:
            raise ClusterError(f"{self.bin_dir} lacks {', '.join(missing)}")
        self._atexit = self.stop
        atexit.register(self._atexit)
        attempts = 3  # ports are picked free, but another process may take one before us
        try:
            for attempt in range(1, attempts + 1):
                self._clear()
                try:
                    self._start(timeout)
                except ServerExited:
                    if attempt == attempts:
                        raise
                    self._kill_processes()
                else:
                    return
        except BaseException:
            self.stop()
            raise

    def _clear(self) -> None:
        for name in ("etcd-data", "pki", "logs", "kcm-certs"):
            shutil.rmtree(self.state_dir / name, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pki = generate_pki(self.state_dir / "pki")
        (self.state_dir / "logs").mkdir()
        self.ports = {
            "etcd": free_port(),
            "etcd_peer": free_port(),
            "apiserver": free_port(),
            "controller_manager": free_port(),
        }
        self._write_state(ready=False)

        etcd_url = f"http://127.0.0.1:{self.ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self.ports['etcd_peer']}"
        self._spawn(
            "etcd",
            [
                "--name=rototo",
                f"--data-dir={self.state_dir / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=rototo={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(
            "etcd",
            deadline,
            lambda: _http_ok(f"{etcd_url}/health", '"health":"true"'),
        )

        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['apiserver']}",
                f"--cert-dir={self.state_dir / 'pki'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
        )
        api_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        api_ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._wait(
            "kube-apiserver",
            deadline,
            lambda: _https_get(f"{self.server}/readyz", api_ctx) == (200, "ok"),
        )
        _write(self.kubeconfig, kubeconfig_document(self.server, pki).encode())

        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--authentication-skip-lookup=true",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['controller_manager']}",
                f"--cert-dir={self.state_dir / 'kcm-certs'}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        kcm_ctx = ssl.create_default_context()
        kcm_ctx.check_hostname = False
        kcm_ctx.verify_mode = ssl.CERT_NONE  # its self-signed serving cert; loopback only
        kcm_url = f"https://127.0.0.1:{self.ports['controller_manager']}/healthz"
        self._wait(
            "kube-controller-manager", deadline, lambda: _https_get(kcm_url, kcm_ctx)[0] == 200
        )
        # The service-account controller has run once the default ServiceAccount exists.
        sa_url = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
        self._wait(
            "kube-controller-manager (default ServiceAccount)",
            deadline,
            lambda: _https_get(sa_url, api_ctx)[0] == 200,
        )
        self._write_state(ready=True)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.state_dir / "logs" / f"{name}.log").open("ab")
        with log:
            proc = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,  # own process group: killpg reaches its children too
                preexec_fn=_pdeathsig,  # noqa: PLW1509 - the point: die with the launcher
            )
        self.processes.append((ProcessRecord.of(name, proc.pid), proc))
        self._write_state(ready=False)

    def _wait(self, name: str, deadline: float, probe: Callable[[], bool]) -> None:
        server = name.partition(" ")[0]
        proc = next(p for r, p in self.processes if r.name == server)
        last_error = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerExited(
                    f"{name} exited with {proc.returncode}:\n{self.log_tail(server)}"
                )
            try:
                if probe():
                    return
            except (OSError, ValueError) as err:
                last_error = str(err)
            time.sleep(0.2)
        raise ClusterError(f"{name} not ready in time ({last_error}):\n{self.log_tail(server)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.state_dir / "logs" / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return f"(no log at {path})"
        return "\n".join(text.splitlines()[-lines:]) + f"\n(full log: {path})"

    def stop(self) -> None:
        """Stop all servers (controller manager first, etcd last). Safe to call twice."""
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        self._kill_processes()
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / "etcd-data", ignore_errors=True)

    def _kill_processes(self) -> None:
        terminate([r for r, _ in reversed(self.processes)])
        for _, proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self.processes.clear()

    def _write_state(self, *, ready: bool) -> None:
        supervisor = self.supervisor_pid or os.getpid()
        state = {
            "ready": ready,
            "supervisor": {"pid": supervisor, "start_time": process_start_time(supervisor)},
            "processes": [
                {"name": r.name, "pid": r.pid, "start_time": r.start_time}
                for r, _ in self.processes
            ],
            "ports": self.ports,
            "kubeconfig": str(self.kubeconfig),
            "bin_dir": str(self.bin_dir),
        }
        _write(self.state_dir / STATE_FILE, (json.dumps(state, indent=2) + "\n").encode(), 0o644)


def _http_ok(url: str, needle: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return needle in resp.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------- state files


@dataclass(frozen=True)
class State:
    ready: bool
    supervisor: ProcessRecord | None
    processes: list[ProcessRecord]
    kubeconfig: Path
    bin_dir: Path


def read_state(state_dir: Path) -> State | None:
    """The recorded state, or None when there is none (or it is unreadable)."""
    try:
        raw = json.loads((state_dir / STATE_FILE).read_text())
        sup = raw["supervisor"]
        supervisor = (
            ProcessRecord("supervisor", int(sup["pid"]), int(sup["start_time"]))
            if sup.get("start_time") is not None
            else None
        )
        return State(
            ready=bool(raw["ready"]),
            supervisor=supervisor,
            processes=[
                ProcessRecord(p["name"], int(p["pid"]), int(p["start_time"]))
                for p in raw["processes"]
            ],
            kubeconfig=Path(raw["kubeconfig"]),
            bin_dir=Path(raw["bin_dir"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running(state_dir: Path) -> State | None:
    """The state of a live control plane in ``state_dir``, else None."""
    state = read_state(state_dir)
    if state is None or state.supervisor is None or not state.supervisor.alive():
        return None
    if state.supervisor.pid == os.getpid():
        return None
    return state


def reap_stale(state_dir: Path) -> None:
    """Clear what a killed run left behind; refuse if a live one owns ``state_dir``."""
    state = read_state(state_dir)
    if state is None:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return
    if running(state_dir) is not None:
        raise ClusterError(f"a control plane is already running from {state_dir}")
    terminate([r for r in reversed(state.processes) if r.alive()])
    (state_dir / STATE_FILE).unlink(missing_ok=True)


# --------------------------------------------------------------------------- CLI


def _run(state_dir: Path, bin_dir: Path) -> int:
    """Foreground: start, then wait until SIGTERM/SIGINT/SIGHUP, then stop everything."""
    cp = ControlPlane(state_dir, bin_dir)
    stop_requested = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        cp.start()
        print(f"control plane ready; KUBECONFIG={cp.kubeconfig}", flush=True)
        while True:
            for rec, proc in cp.processes:
                if proc.poll() is not None:
                    print(f"{rec.name} exited with {proc.returncode}:", file=sys.stderr)
                    print(cp.log_tail(rec.name), file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0 if stop_requested else 130
    except ClusterError as err:
        print(f"launcher: {err}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        cp.stop()


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def up(state_dir: Path, bin_dir: Path, timeout: float = START_TIMEOUT_SECONDS + 30) -> Path:
    """Start a detached control plane (idempotent); return its kubeconfig."""
    state_dir = state_dir.resolve()
    with _locked(state_dir):
        live = running(state_dir)
        if live is not None:
            return live.kubeconfig
        reap_stale(state_dir)
        log_path = state_dir / "launcher.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    *(sys.executable, str(Path(__file__).resolve()), "run"),
                    *("--state-dir", str(state_dir), "--bin-dir", str(bin_dir)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = read_state(state_dir)
            if state and state.ready and state.supervisor and state.supervisor.pid == proc.pid:
                # Detached on purpose: never waited for here, so Popen must not warn about it.
                proc.returncode = 0
                return state.kubeconfig
            if proc.poll() is not None:
                raise ClusterError(
                    f"the control plane did not start:\n{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_SECONDS * 4)
        raise ClusterError(f"the control plane was not ready after {timeout:.0f}s ({log_path})")


def down(state_dir: Path) -> bool:
    """Stop the control plane in ``state_dir``; True if something was running."""
    state_dir = state_dir.resolve()
    with _locked(state_dir):
        state = read_state(state_dir)
        if state is None:
            return False
        records = [r for r in reversed(state.processes) if r.alive()]
        sup = state.supervisor
        found = bool(records) or (sup is not None and sup.alive())
        if sup is not None and sup.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(sup.pid, signal.SIGTERM)  # it stops its servers in order
            deadline = time.monotonic() + STOP_GRACE_SECONDS * 4
            while sup.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            terminate([sup])
        terminate([r for r in records if r.alive()])  # belt and braces
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(state_dir / "etcd-data", ignore_errors=True)
        return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="launcher.py", description="Local Kubernetes control plane for rototo-operator."
    )
    parser.add_argument("command", choices=["up", "down", "env", "run", "status", "bin-dir"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--bin-dir", type=Path, default=None, help="default: build/locate")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    try:
        if args.command == "bin-dir":
            print(locate_bin_dir(build=True))
            return 0
        if args.command == "down":
            if not down(state_dir):
                print(f"no control plane running from {state_dir}")
            return 0
        if args.command == "status":
            live = running(state_dir)
            if live is None:
                print(f"no control plane running from {state_dir}")
                return 1
            print(f"running (ready={live.ready}); KUBECONFIG={live.kubeconfig}")
            return 0
        if args.command == "env":
            live = running(state_dir)
            if live is None:
                print(f"no control plane running from {state_dir}: make cluster", file=sys.stderr)
                return 1
            print(f"export KUBECONFIG={live.kubeconfig}")
            print(f'export PATH="{live.bin_dir}:$PATH"')
            return 0
        bin_dir = args.bin_dir.resolve() if args.bin_dir else locate_bin_dir(build=True)
        if args.command == "run":
            return _run(state_dir, bin_dir)
        print(up(state_dir, bin_dir))
        return 0
    except ClusterError as err:
        print(f"launcher: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
