"""Shared loading: one stage per version for many Workspaces, credentials mapping and keys."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rototo_operator.controller import loading, reconcile
from rototo_operator.errors import SourceError
from rototo_operator.sources.credentials import Credentials
from tests.unit.controller import fakes
from tests.unit.controller.fakes import GIT, Clock, FakeCluster, FakeStager

SOURCE = f"{GIT}#main"


def service() -> loading.LoadService:
    fakes.runtime(FakeCluster(), Clock())  # resets the fake stager's class state
    return loading.LoadService(
        cache_dir=None,
        allow_local=False,
        max_concurrent=2,
        compiler=fakes.lint_compiler,
        stager_factory=FakeStager,
    )


async def test_many_workspaces_on_one_source_share_one_stage() -> None:
    loads = service()
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    token = await loads.probe(SOURCE, None)
    results = await asyncio.gather(*(loads.load(SOURCE, None, token) for _ in range(20)))
    assert len({id(r) for r in results}) == 1
    assert FakeStager.stages == [SOURCE]
    # Later loads of the same version come from the compiled cache.
    await loads.load(SOURCE, None, token)
    assert FakeStager.stages == [SOURCE]
    assert loads.stage_count == 1


async def test_concurrent_probes_share_one_round_trip() -> None:
    loads = service()
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    tokens = await asyncio.gather(*(loads.probe(SOURCE, None) for _ in range(10)))
    assert set(tokens) == {"git:" + "1" * 40}
    assert len(FakeStager.probes) == 1
    await loads.probe(SOURCE, None)
    assert len(FakeStager.probes) == 2, "a later probe asks again"


async def test_concurrent_loads_join_one_in_flight_stage_even_without_a_token() -> None:
    loads = service()
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    results = await asyncio.gather(*(loads.load(SOURCE, None, None) for _ in range(5)))
    assert {r.fingerprint for r in results} == {"git:" + "1" * 40}
    assert len(FakeStager.stages) == 1


async def test_failures_reach_every_joiner() -> None:
    loads = service()
    outcomes = await asyncio.gather(
        *(loads.load(SOURCE, None, None) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, SourceError) for o in outcomes)


def test_stagers_are_shared_per_credentials() -> None:
    loads = service()
    alice = Credentials(username="alice", password="x")
    assert loads.stager(None) is loads.stager(None)
    assert loads.stager(alice) is loads.stager(Credentials(username="alice", password="x"))
    assert loads.stager(alice) is not loads.stager(None)
    assert loads.stager(alice).kwargs["credentials"] is alice


def test_a_stager_no_workspace_asks_for_is_dropped() -> None:
    """One stager per credentials set: a rotated token's must not stay for good."""
    now = [0.0]
    fakes.runtime(FakeCluster(), Clock())
    loads = loading.LoadService(
        cache_dir=None,
        allow_local=False,
        max_concurrent=2,
        stager_factory=FakeStager,
        clock=lambda: now[0],
    )
    old, new = Credentials(bearer_token="old"), Credentials(bearer_token="new")
    first = loads.stager(old)
    now[0] = loading.STAGER_IDLE_SECONDS / 2
    assert loads.stager(old) is first, "in use: kept"
    now[0] += loading.STAGER_IDLE_SECONDS + 1
    kept = loads.stager(new)
    assert loads._stagers == {loading.credentials_key(new): kept}
    assert loads.stager(old) is not first, "asked for again: a new one"


def test_credentials_keys_do_not_contain_secrets() -> None:
    key = loading.credentials_key(Credentials(username="u", password="hunter2"))
    assert "hunter2" not in key
    assert key != loading.credentials_key(Credentials(username="u", password="other"))
    assert loading.credentials_key(None) == ""


def test_local_sources_are_refused_without_the_flag() -> None:
    loads = service()
    with pytest.raises(loading.LocalSourceRefused, match="--allow-local-sources"):
        loads.check_allowed("git+file:///srv/repo#main")
    assert loads.check_allowed(f"{GIT}#{'a' * 40}") is True
    assert loads.check_allowed(SOURCE) is False


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"username": "u", "password": "pw-9"}, {"username": "u", "password": "pw-9"}),
        ({"bearerToken": "tok-9"}, {"bearer_token": "tok-9"}),
        (
            {"identity": "KEY", "known_hosts": "host ssh-ed25519 AAA"},
            {"ssh_identity": "KEY", "ssh_known_hosts": "host ssh-ed25519 AAA"},
        ),
        ({"ca.crt": "PEM"}, {"ca_bundle": "PEM"}),
    ],
)
def test_secret_keys_map_to_credentials(data: dict[str, str], expected: dict[str, str]) -> None:
    credentials = reconcile.credentials_from_secret(data)
    assert credentials is not None
    for field, value in expected.items():
        assert getattr(credentials, field) == value
    for secret in ("pw-9", "tok-9", "KEY"):
        if secret in data.values():
            assert secret not in repr(credentials)


def test_a_secret_without_known_keys_means_no_credentials() -> None:
    assert reconcile.credentials_from_secret({"unrelated": "x"}) is None


async def test_stages_of_different_sources_run_at_most_max_concurrent_at_once() -> None:
    loads = service()  # max_concurrent=2
    sources = [f"{GIT.replace('config', f'config-{index}')}#main" for index in range(6)]
    running, peak = 0, 0
    lock = threading.Lock()

    class SlowStager(FakeStager):
        def stage(self, source: str, *, fresh_after: float | None = None) -> fakes.FakeStaged:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.05)  # blocking work in a worker thread, as a real fetch is
            with lock:
                running -= 1
            return super().stage(source, fresh_after=fresh_after)

    loads._stager_factory = SlowStager
    for source in sources:
        FakeStager.versions[source] = "git:" + "2" * 40
    results = await asyncio.gather(*(loads.load(source, None, None) for source in sources))
    assert len(results) == len(sources)
    assert peak == 2, "the --max-concurrent-refreshes bound"
    assert loads.stage_count == len(sources)
