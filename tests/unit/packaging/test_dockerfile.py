"""Static checks of the Dockerfile and .dockerignore.

No Docker engine runs on the development machines, so the image is never built here (the kind
tier builds it where one exists). These tests read the Dockerfile as instructions grouped by
stage and assert the properties the image promises: a slim base pinned by tag, compilers only
in the builder, an offline wheel install, a fixed non-root uid, the operator as entrypoint,
OCI labels, and a build context that cannot carry secrets or virtualenvs.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPILER_PACKAGES = ("build-essential", "gcc", "g++", "clang", "make", "cmake", "cargo", "rustc")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined; comments dropped."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(p for p in pending if p)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def parse_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the build stages in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for inst in parse_instructions(text):
        if inst.keyword == "FROM":
            words = [w for w in inst.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, line=inst.line))
        elif not stages:
            if inst.keyword == "ARG" and "=" in inst.args:
                key, _, value = inst.args.partition("=")
                global_args[key.strip()] = value.strip().strip('"')
        else:
            stages[-1].instructions.append(inst)
    return global_args, stages


def expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), value)


@pytest.fixture(scope="module")
def parsed() -> tuple[dict[str, str], list[Stage]]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(parsed: tuple[dict[str, str], list[Stage]]) -> Stage:
    return parsed[1][-1]


def test_parser_joins_continuations_and_splits_stages() -> None:
    text = "ARG B=img:1\nFROM ${B} AS one\nRUN a \\\n  # note\n  && b\nFROM one\nUSER 1\n"
    args, stages = parse_stages(text)
    assert args == {"B": "img:1"}
    assert [(s.base, s.name) for s in stages] == [("${B}", "one"), ("one", None)]
    assert stages[0].all("RUN")[0].args == "a && b"
    assert stages[1].all("USER")[0].line == 7


def test_is_multi_stage_with_a_named_builder(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = parsed
    assert len(stages) >= 2, "the image must be built in a builder stage, then a runtime stage"
    assert stages[0].name == "builder"
    assert stages[-1].name == "runtime"


def test_every_base_is_a_slim_python_311_image_pinned_by_tag(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    args, stages = parsed
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue
        image = expand(stage.base, args)
        assert "$" not in image, f"line {stage.line}: base {stage.base} has no ARG default"
        repository, _, tag = image.partition("@")[0].partition(":")
        assert repository == "python", f"line {stage.line}: unexpected base {image}"
        assert tag, f"line {stage.line}: base {image} is not pinned by tag"
        assert tag != "latest", f"line {stage.line}: base {image} floats on latest"
        assert re.fullmatch(r"3\.11(\.\d+)?-slim-bookworm", tag), (
            f"line {stage.line}: base tag {tag} must be a 3.11 slim bookworm tag"
        )


def test_builder_builds_wheels_for_the_project_and_its_dependencies(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    builder = parsed[1][0]
    runs = " ".join(i.args for i in builder.all("RUN"))
    assert re.search(r"pip wheel --wheel-dir /wheels \.", runs), runs
    copies = " ".join(i.args for i in builder.all("COPY"))
    for needed in ("pyproject.toml", "README.md", "operator/"):
        assert needed in copies, f"the wheel build needs {needed} in the builder"


def test_runtime_stage_has_no_compilers(runtime: Stage) -> None:
    for inst in runtime.all("RUN"):
        words = set(shlex.split(inst.args.replace("&&", " ")))
        found = words.intersection(COMPILER_PACKAGES)
        assert not found, f"line {inst.line}: the runtime stage installs {sorted(found)}"
        assert "apt-get install" not in inst.args, (
            f"line {inst.line}: the runtime stage must not install system packages"
        )
    froms = [i for i in runtime.instructions if i.keyword == "COPY" and "--from=" in i.args]
    for inst in froms:
        assert "/src" not in inst.args, f"line {inst.line}: copies the source tree into runtime"


def test_runtime_installs_the_wheel_offline_from_the_builder(runtime: Stage) -> None:
    installs = [i for i in runtime.all("RUN") if "pip install" in i.args]
    assert len(installs) == 1, "exactly one pip install in the runtime stage"
    inst = installs[0].args
    assert "from=builder" in inst, "the wheels come from the builder stage"
    assert "--no-index" in inst, "no index: the runtime installs only the built wheels"
    assert "--no-cache-dir" in inst
    assert "rototo-operator" in inst


def test_runtime_runs_as_the_fixed_non_root_uid(runtime: Stage) -> None:
    users = runtime.all("USER")
    assert users, "the runtime stage must set USER"
    last = users[-1].args
    uid, _, gid = last.partition(":")
    assert uid == "65532", f"USER {last}: use the numeric uid 65532 so runAsNonRoot can check it"
    assert gid in ("", "65532")
    after = runtime.instructions[runtime.instructions.index(users[-1]) + 1 :]
    assert not [i for i in after if i.keyword == "USER"]
    assert not [i for i in after if i.keyword == "RUN"], "nothing runs as root after USER"
    created = " ".join(i.args for i in runtime.all("RUN"))
    assert "--uid 65532" in created, "the uid must exist in /etc/passwd for tools that look"


def test_entrypoint_is_the_operator(runtime: Stage) -> None:
    entry = runtime.all("ENTRYPOINT")
    assert entry, "no ENTRYPOINT"
    assert json.loads(entry[-1].args) == ["rototo-operator", "run"], "exec form, operator run"
    cmd = runtime.all("CMD")
    assert cmd, "CMD carries the default flags"
    assert "--cache-dir=/var/cache/rototo" in json.loads(cmd[-1].args)


def test_oci_labels_are_set(runtime: Stage) -> None:
    labels = " ".join(i.args for i in runtime.all("LABEL"))
    for key in ("title", "description", "licenses", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}=" in labels, f"missing OCI label {key}"


def dockerignore_excludes(path: str) -> bool:
    """Whether the build context leaves ``path`` out (last matching pattern wins)."""
    excluded = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if not hit and pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        if hit:
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        ".cluster/pki/ca.key",
        "tests/conftest.py",
        "bench/x.py",
        "operator/rototo_operator/__pycache__/x.pyc",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert dockerignore_excludes(path), f"{path} would be sent to the Docker build context"


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "README.md", "operator/rototo_operator/cli/__init__.py"]
)
def test_dockerignore_keeps_what_the_builder_copies(path: str) -> None:
    assert not dockerignore_excludes(path), f"{path} is needed by the builder stage"


# Each check above must fail on the regression it guards against: apply one edit to the real
# Dockerfile and run the check on the result.
REGRESSIONS: list[tuple[str, str, Callable[..., None]]] = [
    (
        "ARG PYTHON_IMAGE=python:3.11-slim-bookworm",
        "ARG PYTHON_IMAGE=python:latest",
        test_every_base_is_a_slim_python_311_image_pinned_by_tag,
    ),
    (
        "ARG PYTHON_IMAGE=python:3.11-slim-bookworm",
        "ARG PYTHON_IMAGE=python:3.11",
        test_every_base_is_a_slim_python_311_image_pinned_by_tag,
    ),
    ("USER 65532:65532", "USER root", test_runtime_runs_as_the_fixed_non_root_uid),
    ("USER 65532:65532", "", test_runtime_runs_as_the_fixed_non_root_uid),
    (
        "USER 65532:65532\n",
        "USER 65532:65532\nRUN apt-get update && apt-get install --yes build-essential\n",
        test_runtime_stage_has_no_compilers,
    ),
    ("--no-index ", "", test_runtime_installs_the_wheel_offline_from_the_builder),
    (
        'ENTRYPOINT ["rototo-operator", "run"]',
        "ENTRYPOINT rototo-operator",
        test_entrypoint_is_the_operator,
    ),
    ('org.opencontainers.image.revision="${REVISION}"', "", test_oci_labels_are_set),
    (
        "FROM ${PYTHON_IMAGE} AS builder",
        "FROM ${PYTHON_IMAGE} AS build",
        test_is_multi_stage_with_a_named_builder,
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "check"),
    REGRESSIONS,
    ids=[f"{c.__name__[5:]}:{n[:20]}" for _, n, c in REGRESSIONS],
)
def test_each_check_catches_its_regression(old: str, new: str, check: Callable[..., None]) -> None:
    text = DOCKERFILE.read_text()
    assert old in text, f"the Dockerfile no longer contains {old!r}: update this regression"
    parsed_mutant = parse_stages(text.replace(old, new, 1))
    argument = (
        parsed_mutant[1][-1] if "runtime" in inspect.signature(check).parameters else parsed_mutant
    )
    with pytest.raises((AssertionError, json.JSONDecodeError)):
        check(argument)


def test_the_context_and_copies_hold_everything_the_wheel_build_reads() -> None:
    """pyproject.toml's readme and wheel packages reach the builder's working directory."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = [project["project"]["readme"]]
    needed += project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    _, stages = parse_stages(DOCKERFILE.read_text())
    copied = " ".join(i.args for i in stages[0].all("COPY")).split()
    for path in needed:
        assert (REPO / path).exists(), path
        assert not dockerignore_excludes(f"{path}/x.py" if (REPO / path).is_dir() else path), (
            f"{path} is left out of the build context"
        )
        assert any(path == c.rstrip("/") or path.startswith(c) for c in copied), (
            f"the builder does not COPY {path}"
        )
