"""Metric series per Workspace: one info series per served fingerprint, removed on delete."""

from __future__ import annotations

from rototo_operator.controller import metrics


def series(m: metrics.Metrics) -> str:
    return m.render().decode()


def test_fingerprint_change_replaces_the_info_series() -> None:
    m = metrics.Metrics()
    m.set_state(
        "ns", "a", fingerprint="git:1", consecutive_failures=0, last_success=5.0, stale=False
    )
    m.set_state(
        "ns", "a", fingerprint="git:2", consecutive_failures=2, last_success=5.0, stale=True
    )
    text = series(m)
    assert 'fingerprint="git:1"' not in text
    assert 'rototo_workspace_info{fingerprint="git:2",name="a",namespace="ns"} 1.0' in text
    assert 'rototo_workspace_consecutive_failures{name="a",namespace="ns"} 2.0' in text
    assert 'rototo_workspace_stale{name="a",namespace="ns"} 1.0' in text


def test_outcomes_and_durations_are_counted_and_forgotten() -> None:
    m = metrics.Metrics()
    m.observe_attempt("ns", "a", "failed", 0.3)
    m.observe_attempt("ns", "a", "failed", 0.3)
    m.set_state("ns", "a", fingerprint=None, consecutive_failures=2, last_success=None, stale=False)
    text = series(m)
    assert 'rototo_workspace_refresh_total{name="a",namespace="ns",outcome="failed"} 2.0' in text
    assert 'rototo_workspace_refresh_duration_seconds_count{name="a",namespace="ns"} 2.0' in text
    m.forget("ns", "a")
    assert 'name="a"' not in series(m)


def test_own_registry() -> None:
    assert "process_cpu_seconds_total" not in series(metrics.Metrics())
