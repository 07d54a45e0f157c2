"""The operator against a real API server: one operator process for this module.

Real parts only: the local control plane (`cluster`), the built `kubectl`, the operator run
as `rototo-operator run --allow-local-sources` in its own process, and a git repository
made with the system `git` served as `git+file://`. Each test uses its own Workspace names
in one namespace the operator is narrowed to; periods are 1-2 s to keep the wall time low.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    OPERATOR,
    VARIABLE,
    GitRepo,
    OperatorProcess,
    condition,
    create,
    events_for,
    eventually,
    get_json,
    make_namespace,
    patch_spec,
    published,
    running_operator,
    status_of,
    wait_ready,
    workspace_namespace,
)

# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "op") as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    cluster: Path, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    work = tmp_path_factory.mktemp("operator")
    args = ("--allow-local-sources", "--standalone", "--namespace", namespace)
    with running_operator(cluster, work, *args) as proc:
        yield proc


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@pytest.fixture
def ws_name() -> str:
    return f"ws-{uuid.uuid4().hex[:8]}"


# -- the API -----------------------------------------------------------------------------------


def test_kubectl_explain_teaches_the_spec(kubectl: Kubectl, namespace: str) -> None:
    text = kubectl("explain", "workspace.spec").stdout
    for field in ("source", "periodSeconds", "failureBackoff", "secretRef", "suspend", "output"):
        assert field in text
    assert "immutable" in text  # the source's description explains commit pinning
    nested = kubectl("explain", "workspace.spec.failureBackoff.maxSeconds").stdout
    assert "at least initialSeconds" in nested
    status = kubectl("explain", "workspace.status.lastRefreshOutcome").stdout
    assert "unchanged" in status


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"source": "git+https://h.example/r.git#main", "periodSeconds": 0}, "periodSeconds"),
        (
            {
                "source": "git+https://h.example/r.git#main",
                "failureBackoff": {"initialSeconds": 60, "maxSeconds": 10},
            },
            "maxSeconds must be >= ",
        ),
        ({"source": "http://h.example/config.tar.gz"}, "plain http://"),
        ({"source": "git+https://h.example/r.git#-upload-pack"}, "must not start with '-'"),
        ({"source": "git+https://h.example/r.git", "maxStalenessSeconds": 0}, "maxStaleness"),
        (
            {"source": "git+https://h.example/r.git", "secretRef": {"name": "c", "namespace": "x"}},
            "namespace",
        ),
        ({"periodSeconds": 5}, "source"),
    ],
)
def test_invalid_specs_are_rejected_by_the_api_server(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], complaint: str
) -> None:
    body = {
        "apiVersion": "rototo.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "invalid", "namespace": namespace},
        "spec": spec,
    }
    done = kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    assert done.returncode != 0, done.stdout
    assert complaint in done.stderr


def test_defaults_are_filled_by_the_api_server(
    kubectl: Kubectl, namespace: str, ws_name: str
) -> None:
    create(kubectl, ws_name, namespace, "git+https://h.example/r.git#main", suspend=True)
    spec = get_json(kubectl, "workspace", ws_name, "-n", namespace)["spec"]
    assert spec["periodSeconds"] == 60
    assert spec["failureBackoff"] == {"initialSeconds": 5, "maxSeconds": 300}
    assert spec["maxStalenessSeconds"] == 600
    kubectl("delete", "workspace", ws_name, "-n", namespace)


# -- refresh and publish -------------------------------------------------------------------------


def test_workspace_becomes_ready_and_is_published(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    sha = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=2)
    status = wait_ready(kubectl, namespace, ws_name, f"git:{sha}")
    assert status["lastRefreshOutcome"] in ("refreshed", "unchanged")
    assert status["consecutiveFailures"] == 0
    assert status["stale"] is False
    assert status["refreshing"] is False
    assert status["shortFingerprint"] == sha[:8]
    assert status["observedGeneration"] == 1
    assert status["output"]["configMapName"] == ws_name
    assert condition(status, "Stale")["status"] == "False"
    assert condition(status, "Refreshing")["status"] == "False"

    cm = published(kubectl, namespace, ws_name)
    assert cm is not None
    meta = cm["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "rototo-operator"
    assert meta["labels"]["rototo.dev/workspace"] == ws_name
    assert meta["annotations"]["rototo.dev/fingerprint"] == f"git:{sha}"
    assert meta["annotations"]["rototo.dev/compiled-digest"] == status["output"]["compiledDigest"]
    ws_uid = get_json(kubectl, "workspace", ws_name, "-n", namespace)["metadata"]["uid"]
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Workspace", ws_uid, True)
    model = json.loads(cm["data"]["workspace.json"])
    assert model["format"] == "rototo.compiled/v1"
    assert model["fingerprint"] == f"git:{sha}"
    assert status["output"]["bytes"] == len(cm["data"]["workspace.json"].encode())

    table = kubectl("get", "workspaces", "-n", namespace, ws_name).stdout
    header, row = table.splitlines()[:2]
    for column in ("READY", "FINGERPRINT", "STALE", "FAILURES", "LAST SUCCESS", "AGE"):
        assert column in header
    assert row.split()[:5] == [ws_name, "True", sha[:8], "false", "0"]
    reasons = [e["reason"] for e in events_for(kubectl, namespace, ws_name)]
    assert "Published" in reasons


def test_new_commit_is_published_and_unchanged_refreshes_are_quiet(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=1)
    wait_ready(kubectl, namespace, ws_name, f"git:{repo.git('rev-parse', 'HEAD')}")
    rv_before = published(kubectl, namespace, ws_name)["metadata"]["resourceVersion"]  # type: ignore[index]
    # Several periods with no commit: no ConfigMap write, no new event.
    eventually(
        lambda: status_of(kubectl, namespace, ws_name).get("lastRefreshOutcome") == "unchanged",
        what="an unchanged refresh",
    )
    time.sleep(2.5)
    cm = published(kubectl, namespace, ws_name)
    assert cm is not None
    assert cm["metadata"]["resourceVersion"] == rv_before
    assert [e["reason"] for e in events_for(kubectl, namespace, ws_name)] == ["Published"]

    sha = repo.commit_value("2400")
    status = wait_ready(kubectl, namespace, ws_name, f"git:{sha}")
    cm = published(kubectl, namespace, ws_name)
    assert cm is not None
    assert cm["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{sha}"
    model = json.loads(cm["data"]["workspace.json"])
    assert "2400" in json.dumps(model["workspace"]["variables"])
    assert (
        cm["metadata"]["annotations"]["rototo.dev/compiled-digest"]
        == (status["output"]["compiledDigest"])
    )


def test_broken_commit_keeps_the_last_known_good_version(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    good = repo.git("rev-parse", "HEAD")
    create(
        kubectl,
        ws_name,
        namespace,
        repo.source(),
        periodSeconds=1,
        failureBackoff={"initialSeconds": 1, "maxSeconds": 4},
    )
    wait_ready(kubectl, namespace, ws_name, f"git:{good}")
    before = published(kubectl, namespace, ws_name)
    assert before is not None

    repo.commit_value('"oops"')
    status = eventually(
        lambda: (
            (s := status_of(kubectl, namespace, ws_name)).get("consecutiveFailures", 0) >= 3 and s
        ),
        what="three failed attempts",
    )
    assert status["lastRefreshOutcome"] == "failed"
    assert status["currentFingerprint"] == f"git:{good}"
    assert "rototo/variable-value-type-mismatch" in status["lastError"]
    assert "variables/summary-token-budget.toml:" in status["lastError"]
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "LintFailed")
    assert f"still serving {good[:8]}, the last known good version" in ready["message"]

    after = published(kubectl, namespace, ws_name)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["data"] == before["data"]

    warnings = [
        e
        for e in events_for(kubectl, namespace, ws_name)
        if e["type"] == "Warning" and e["reason"] == "RefreshFailed"
    ]
    assert warnings
    message = warnings[0]["message"]
    assert message.startswith("variables/summary-token-budget.toml:")
    assert "error rototo/variable-value-type-mismatch" in message
    assert f"still serving {good[:8]}, the last known good version; next attempt in" in message

    # Backoff: the gap to the next attempt grows (1s, 2s, 4s cap) instead of the 1s period.
    def gap() -> float:
        s = status_of(kubectl, namespace, ws_name)
        last = _time(s["lastAttempt"])
        return _time(s["nextRefreshAt"]) - last

    eventually(lambda: gap() >= 3.5, what="backoff reaching its 4s cap")
    assert status_of(kubectl, namespace, ws_name)["consecutiveFailures"] >= 3

    fixed = repo.commit_value("1900")
    status = wait_ready(kubectl, namespace, ws_name, f"git:{fixed}")
    assert status["consecutiveFailures"] == 0
    assert "lastError" not in status


def _time(text: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_manual_refresh_with_the_cli(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    # A long period: only a manual request can pick up the next commit quickly.
    first = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=3600)
    wait_ready(kubectl, namespace, ws_name, f"git:{first}")
    second = repo.commit_value("3000")
    env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
    done = subprocess.run(
        [str(OPERATOR), "refresh", ws_name, "-n", namespace, "--wait", "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"refreshed: {first[:8]} -> {second[:8]} "
        f"(workspace published to ConfigMap {namespace}/{ws_name})"
    )
    status = status_of(kubectl, namespace, ws_name)
    request = get_json(kubectl, "workspace", ws_name, "-n", namespace)["metadata"]["annotations"][
        "rototo.dev/refresh-requested-at"
    ]
    assert status["lastHandledRefreshRequest"] == request
    assert status["lastRefreshOutcome"] == "refreshed"

    # A request with nothing new: unchanged, answered through kubectl annotate as well.
    kubectl(
        "annotate",
        "workspace",
        ws_name,
        "-n",
        namespace,
        "--overwrite",
        "rototo.dev/refresh-requested-at=by-kubectl",
    )
    eventually(
        lambda: (
            status_of(kubectl, namespace, ws_name).get("lastHandledRefreshRequest") == "by-kubectl"
        ),
        what="the annotation request handled",
    )
    assert status_of(kubectl, namespace, ws_name)["lastRefreshOutcome"] == "unchanged"

    table = subprocess.run(
        [str(OPERATOR), "status", "-n", namespace],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    line = next(row for row in table.splitlines() if row.startswith(ws_name))
    assert line.split()[:5] == [ws_name, "True", second[:8], "false", "0"]


def test_configmap_deleted_or_edited_by_hand_is_restored(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=3600)
    wait_ready(kubectl, namespace, ws_name)
    original = published(kubectl, namespace, ws_name)
    assert original is not None

    kubectl("delete", "configmap", ws_name, "-n", namespace)
    restored = eventually(
        lambda: published(kubectl, namespace, ws_name), what="the deleted ConfigMap restored"
    )
    assert restored["data"] == original["data"]

    kubectl(
        "patch",
        "configmap",
        ws_name,
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"data": {"workspace.json": "{}"}}),
    )
    eventually(
        lambda: (
            (cm := published(kubectl, namespace, ws_name)) is not None
            and cm["data"] == original["data"]
        ),
        what="the edited ConfigMap restored",
    )
    reasons = [e["reason"] for e in events_for(kubectl, namespace, ws_name)]
    assert "OutputRestored" in reasons


def test_pinned_commit_is_immutable(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    sha = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(sha), periodSeconds=1)
    status = wait_ready(kubectl, namespace, ws_name, f"git:{sha}")
    assert status["immutable"] is True
    assert status["lastRefreshOutcome"] == "immutable"
    assert condition(status, "Ready")["reason"] == "Pinned"
    assert "nextRefreshAt" not in status
    attempt = status["lastAttempt"]
    repo.commit_value("5000")
    time.sleep(3)  # three periods: a mutable source would have been polled three times
    status = status_of(kubectl, namespace, ws_name)
    assert status["lastAttempt"] == attempt
    assert status["currentFingerprint"] == f"git:{sha}"

    # A manual refresh of a pinned commit is answered "immutable", without fetching.
    done = subprocess.run(
        [str(OPERATOR), "refresh", ws_name, "-n", namespace, "--wait", "--timeout", "60"],
        env={**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)},
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"immutable: {sha[:8]}"), done.stdout
    status = status_of(kubectl, namespace, ws_name)
    assert status["lastRefreshOutcome"] == "immutable"
    assert status["lastHandledRefreshRequest"] is not None
    assert status["currentFingerprint"] == f"git:{sha}"


def test_suspend_stops_refreshing(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    first = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=1)
    wait_ready(kubectl, namespace, ws_name, f"git:{first}")
    patch_spec(kubectl, namespace, ws_name, suspend=True)
    eventually(
        lambda: (
            condition(status_of(kubectl, namespace, ws_name), "Ready").get("reason") == "Suspended"
        ),
        what="Ready reason Suspended",
    )
    repo.commit_value("6000")
    time.sleep(3)
    assert status_of(kubectl, namespace, ws_name)["currentFingerprint"] == f"git:{first}"
    patch_spec(kubectl, namespace, ws_name, suspend=False)
    wait_ready(kubectl, namespace, ws_name, f"git:{repo.git('rev-parse', 'HEAD')}")


def test_deleting_the_workspace_garbage_collects_its_configmap(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    create(
        kubectl,
        ws_name,
        namespace,
        repo.source(),
        periodSeconds=1,
        output={"configMapName": f"{ws_name}-out"},
    )
    wait_ready(kubectl, namespace, ws_name)
    assert published(kubectl, namespace, f"{ws_name}-out") is not None
    kubectl("delete", "workspace", ws_name, "-n", namespace, "--timeout=30s")
    eventually(
        lambda: published(kubectl, namespace, f"{ws_name}-out") is None,
        what="the ConfigMap garbage-collected",
    )


def test_missing_secret_is_reported_not_crossed_into_other_namespaces(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    other = make_namespace(kubectl, "other")
    try:
        kubectl(
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            other,
            "--from-literal=username=u",
            "--from-literal=password=p",
        )
        create(
            kubectl, ws_name, namespace, repo.source(), periodSeconds=1, secretRef={"name": "creds"}
        )
        status = eventually(
            lambda: (
                (s := status_of(kubectl, namespace, ws_name)).get("lastRefreshOutcome") == "failed"
                and s
            ),
            what="a failed attempt",
        )
        ready = condition(status, "Ready")
        assert ready["reason"] == "CredentialsUnavailable"
        assert f"Secret {namespace}/creds" in status["lastError"]
        assert published(kubectl, namespace, ws_name) is None
        # The same name in the Workspace's own namespace is what it reads.
        kubectl(
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            namespace,
            "--from-literal=username=u",
            "--from-literal=password=s3cr3t-value",
        )
        status = wait_ready(kubectl, namespace, ws_name)
        assert "s3cr3t-value" not in json.dumps(status)
        events = json.dumps(events_for(kubectl, namespace, ws_name))
        assert "s3cr3t-value" not in events
        assert "s3cr3t-value" not in operator.log_text()
    finally:
        kubectl("delete", "namespace", other, "--wait=false")


def test_metrics_endpoint(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    sha = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=1)
    wait_ready(kubectl, namespace, ws_name, f"git:{sha}")
    labels = f'name="{ws_name}",namespace="{namespace}"'

    def scraped() -> str | None:
        code, text = operator.http("/metrics")
        assert code == 200
        return text if 'outcome="unchanged"' in text and ws_name in text else None

    text = eventually(scraped, what="metrics with an unchanged refresh")
    assert f'rototo_workspace_info{{fingerprint="git:{sha}",{labels}}} 1.0' in text
    assert f"rototo_workspace_consecutive_failures{{{labels}}} 0.0" in text
    assert f"rototo_workspace_stale{{{labels}}} 0.0" in text
    assert f"rototo_workspace_last_success_timestamp_seconds{{{labels}}}" in text
    assert f"rototo_workspace_refresh_duration_seconds_count{{{labels}}}" in text
    assert f'rototo_workspace_refresh_total{{{labels},outcome="refreshed"}} 1.0' in text
    assert operator.http("/healthz") == (200, "ok\n")


def test_large_models_are_gzipped_and_oversized_ones_fail_clearly(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    import base64
    import gzip

    variables = repo.path / "variables"
    for i in range(300):
        (variables / f"v{i}.toml").write_text(
            VARIABLE.replace(
                "Maximum output tokens for generated summaries", "lorem ipsum " * 100
            ).format(value=i)
        )
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "large")
    large = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=1)
    status = wait_ready(kubectl, namespace, ws_name, f"git:{large}")
    assert status["output"]["compressed"] is True
    cm = published(kubectl, namespace, ws_name)
    assert cm is not None
    assert "workspace.json" not in (cm.get("data") or {})
    model = gzip.decompress(base64.b64decode(cm["binaryData"]["workspace.json.gz"]))
    assert len(model) == status["output"]["bytes"] > 256 * 1024
    assert json.loads(model)["fingerprint"] == f"git:{large}"

    # Incompressible text: over the 1 MiB ConfigMap limit even gzip-compressed.
    for i in range(300):
        noise = base64.b64encode(os.urandom(3600)).decode()
        (variables / f"v{i}.toml").write_text(
            VARIABLE.replace("Maximum output tokens for generated summaries", noise).format(value=i)
        )
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "too large")
    status = eventually(
        lambda: (
            (s := status_of(kubectl, namespace, ws_name)).get("lastRefreshOutcome") == "failed"
            and s
        ),
        what="the oversized model refused",
    )
    assert condition(status, "Ready")["reason"] == "OutputTooLarge"
    assert "1 MiB limit" in status["lastError"]
    assert status["currentFingerprint"] == f"git:{large}"


def test_stale_turns_true_on_a_timer_while_nothing_else_happens(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=1, maxStalenessSeconds=3)
    wait_ready(kubectl, namespace, ws_name)
    # Suspended: no attempt will succeed any more, so only the timer can flip it.
    patch_spec(kubectl, namespace, ws_name, suspend=True)
    status = eventually(
        lambda: (s := status_of(kubectl, namespace, ws_name)).get("stale") is True and s,
        what="stale after maxStalenessSeconds",
        timeout=20,
    )
    stale = condition(status, "Stale")
    assert (stale["status"], stale["reason"]) == ("True", "MaxStalenessExceeded")
    row = kubectl("get", "workspace", ws_name, "-n", namespace, "--no-headers").stdout.split()
    assert row[3] == "true"
    labels = f'name="{ws_name}",namespace="{namespace}"'
    assert f"rototo_workspace_stale{{{labels}}} 1.0" in operator.http("/metrics")[1]


def test_a_spec_change_refreshes_at_once(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, repo: GitRepo, ws_name: str
) -> None:
    first = repo.git("rev-parse", "HEAD")
    create(kubectl, ws_name, namespace, repo.source(), periodSeconds=3600)
    wait_ready(kubectl, namespace, ws_name, f"git:{first}")
    repo.git("checkout", "-q", "-b", "canary")
    canary = repo.commit_value("7777")
    started = time.monotonic()
    patch_spec(kubectl, namespace, ws_name, source=repo.source("canary"))
    status = wait_ready(kubectl, namespace, ws_name, f"git:{canary}")
    assert time.monotonic() - started < 30, "not waiting for the one-hour period"
    assert status["observedGeneration"] == 2


def test_namespaces_outside_the_watch_are_left_alone(
    kubectl: Kubectl, operator: OperatorProcess, repo: GitRepo
) -> None:
    other = make_namespace(kubectl, "unwatched")
    try:
        create(kubectl, "elsewhere", other, repo.source(), periodSeconds=1)
        time.sleep(3)
        assert status_of(kubectl, other, "elsewhere") == {}
        assert published(kubectl, other, "elsewhere") is None
    finally:
        kubectl("delete", "namespace", other, "--wait=false")
