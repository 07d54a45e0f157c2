"""The package's public face."""

from __future__ import annotations

import subprocess
import sys

import rototo_operator
from rototo_operator import errors


def test_public_names_are_exported() -> None:
    for name in rototo_operator.__all__:
        assert getattr(rototo_operator, name) is not None, name


def test_errors_share_one_base() -> None:
    for exc in (errors.SourceError, errors.WorkspaceLoadError, errors.ResolutionError):
        assert issubclass(exc, rototo_operator.RototoError)


def test_console_script_prints_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rototo_operator", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rototo-operator" in result.stdout
