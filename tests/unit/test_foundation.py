"""The project's foundation does what issue 2 promises: checks that can fail.

Covers the pieces no other test exercises: the pytest configuration (warnings are errors,
a per-test timeout, strict markers, asyncio mode), the console script entry point, the
import layer contracts (a violation must fail `lint-imports`), and `.ci/run` failing when
either `make lint` or `make test` fails, including pytest's exit 5 for "no tests".
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import rototo_operator
from rototo_operator import cli

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _run_pytest(directory: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on one test file with the project's own configuration."""
    (directory / "test_probe.py").write_text(test_source, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(directory),
            str(directory / "test_probe.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=directory,
        timeout=120,
    )


def test_import_and_console_script() -> None:
    # The import package lives under the top-level `operator/` folder (of this checkout,
    # or of the one the shared virtual environment was installed from).
    package = Path(rototo_operator.__file__).parent
    assert (package.name, package.parent.name) == ("rototo_operator", "operator")
    (script,) = (
        entry
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.name == "rototo-operator"
    )
    assert script.value == "rototo_operator.cli:main"
    assert script.load() is cli.main


def test_pytest_configuration_is_declared() -> None:
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert options["filterwarnings"] == ["error"]
    assert options["timeout"] > 0
    assert options["asyncio_mode"] == "auto"
    assert "--strict-markers" in options["addopts"]
    declared = {marker.split(":")[0] for marker in options["markers"]}
    assert {"integration", "kind"} <= declared


def test_a_warning_fails_a_test(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        "import warnings\n\n"
        "def test_warns():\n    warnings.warn('deprecated', DeprecationWarning)\n",
    )
    assert result.returncode == 1, result.stdout
    assert "DeprecationWarning" in result.stdout


def test_an_unknown_marker_fails_collection(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path, "import pytest\n\n@pytest.mark.integraton\ndef test_typo():\n    pass\n"
    )
    assert result.returncode != 0
    assert "integraton" in result.stdout


def test_async_tests_run_without_a_marker(tmp_path: Path) -> None:
    result = _run_pytest(
        tmp_path,
        "import asyncio\n\nasync def test_sleeps():\n    await asyncio.sleep(0)\n"
        "    raise AssertionError('the coroutine ran')\n",
    )
    assert result.returncode == 1
    assert "the coroutine ran" in result.stdout


def _violating_copy(tmp_path: Path, module: str, source: str) -> Path:
    """A copy of the package with one module that breaks a layer contract."""
    shutil.copytree(
        REPO / "operator" / "rototo_operator",
        tmp_path / "rototo_operator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "rototo_operator" / Path(*module.split("."))).with_suffix(".py").write_text(
        source, encoding="utf-8"
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("engine._probe", "import kopf\n", "never talk to Kubernetes"),
        ("sources._probe", "import kubernetes_asyncio\n", "never talk to Kubernetes"),
        ("engine._probe", "import socket\n", "does no network I/O"),
        ("sdk._probe", "from rototo_operator import controller\n", "Layers run one way"),
    ],
)
def test_import_contracts_catch_a_violation(
    tmp_path: Path, module: str, source: str, contract: str
) -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.skip("import-linter is not installed (the project's lint extra)")
    root = _violating_copy(tmp_path, module, source)
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert f"rototo_operator.{module}" in result.stdout
    broken = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout


@pytest.mark.parametrize(
    ("failing_target", "exit_code"),
    [("lint", 2), ("test", 2), ("test", 5)],
)
def test_ci_run_fails_when_a_step_fails(
    tmp_path: Path, failing_target: str, exit_code: int
) -> None:
    # A stand-in `make` that records its targets and fails the chosen one, so the script's
    # own control flow is what is tested.
    calls = tmp_path / "calls"
    fake_make = tmp_path / "make"
    fake_make.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> {calls}\n'
        f'if [ "$1" = "{failing_target}" ]; then exit {exit_code}; fi\n'
        "exit 0\n",
        encoding="utf-8",
    )
    fake_make.chmod(0o755)
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "run")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
        timeout=60,
    )
    assert result.returncode == exit_code
    expected = ["lint"] if failing_target == "lint" else ["lint", "test"]
    assert calls.read_text(encoding="utf-8").split() == expected
