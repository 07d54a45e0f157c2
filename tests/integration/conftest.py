"""Integration fixtures: one real Kubernetes control plane for the whole run.

Fixtures (names are stable; other integration tests build on them):

- ``cluster``: ``pathlib.Path`` of an admin kubeconfig. By default a control plane
  (etcd, kube-apiserver, kube-controller-manager from ``tests/cluster``) is started once
  per session and stopped at the end, even after failures or Ctrl-C. With ``KUBECONFIG``
  set in the environment that cluster is used instead and nothing is started.
- ``kubectl``: a :class:`tests.cluster.launcher.Kubectl` bound to ``cluster``:
  ``kubectl("get", "ns")`` returns the ``CompletedProcess``; failures raise
  :class:`KubectlError` carrying stderr (pass ``check=False`` to inspect them instead).
- ``cluster_bin_dir`` (alias ``bin_dir``): ``Path`` holding the built ``kubectl``,
  ``helm``, ``etcd``, ``kube-apiserver``, ``kube-controller-manager``.

Every test under ``tests/integration`` is marked ``integration``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.cluster.launcher import (
    ClusterError,
    ControlPlane,
    Kubectl,
    KubectlError,
    locate_bin_dir,
)

__all__ = ["Kubectl", "KubectlError"]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries before any test runs, outside the per-test timeout.

    `make test` has built them already (`cluster-bins`); a bare `pytest` on a new machine
    builds them here once (minutes: see docs/development.md).
    """
    if not any(item.get_closest_marker("integration") for item in session.items):
        return
    try:
        locate_bin_dir(build=False)
    except ClusterError:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("building the control-plane binaries (tests/cluster/build.sh)")
        locate_bin_dir(build=True)


@pytest.fixture(scope="session")
def cluster_bin_dir() -> Path:
    """The built control-plane binaries (kubectl, helm, etcd, kube-apiserver, ...)."""
    return locate_bin_dir(build=True)


@pytest.fixture(scope="session")
def bin_dir(cluster_bin_dir: Path) -> Path:
    return cluster_bin_dir


@pytest.fixture(scope="session")
def cluster(cluster_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Kubeconfig of the cluster under test (``$KUBECONFIG`` if set, else a local one)."""
    external = os.environ.get("KUBECONFIG")
    if external:
        path = Path(external.split(os.pathsep)[0]).resolve()
        if not path.is_file():
            pytest.fail(f"KUBECONFIG={external} is not a file")
        yield path
        return
    control_plane = ControlPlane(tmp_path_factory.mktemp("control-plane"), cluster_bin_dir)
    previous = _stop_on_sigterm(control_plane)
    try:
        control_plane.start()
        yield control_plane.kubeconfig
    finally:
        control_plane.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm(control_plane: ControlPlane) -> signal.Handlers | None:
    """Make SIGTERM to pytest stop the servers (Ctrl-C already unwinds the fixture)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return None

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        control_plane.stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    return signal.SIG_DFL


@pytest.fixture(scope="session")
def kubectl(cluster: Path, cluster_bin_dir: Path) -> Kubectl:
    return Kubectl(cluster_bin_dir / "kubectl", cluster)
