"""Ask the reference engine `rototo==0.1.0a5`, in its own venv and process, for answers.

`make test` installs it into `.venv-oracle`; when that environment is missing the tests
that need it skip, naming the missing capability.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORACLE_PYTHON = Path(
    os.environ.get("ROTOTO_ORACLE_PYTHON", ROOT / ".venv-oracle" / "bin" / "python")
)
WORKER = Path(__file__).with_name("oracle_worker.py")


def available() -> bool:
    return ORACLE_PYTHON.exists()


def require() -> None:
    """Skip the calling test when the reference engine's environment is absent."""
    if not available():
        pytest.skip(f"reference engine not installed at {ORACLE_PYTHON} (run `make oracle`)")


def ask(requests: list[dict[str, Any]], *, timeout: float = 120) -> list[dict[str, Any]]:
    """Send a batch of requests; one process per batch keeps differential tests fast."""
    require()
    completed = subprocess.run(
        [str(ORACLE_PYTHON), str(WORKER)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"oracle worker failed: {completed.stderr.strip()}")
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


def ask_one(request: dict[str, Any]) -> dict[str, Any]:
    return ask([request])[0]
