"""The examples users copy are accepted by a real API server as they are.

`kubectl apply --dry-run=server` runs the API server's full validation: the Workspace
against the CRD's structural schema and CEL rules, the Secret, and the sample app's
Deployment and Service (rendered by kubectl's kustomize) with their security settings.
"""

from __future__ import annotations

import pytest
from scripts import kube

from tests.cluster.launcher import Kubectl

EXAMPLES = kube.REPO / "examples"
CRD = kube.REPO / "crds" / "workspaces.rototo.dev.yaml"


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "crd/workspaces.rototo.dev")


@pytest.mark.usefixtures("crd")
def test_workspace_and_secret_examples_pass_server_validation(kubectl: Kubectl) -> None:
    done = kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        str(EXAMPLES / "secret.yaml"),
        "-f",
        str(EXAMPLES / "workspace.yaml"),
    )
    assert "workspace.rototo.dev/account-config created (server dry run)" in done.stdout
    assert "secret/runtime-config-git created (server dry run)" in done.stdout


@pytest.mark.usefixtures("crd")
def test_workspace_example_defaults_are_filled_in(kubectl: Kubectl) -> None:
    done = kubectl(
        "apply",
        "--dry-run=server",
        "-o",
        "jsonpath={.spec.suspend} {.spec.secretRef.name}",
        "-f",
        str(EXAMPLES / "workspace.yaml"),
    )
    assert done.stdout == "false runtime-config-git"


def test_sample_app_passes_server_validation(kubectl: Kubectl) -> None:
    done = kubectl("apply", "--dry-run=server", "-n", "default", "-k", str(EXAMPLES / "sample-app"))
    for name in ("deployment.apps/sample-app", "service/sample-app", "configmap/sample-app-code"):
        assert f"{name} created (server dry run)" in done.stdout, done.stdout


def test_sample_app_carries_the_app_that_is_tested(kubectl: Kubectl) -> None:
    rendered = kube.documents(kubectl("kustomize", str(EXAMPLES / "sample-app")).stdout)
    code = kube.find(rendered, "ConfigMap", "sample-app-code")
    assert code["data"]["app.py"] == (EXAMPLES / "sample-app" / "app.py").read_text()
    deployment = kube.find(rendered, "Deployment", "sample-app")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config = mounts["/etc/rototo/account-config"]
    assert "subPath" not in config, "a subPath mount never sees updates"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ROTOTO_WORKSPACE_DIR"] == "/etc/rototo/account-config"
