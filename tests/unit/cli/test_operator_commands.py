"""The refresh report line, the status table and the command-line surface."""

from __future__ import annotations

import datetime
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.cli import build_parser, operator_commands

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def report(outcome: str, **status: object) -> tuple[int, str]:
    return operator_commands.refresh_report(
        namespace="payments",
        name="account-config",
        before="git:9f2c1e7a55",
        status={"lastRefreshOutcome": outcome, **status},
    )


def test_refresh_report_lines() -> None:
    assert report("refreshed", currentFingerprint="git:1d77e0c3ff") == (
        0,
        "refreshed: 9f2c1e7a -> 1d77e0c3 "
        "(workspace published to ConfigMap payments/account-config)",
    )
    assert report("unchanged", currentFingerprint="git:9f2c1e7a55")[1].startswith(
        "unchanged: 9f2c1e7a"
    )
    assert report("immutable", currentFingerprint="git:9f2c1e7a55")[1].startswith(
        "immutable: 9f2c1e7a"
    )
    code, line = report("failed", currentFingerprint="git:9f2c1e7a55", lastError="a.toml:1: boom")
    assert (code, line) == (1, "failed: a.toml:1: boom (still serving 9f2c1e7a)")


def test_status_table() -> None:
    items: list[dict[str, Any]] = [
        {
            "metadata": {"name": "pricing", "namespace": "payments"},
            "spec": {},
            "status": {
                "shortFingerprint": "4b0d9a11",
                "stale": True,
                "consecutiveFailures": 7,
                "lastSuccess": "2026-01-01T10:00:00Z",
                "lastRefreshOutcome": "failed",
                "conditions": [
                    {"type": "Ready", "status": "False", "message": "boom\nmore"},
                ],
            },
        },
        {"metadata": {"name": "account-config", "namespace": "payments"}, "spec": {}},
    ]
    table = operator_commands.status_table(items, now=NOW, all_namespaces=True).splitlines()
    assert table[0].split()[:3] == ["NAMESPACE", "NAME", "READY"]
    assert table[1].split()[:3] == ["payments", "account-config", "Unknown"]
    assert table[2].split() == [
        "payments",
        "pricing",
        "False",
        "4b0d9a11",
        "true",
        "7",
        "2h",
        "failed",
        "boom",
    ]


@pytest.mark.parametrize(
    ("seconds", "age"), [(41, "41s"), (300, "5m"), (7200, "2h"), (3 * 86400, "3d")]
)
def test_ages(seconds: int, age: str) -> None:
    assert operator_commands.format_age(seconds) == age


def test_run_flags() -> None:
    args = build_parser().parse_args(
        ["run", "-n", "a", "--namespace", "b", "--allow-local-sources", "--standalone"]
    )
    assert args.namespace == ["a", "b"]
    assert args.allow_local_sources is True
    assert args.leader_elect is False
    assert args.metrics_port == 8080
    defaults = build_parser().parse_args(["run"])
    assert (defaults.namespace, defaults.leader_elect, defaults.allow_local_sources) == (
        [],
        True,
        False,
    )


@pytest.mark.usefixtures("logging_restored")
def test_git_cache_max_idle_reaches_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from rototo_operator.controller import runner

    seen: list[runner.Options] = []

    def run_process(options: runner.Options) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(runner, "run_process", run_process)
    for argv, expected in (
        ([], runner.DEFAULT_GIT_CACHE_MAX_IDLE),
        (["--git-cache-max-idle", "600"], 600.0),
        (["--git-cache-max-idle", "0"], None),
    ):
        args = build_parser().parse_args(["run", "--standalone", *argv])
        assert args.handler(args) == 0
        assert seen[-1].git_cache_max_idle == expected


@pytest.mark.usefixtures("logging_restored")
def test_a_negative_git_cache_max_idle_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["run", "--git-cache-max-idle", "-1"])
    assert args.handler(args) == operator_commands.EXIT_USAGE
    assert "--git-cache-max-idle must be >= 0" in capsys.readouterr().err


def test_refresh_and_status_flags() -> None:
    args = build_parser().parse_args(["refresh", "cfg", "-n", "payments", "--wait"])
    assert (args.name, args.namespace, args.wait, args.timeout) == ("cfg", "payments", True, 120.0)
    args = build_parser().parse_args(["status", "-A"])
    assert args.all_namespaces is True


@pytest.mark.parametrize("argv", [["status", "-A"], ["refresh", "cfg", "-n", "payments"]])
def test_an_unreachable_api_server_is_a_clear_error_not_a_traceback(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "gone",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    args = build_parser().parse_args(argv)
    assert args.handler(args) == 1
    err = capsys.readouterr().err
    assert f"rototo-operator {argv[0]}: cannot reach the API server" in err
    assert "Traceback" not in err


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """`run` tunes logger levels for the process; put them back for the other tests."""
    names = ["", "kopf.objects", "kubernetes_asyncio", "rototo_operator.sdk.refresher"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("logging_restored")
def test_run_without_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-kubeconfig"))
    args = build_parser().parse_args(["run", "--standalone", "--metrics-port", "0"])
    assert args.handler(args) == 1
    err = capsys.readouterr().err
    assert "rototo-operator run: kubeconfig" in err
    assert "absent-kubeconfig does not exist" in err
    assert "Traceback" not in err
