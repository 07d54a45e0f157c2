"""Custom Lua lint: run a workspace's `lint/*.lua` policy rules in a sandbox.

`run_custom_lint(root, view)` discovers `lint/*.lua` under `root`, loads each file in a
fresh Lua 5.4 VM and calls its `register(lint)`, validates the `lint:rule{...}`
registrations, then invokes every handler once per target its address selects and turns
returned diagnostics into `Diagnostic`s. Registration problems are reported in the
`register` stage, handler results and handler failures in the `policy` stage, with the
reference's rule ids (`rototo/custom-lint-failed`, `-registration-invalid`,
`-rule-conflict`, `-file-unregistered`, `-registration-duplicate`). It never raises for
bad scripts.

The view (`build_view(index)` makes it from the engine's WorkspaceIndex; the shape is
documented in docs/custom-lint.md)::

    {
      "workspace": {            # handed to scripts as-is: JSON-like data only
        "version": 1, "root": "/abs/root",
        "manifest": {kind, path, uri, toml, extends} | None,
        "qualifiers": {id: {kind, id, path, uri, description, when, toml}},
        "variables": {id: {kind, id, path, uri, description,
                           declaration: {kind, value?},
                           values: {key: {kind, variable, key, value, origin}},
                           resolve: {kind, default, rules: [{kind, variable, index,
                                                             when, query, value}]},
                           toml}},
        "catalogs": {id: {kind, id, path, json, entries: {key: {kind, catalog, key,
                                                                path, value}}}},
        "request_contexts": {id: {kind, id, path, json,
                                  entries: {key: {kind, request_context, key, path,
                                                  value}}}},
      },
      "locations": {            # optional: source spans, keyed by entity address and
        "/": Location,          # optionally "#<field kind>" (the reference's field names)
        "/#workspace_extends": Location,
        "/variables/<id>": Location, "/variables/<id>#variable_resolve_default": ...,
        "/variables/<id>/rules/<index>": Location, "/catalogs/<id>/entries/<key>": ...,
      },
    }

`None` stands for JSON null (scripts see a light-userdata-like null, as in the
reference). A missing location falls back to the entity's `path` without a range.

Limits and sandbox: see `_sandbox` (16 MiB, 1,000,000 instructions, 2 s per task, no
io/os/require/load/debug/coroutine/string.dump, no Python objects). By default tasks run
in a worker process that is killed when a task overruns its deadline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rototo_operator.engine import diagnostics
from rototo_operator.engine.lua_lint import _executor, _sandbox, _targets
from rototo_operator.engine.lua_lint._executor import Isolation
from rototo_operator.engine.lua_lint._view import build_view

__all__ = ["Isolation", "build_view", "run_custom_lint"]

Diagnostic = diagnostics.Diagnostic

_HELP = {
    "rototo/custom-lint-failed": "Update the Lua lint file or target data so custom lint can run.",
    "rototo/custom-lint-registration-invalid": (
        "Register custom lint with an allowed stage, entity, field, rule metadata, and handler."
    ),
    "rototo/custom-lint-rule-conflict": (
        "Use identical title and help text for repeated custom rule declarations."
    ),
    "rototo/custom-lint-file-unregistered": (
        "Register at least one handler from the Lua file or remove the file."
    ),
    "rototo/custom-lint-registration-duplicate": (
        "Remove duplicate custom lint registrations so handlers run once per target."
    ),
}
_WARNINGS = {"rototo/custom-lint-file-unregistered", "rototo/custom-lint-registration-duplicate"}


@dataclass(frozen=True)
class _LintFile:
    path: str  # workspace-relative, "lint/<name>.lua"
    text: str | None
    read_error: str | None


@dataclass(frozen=True)
class _Definition:
    rule: str
    severity: diagnostics.Severity
    title: str
    help: str


@dataclass(frozen=True)
class _Registration:
    file: str
    definition: _Definition
    address: _targets.Address
    handler: str


def run_custom_lint(
    root: Path, view: Mapping[str, Any], *, isolation: Isolation = "process"
) -> list[Diagnostic]:
    """Run every `lint/*.lua` under `root` against `view`; never raises for bad scripts."""
    files = _discover(root)
    if not files:
        return []
    workspace = _normalise_workspace(root, view.get("workspace"))
    locations = view.get("locations")
    model = _targets.WorkspaceModel(workspace, locations if isinstance(locations, Mapping) else {})
    scripts = {item.path: item.text for item in files if item.text is not None}
    executor = _executor.make_executor(isolation, workspace, scripts)
    try:
        found: list[Diagnostic] = []
        registrations = _register(files, executor, found)
        _run_policy(registrations, model, executor, found)
        return found
    finally:
        executor.close()


def _discover(root: Path) -> list[_LintFile]:
    directory = root / "lint"
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        # An unreadable lint directory is a failed custom lint, not a crash.
        return [_LintFile("lint", None, _os_error(error))]
    files: list[_LintFile] = []
    real_root = os.path.realpath(root)
    for entry in entries:
        if not entry.name.endswith(".lua") or entry.name == ".lua":
            continue
        try:
            is_file = entry.is_file(follow_symlinks=False)
            if not is_file and entry.is_symlink():
                # A dangling link still counts, like the reference; reading it then fails.
                is_file = not os.path.exists(entry.path) or os.path.isfile(entry.path)
        except OSError:
            is_file = False
        if not is_file:
            continue
        relative = f"lint/{entry.name}"
        real = os.path.realpath(entry.path)
        if os.path.exists(real) and os.path.commonpath([real_root, real]) != real_root:
            files.append(_LintFile(relative, None, "path escapes workspace"))
            continue
        try:
            data = Path(entry.path).read_bytes()
        except OSError as error:
            files.append(_LintFile(relative, None, _os_error(error)))
            continue
        try:
            files.append(_LintFile(relative, data.decode("utf-8"), None))
        except UnicodeDecodeError:
            files.append(_LintFile(relative, None, "stream did not contain valid UTF-8"))
    return files


def _os_error(error: OSError) -> str:
    if error.errno is not None and error.strerror:
        return f"{error.strerror} (os error {error.errno})"
    return str(error)


def _normalise_workspace(root: Path, workspace: Any) -> dict[str, Any]:
    data = dict(workspace) if isinstance(workspace, Mapping) else {}
    data.setdefault("version", 1)
    data.setdefault("root", str(root))
    data.setdefault("manifest", None)
    for collection in ("qualifiers", "variables", "catalogs", "request_contexts"):
        data.setdefault(collection, {})
    return data


def _custom_lint_diagnostic(
    rule: str, stage: diagnostics.Stage, file: str, message: str
) -> Diagnostic:
    return Diagnostic(
        rule=rule,
        severity="warning" if rule in _WARNINGS else "error",
        stage=stage,
        message=message,
        help=_HELP[rule],
        location=diagnostics.Location(path=file),
        target={"entity": {"kind": "custom_lint", "path": file}},
    )


def _register(
    files: list[_LintFile], executor: _executor.Executor, found: list[Diagnostic]
) -> list[_Registration]:
    definitions: dict[str, _Definition] = {}
    registrations: list[_Registration] = []
    for item in files:
        if item.text is None:
            message = f"failed to read custom lint {item.path}: {item.read_error}"
            found.append(
                _custom_lint_diagnostic("rototo/custom-lint-failed", "register", item.path, message)
            )
            continue
        try:
            raw = executor.run(
                {"op": "register", "path": item.path}, label="custom lint registration"
            )
        except _sandbox.TaskFailure as failure:
            found.append(
                _custom_lint_diagnostic(
                    "rototo/custom-lint-failed", "register", item.path, failure.message
                )
            )
            continue
        if not raw:
            found.append(
                _custom_lint_diagnostic(
                    "rototo/custom-lint-file-unregistered",
                    "register",
                    item.path,
                    f"custom lint file registers no handlers: {item.path}",
                )
            )
        for entry in raw:
            problem, registration = _validate(item.path, _sandbox.RawRegistration(**entry))
            if registration is None:
                found.append(
                    _custom_lint_diagnostic(
                        "rototo/custom-lint-registration-invalid", "register", item.path, problem
                    )
                )
                continue
            definition = registration.definition
            existing = definitions.setdefault(definition.rule, definition)
            if existing != definition:
                found.append(
                    _custom_lint_diagnostic(
                        "rototo/custom-lint-rule-conflict",
                        "register",
                        item.path,
                        f"custom lint rule metadata conflicts: {definition.rule}",
                    )
                )
                continue
            registrations.append(registration)
    return _without_duplicates(registrations, found)


def _without_duplicates(
    registrations: list[_Registration], found: list[Diagnostic]
) -> list[_Registration]:
    """Warn about repeated registrations; like the reference, they still all run."""
    first: dict[tuple[str, str, str, str], _Registration] = {}
    for registration in registrations:
        key = (
            registration.file,
            registration.address.canonical(),
            registration.definition.rule,
            registration.handler,
        )
        if key in first:
            duplicate = _custom_lint_diagnostic(
                "rototo/custom-lint-registration-duplicate",
                "register",
                registration.file,
                "custom lint registration duplicates an earlier registration: "
                f"{registration.handler}",
            )
            related = {
                "location": diagnostics.Location(path=first[key].file).to_json(),
                "message": "first matching registration",
            }
            found.append(
                Diagnostic(
                    rule=duplicate.rule,
                    severity=duplicate.severity,
                    stage=duplicate.stage,
                    message=duplicate.message,
                    help=duplicate.help,
                    location=duplicate.location,
                    target=duplicate.target,
                    related=(related,),
                )
            )
        else:
            first[key] = registration
    return registrations


def _validate(file: str, raw: _sandbox.RawRegistration) -> tuple[str, _Registration | None]:
    """Check one registration in the reference's order: target, handler, rule id, severity."""
    try:
        address = _targets.parse_address(raw.target)
    except _targets.AddressError:
        return f"custom lint registration has unsupported target: {raw.target}", None
    if not raw.handler_exists:
        return f"custom lint registration handler is not callable: {raw.handler}", None
    id_problem = _rule_id_problem(raw.id)
    if id_problem is not None:
        return f"custom lint registration rule id is invalid: {raw.id}: {id_problem}", None
    severity: diagnostics.Severity
    if raw.severity is None or raw.severity == "error":
        severity = "error"
    elif raw.severity == "warning":
        severity = "warning"
    else:
        return f"custom lint registration rule severity is unsupported: {raw.severity}", None
    definition = _Definition(raw.id, severity, raw.title, raw.help)
    return "", _Registration(file, definition, address, raw.handler)


def _rule_id_problem(rule: str) -> str | None:
    authority, slash, rest = rule.partition("/")
    if not slash:
        return "custom rule id must use <authority>/<rule-id>"
    if "/" in rest:
        return "custom rule id must contain exactly one slash"
    if authority == "rototo":
        return "rototo is reserved for built-in diagnostic rules"
    if not _valid_segment(authority) or not _valid_segment(rest):
        return "rule id segments must use lowercase ASCII letters, digits, and hyphen"
    return None


def _valid_segment(segment: str) -> bool:
    return bool(segment) and all(char in _SEGMENT_CHARS for char in segment)


_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _run_policy(
    registrations: list[_Registration],
    model: _targets.WorkspaceModel,
    executor: _executor.Executor,
    found: list[Diagnostic],
) -> None:
    for registration in registrations:
        definition = registration.definition
        for target in model.targets(registration.address):
            job = {
                "op": "handle",
                "path": registration.file,
                "handler": registration.handler,
                "target": list(target.pointer),
            }
            try:
                outputs = executor.run(job, label="custom lint")
            except _sandbox.TaskFailure as failure:
                found.append(
                    Diagnostic(
                        rule="rototo/custom-lint-failed",
                        severity="error",
                        stage="policy",
                        # The first line is the reference's; the last names the handler,
                        # which the reference leaves to its traceback.
                        message=(
                            f"custom lint handler failed in {registration.file}: "
                            f"{failure.message}\nhandler: {registration.handler} "
                            f"(rule {definition.rule})"
                        ),
                        help=_HELP["rototo/custom-lint-failed"],
                        location=target.location,
                        target=target.semantic(),
                    )
                )
                continue
            for output in outputs:
                anchor = model.anchor(target, output["path"])
                found.append(
                    Diagnostic(
                        rule=definition.rule,
                        severity=definition.severity,
                        stage="policy",
                        message=str(output["message"]),
                        help=definition.help,
                        location=anchor.location,
                        target=anchor.target,
                    )
                )
