"""Several Workspaces on one git repository, each on its own path: one ls-remote per round.

The operator runs as a real process against the real API server; the repository is served
by `git http-backend` over TLS with a bearer token (one request per ref advertisement, so
the server's request log counts ls-remotes exactly). Workspaces on `#main:team-a`,
`#main:team-b` and `#v1:team-a` (a tag, polled since it can move) wake at the same instant
(the schedule's phase belongs to the repository and credentials) and their probes share
one ls-remote of the repository; when a commit lands, they all serve it.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    VARIABLE,
    OperatorProcess,
    apply_secret,
    create,
    eventually,
    running_operator,
    status_of,
    wait_ready,
    workspace_namespace,
)
from tests.support.git_servers import GitHttpsServer, Repo, make_pki, require_git

PERIOD = 2
TOKEN = "monorepo-token"
PATHS = {"team-a": "#main:team-a", "team-b": "#main:team-b", "pinned-a": "#v1:team-a"}


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "mono") as name:
        yield name


@pytest.fixture
def operator(cluster: Path, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    with running_operator(cluster, tmp_path, "--standalone", "--namespace", namespace) as proc:
        yield proc


def files(value: int) -> dict[str, str]:
    return {
        f"{team}/{name}": text
        for team in ("team-a", "team-b")
        for name, text in (
            ("rototo-workspace.toml", "schema_version = 1\n"),
            ("variables/summary-token-budget.toml", VARIABLE.format(value=value)),
        )
    }


def advertisements(server: GitHttpsServer) -> int:
    return sum(1 for method, path in list(server.requests) if "/info/refs" in path)


def seconds_until(text: str) -> float:
    due = datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return due - time.time()


def test_workspaces_on_one_repository_share_each_rounds_ls_remote(
    kubectl: Kubectl, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    require_git()
    repo = Repo(tmp_path)
    first = repo.commit(files(1000))
    repo.tag("v1")
    pki = make_pki(tmp_path / "pki")
    with GitHttpsServer(pki, repo.bare.parent, username=None, password=None) as server:
        assert isinstance(server, GitHttpsServer)
        server.bearer_token = TOKEN
        apply_secret(kubectl, namespace, "git", {"bearerToken": TOKEN, "ca.crt": pki.ca_pem})
        base = f"git+{server.url('config.git')}"
        for name, fragment in PATHS.items():
            create(
                kubectl,
                name,
                namespace,
                base + fragment,
                periodSeconds=PERIOD,
                secretRef={"name": "git"},
            )
        for name in PATHS:
            wait_ready(kubectl, namespace, name, f"git:{first}")

        # All three (a tag can move: it is polled too) wake at the repository's instants.
        # First loads that finish on either side of one instant wait for consecutive
        # instants; one round later they share every instant.
        statuses = {name: status_of(kubectl, namespace, name) for name in PATHS}
        assert not any(status.get("immutable") for status in statuses.values())

        def one_instant() -> str | None:
            instants = {status_of(kubectl, namespace, name).get("nextRefreshAt") for name in PATHS}
            return instants.pop() if len(instants) == 1 else None

        instant = eventually(one_instant, what="one nextRefreshAt for the three")

        # Count from half-way between two rounds over whole periods: each round is one
        # ref advertisement, not one per path (a slow machine may push the last round
        # past the window, never add one).
        time.sleep(max(0.0, seconds_until(instant)) + PERIOD / 2)
        before = advertisements(server)
        rounds = 3
        time.sleep(rounds * PERIOD)
        counted = advertisements(server) - before
        assert 1 <= counted <= rounds, f"{counted} ref advertisements in {rounds} rounds"

        second = repo.commit(files(2000))
        for name in ("team-a", "team-b"):
            wait_ready(kubectl, namespace, name, f"git:{second}")
        pinned = status_of(kubectl, namespace, "pinned-a")
        assert pinned["currentFingerprint"] == f"git:{first}", "a tag that did not move"
