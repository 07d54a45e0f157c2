"""The kind tier: a real cluster with a kubelet, built by pytest-kind in Docker.

Every test here is marked ``kind``. Without a Docker engine (``docker info`` fails) they are
skipped with that reason before pytest-kind's ``kind_cluster`` fixture is touched, so
collecting and running ``make test`` on a machine without Docker costs nothing. ``make e2e``
runs only this tier.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.kind)


def docker_engine_problem() -> str | None:
    """Why no Docker engine is usable here, or None when `docker info` succeeds."""
    docker = shutil.which("docker")
    if docker is None:
        return "no Docker engine: the docker command is not installed"
    try:
        done = subprocess.run(
            [docker, "info"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return "no Docker engine: `docker info` timed out"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine: `docker info` failed ({reason})"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def kind(docker_engine: None, request: pytest.FixtureRequest) -> Any:
    """pytest-kind's ``kind_cluster``, requested only once Docker is known to work."""
    return request.getfixturevalue("kind_cluster")
