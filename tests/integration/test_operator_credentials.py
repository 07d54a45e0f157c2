"""Private sources through `spec.secretRef`, with the operator as a real process.

The operator runs as in production: without `--allow-local-sources` (loopback HTTPS and SSH
are remote sources). The servers are the real ones from `tests/support/git_servers.py`:
`git http-backend` behind TLS with Basic auth and a private CA, `git-upload-pack` behind
OpenSSH `sshd` with its own host key, and an HTTPS `.tar.gz` server checking a bearer token.
Every test reads the Secret from the Workspace's namespace, expects `Ready` and a published
ConfigMap with good credentials, a clear `FetchFailed` with bad ones, and never finds a
secret value in the status, the Events or the operator's stdout/stderr.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    VARIABLE,
    OperatorProcess,
    apply_secret,
    condition,
    create,
    events_for,
    eventually,
    published,
    running_operator,
    status_of,
    wait_failed,
    wait_ready,
    workspace_namespace,
)
from tests.support.git_servers import (
    Archive,
    ArchiveServer,
    GitHttpsServer,
    Pki,
    Repo,
    SshdGitServer,
    SshKeys,
    make_pki,
    make_ssh_keys,
    require_git,
    require_sshd,
)

USER = "deploy"
MANIFEST = "schema_version = 1\n"
FAST = {"periodSeconds": 1, "failureBackoff": {"initialSeconds": 1, "maxSeconds": 2}}


def workspace_files(value: int) -> dict[str, str]:
    return {
        "rototo-workspace.toml": MANIFEST,
        "variables/summary-token-budget.toml": VARIABLE.format(value=value),
    }


def secret_value(label: str) -> str:
    """A distinctive value, so finding it anywhere in the output is unambiguous."""
    return f"{label}-{uuid.uuid4().hex}"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "cred") as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    cluster: Path, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    work = tmp_path_factory.mktemp("operator")
    # The most verbose level: no secret may reach the log even then.
    args = ("--standalone", "--log-level", "DEBUG", "--namespace", namespace)
    with running_operator(cluster, work, *args) as proc:
        yield proc


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_git()
    return Repo(tmp_path)


def assert_not_leaked(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, names: list[str], *secrets: str
) -> None:
    """No secret value in the Workspaces, their ConfigMaps, Events, or the operator log."""
    for name in names:
        workspace = kubectl("get", "workspace", name, "-n", namespace, "-o", "json").stdout
        texts = {
            "status": json.dumps(json.loads(workspace).get("status")),
            "events": json.dumps(events_for(kubectl, namespace, name)),
            "configmap": json.dumps(published(kubectl, namespace, name)),
        }
        for where, text in texts.items():
            for value in secrets:
                assert value not in text, f"a secret value leaked into {name}'s {where}"
    log = operator.log_text()
    failed = [n for n in names if f"{namespace}/{n}: refresh failed" in log]
    assert failed, "the log holds the failures it is searched for secrets"
    for value in secrets:
        assert value not in log, "a secret value leaked into the operator log"


# -- git over HTTPS ----------------------------------------------------------------------------


def test_https_git_with_basic_auth_and_a_private_ca(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, pki: Pki, repo: Repo
) -> None:
    password = secret_value("pw-right")
    wrong = secret_value("pw-wrong")
    sha = repo.commit(workspace_files(1800))
    with GitHttpsServer(pki, repo.bare.parent, username=USER, password=password) as server:
        source = f"git+{server.url('config.git')}#main"
        apply_secret(
            kubectl,
            namespace,
            "https-good",
            {"username": USER, "password": password, "ca.crt": pki.ca_pem},
        )
        create(kubectl, "https-good", namespace, source, secretRef={"name": "https-good"}, **FAST)
        status = wait_ready(kubectl, namespace, "https-good", f"git:{sha}")
        assert condition(status, "Ready")["reason"] == "Published"
        configmap = published(kubectl, namespace, "https-good")
        assert configmap is not None
        annotations = configmap["metadata"]["annotations"]
        assert annotations["rototo.dev/fingerprint"] == f"git:{sha}"
        assert annotations["rototo.dev/source"] == source
        assert json.loads(configmap["data"]["workspace.json"])["fingerprint"] == f"git:{sha}"

        # The same server and user with a wrong password: refused, clearly, nothing published.
        apply_secret(
            kubectl,
            namespace,
            "https-wrong",
            {"username": USER, "password": wrong, "ca.crt": pki.ca_pem},
        )
        create(kubectl, "https-wrong", namespace, source, secretRef={"name": "https-wrong"}, **FAST)
        status = wait_failed(kubectl, namespace, "https-wrong")
        ready = condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "FetchFailed")
        assert "git authentication to" in status["lastError"]
        assert "username/password rejected" in status["lastError"]
        assert "nothing is published yet" in ready["message"]
        assert published(kubectl, namespace, "https-wrong") is None
        warnings = [
            e
            for e in events_for(kubectl, namespace, "https-wrong")
            if (e["type"], e["reason"]) == ("Warning", "RefreshFailed")
        ]
        assert warnings
        assert "username/password rejected" in warnings[0]["message"]

        # Without the CA the private certificate is refused before any password is sent.
        apply_secret(kubectl, namespace, "https-no-ca", {"username": USER, "password": password})
        create(kubectl, "https-no-ca", namespace, source, secretRef={"name": "https-no-ca"}, **FAST)
        status = wait_failed(kubectl, namespace, "https-no-ca")
        assert condition(status, "Ready")["reason"] == "FetchFailed"
        assert "not trusted by the system store" in status["lastError"]
        assert "ca.crt" in status["lastError"]

        # Rotating the Secret to the right password is picked up by the next attempt.
        apply_secret(
            kubectl,
            namespace,
            "https-wrong",
            {"username": USER, "password": password, "ca.crt": pki.ca_pem},
        )
        status = wait_ready(kubectl, namespace, "https-wrong", f"git:{sha}")
        assert "lastError" not in status
        assert published(kubectl, namespace, "https-wrong") is not None

    assert_not_leaked(
        kubectl,
        operator,
        namespace,
        ["https-good", "https-wrong", "https-no-ca"],
        password,
        wrong,
    )


# -- git over SSH ------------------------------------------------------------------------------


@pytest.fixture
def ssh_server(repo: Repo) -> Iterator[tuple[SshdGitServer, SshKeys]]:
    require_sshd()
    keys = make_ssh_keys()
    with SshdGitServer(keys, repo.bare.parent) as server:
        yield server, keys


def test_ssh_git_with_an_identity_and_known_hosts(
    kubectl: Kubectl,
    operator: OperatorProcess,
    namespace: str,
    repo: Repo,
    ssh_server: tuple[SshdGitServer, SshKeys],
) -> None:
    server, keys = ssh_server
    sha = repo.commit(workspace_files(2400))
    source = server.url("config.git") + "#main"
    apply_secret(
        kubectl,
        namespace,
        "ssh-good",
        {"identity": keys.client_private, "known_hosts": server.known_hosts_line() + "\n"},
    )
    create(kubectl, "ssh-good", namespace, source, secretRef={"name": "ssh-good"}, **FAST)
    wait_ready(kubectl, namespace, "ssh-good", f"git:{sha}")
    configmap = published(kubectl, namespace, "ssh-good")
    assert configmap is not None
    assert configmap["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{sha}"
    assert any(command.startswith("git-upload-pack") for command in server.commands)

    # known_hosts lists another key for this host: refused as a changed host key.
    impostor = make_ssh_keys().host_public_line
    apply_secret(
        kubectl,
        namespace,
        "ssh-impostor",
        {"identity": keys.client_private, "known_hosts": f"[127.0.0.1]:{server.port} {impostor}"},
    )
    # Its own path (a link to the same repository), so ssh-good's periodic fetches, which go
    # on meanwhile, cannot be mistaken for a session of this Workspace.
    (repo.bare.parent / "impostor.git").symlink_to(repo.bare)
    impostor_source = server.url("impostor.git") + "#main"
    create(
        kubectl,
        "ssh-impostor",
        namespace,
        impostor_source,
        secretRef={"name": "ssh-impostor"},
        **FAST,
    )
    status = wait_failed(kubectl, namespace, "ssh-impostor")
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "FetchFailed")
    assert (
        f"SSH host key of [127.0.0.1]:{server.port} does not match known_hosts"
        in (status["lastError"])
    )
    assert "ssh-ed25519 SHA256:" in status["lastError"]
    assert published(kubectl, namespace, "ssh-impostor") is None
    messages = [e["message"] for e in events_for(kubectl, namespace, "ssh-impostor")]
    assert any("does not match known_hosts" in m for m in messages)
    assert not [c for c in server.commands if "impostor.git" in c], (
        "no command runs on a host that failed the check"
    )

    # The private key body never shows up (its longest base64 line stands for all of it).
    key_line = max(keys.client_private.splitlines(), key=len)
    assert_not_leaked(kubectl, operator, namespace, ["ssh-good", "ssh-impostor"], key_line)


# -- HTTPS archives ----------------------------------------------------------------------------


def targz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"config-main/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_https_archive_with_a_bearer_token(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, pki: Pki
) -> None:
    token = secret_value("tok-right")
    wrong = secret_value("tok-wrong")
    with ArchiveServer(pki, token=token) as server:
        assert isinstance(server, ArchiveServer)
        server.archives["/config.tar.gz"] = Archive(targz(workspace_files(3000)), etag='"v1"')
        source = server.url("config.tar.gz")
        apply_secret(kubectl, namespace, "tar-good", {"bearerToken": token, "ca.crt": pki.ca_pem})
        create(kubectl, "tar-good", namespace, source, secretRef={"name": "tar-good"}, **FAST)
        first = wait_ready(kubectl, namespace, "tar-good")["currentFingerprint"]
        assert first.startswith("http:")
        configmap = published(kubectl, namespace, "tar-good")
        assert configmap is not None
        model = json.loads(configmap["data"]["workspace.json"])
        assert model["fingerprint"] == first

        # A new archive behind a new ETag is published by the periodic check.
        server.archives["/config.tar.gz"] = Archive(targz(workspace_files(3100)), etag='"v2"')
        second = eventually(
            lambda: (
                (fp := status_of(kubectl, namespace, "tar-good").get("currentFingerprint")) != first
                and fp
            ),
            what="the new archive published",
        )
        configmap = published(kubectl, namespace, "tar-good")
        assert configmap is not None
        assert configmap["metadata"]["annotations"]["rototo.dev/fingerprint"] == second

        apply_secret(kubectl, namespace, "tar-wrong", {"bearerToken": wrong, "ca.crt": pki.ca_pem})
        create(kubectl, "tar-wrong", namespace, source, secretRef={"name": "tar-wrong"}, **FAST)
        status = wait_failed(kubectl, namespace, "tar-wrong")
        ready = condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "FetchFailed")
        assert "401" in status["lastError"]
        assert "check the bearer token" in status["lastError"]
        assert published(kubectl, namespace, "tar-wrong") is None

    assert_not_leaked(kubectl, operator, namespace, ["tar-good", "tar-wrong"], token, wrong)
