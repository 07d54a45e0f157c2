"""`kube.connect`: credentials from KUBECONFIG or the in-cluster service account, clear errors.

`rototo-operator run` and the CLI take the kubeconfig from the environment or, in a pod,
from the service account; anything missing or unreadable is a `KubeError` that names where
credentials were looked for, never the client loader's traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes_asyncio.config import incluster_config

from rototo_operator.controller import kube
from tests.support import git_servers

TOKEN = "sa-token-0123"


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture(autouse=True)
def no_ambient_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


async def test_kubeconfig_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kubeconfig(tmp_path / "config", "https://127.0.0.1:6443")
    monkeypatch.setenv("KUBECONFIG", f"{path}:{tmp_path / 'ignored'}")
    api_client = await kube.connect()
    try:
        assert api_client.configuration.host == "https://127.0.0.1:6443"
    finally:
        await api_client.close()


async def test_in_cluster_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    ca = tmp_path / "ca.crt"
    ca.write_text(git_servers.make_pki(tmp_path / "pki").ca_pem)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api_client = await kube.connect()
    try:
        assert api_client.configuration.host == "https://10.96.0.1:443"
        assert api_client.configuration.api_key["BearerToken"].endswith(TOKEN)
    finally:
        await api_client.close()


async def test_missing_and_broken_credentials_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(kube.KubeError, match="no Kubernetes credentials: set KUBECONFIG"):
        await kube.connect()

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(kube.KubeError, match=r"kubeconfig .*absent does not exist"):
        await kube.connect()

    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    monkeypatch.setenv("KUBECONFIG", str(broken))
    with pytest.raises(kube.KubeError, match=r"cannot load Kubernetes credentials from kubeconfig"):
        await kube.connect()

    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "no-token"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(kube.KubeError, match="from the in-cluster service account"):
        await kube.connect()
