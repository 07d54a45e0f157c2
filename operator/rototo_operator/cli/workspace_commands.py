"""Workspace commands: `lint`, `compile`, `resolve`.

    rototo-operator lint SOURCE [--json]
    rototo-operator compile SOURCE -o FILE
    rototo-operator resolve SOURCE (--variable ID | --qualifier ID)
                            [--context JSON|@FILE|key.path=value ...] [--json]

SOURCE is any rototo source string (a local path, git or archive source); `resolve` also
accepts a compiled model (`workspace.json` or a directory holding it). Lint prints
diagnostics like a compiler (`path:line: severity rule message`, then its help) and exits 1
when any is an error. Problems (a bad source, a bad context, a failed resolution) print one
clear line to stderr and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from rototo_operator import sources
from rototo_operator.engine import compiled as engine_compiled
from rototo_operator.engine import lint as engine_lint
from rototo_operator.engine.diagnostics import Diagnostic
from rototo_operator.errors import RototoError, SourceError
from rototo_operator.sdk.workspace import Workspace

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def register(commands: Any) -> None:
    """Add the workspace commands to the top-level parser."""
    lint = commands.add_parser(
        "lint",
        help="lint a workspace with rototo's rules",
        description="Lint a workspace source; exit 1 when any diagnostic is an error.",
    )
    lint.add_argument("source", metavar="SOURCE", help="workspace source (path, git, archive)")
    lint.add_argument("--json", action="store_true", help="print {root, diagnostics} as JSON")
    lint.set_defaults(handler=_quiet_broken_pipe(run_lint))

    compile_ = commands.add_parser(
        "compile",
        help="compile a lint-clean workspace into the runtime model",
        description="Compile a workspace source into rototo.compiled/v1 JSON.",
    )
    compile_.add_argument("source", metavar="SOURCE", help="workspace source")
    compile_.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="output file ('-' for stdout)"
    )
    compile_.set_defaults(handler=_quiet_broken_pipe(run_compile))

    resolve = commands.add_parser(
        "resolve",
        help="resolve a variable or qualifier against a context",
        description="Resolve one variable or qualifier of a workspace source or compiled model.",
    )
    resolve.add_argument("source", metavar="SOURCE", help="workspace source or compiled model")
    target = resolve.add_mutually_exclusive_group(required=True)
    target.add_argument("--variable", metavar="ID", help="variable id to resolve")
    target.add_argument("--qualifier", metavar="ID", help="qualifier id to resolve")
    resolve.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="VALUE",
        help="JSON object, @file.json, or key.path=value (repeatable; merged left to right); "
        "without it, the compatible stored request context samples are used",
    )
    resolve.add_argument(
        "--no-validate-context",
        action="store_true",
        help="skip request context schema validation",
    )
    resolve.add_argument("--json", action="store_true", help="print the resolution as JSON")
    resolve.set_defaults(handler=_quiet_broken_pipe(run_resolve))


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def print_diagnostics(diagnostics: list[Diagnostic], out: TextIO) -> None:
    for diagnostic in diagnostics:
        print(diagnostic.headline(), file=out)
        if diagnostic.help:
            print(f"  help: {diagnostic.help}", file=out)
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    print(f"{errors} error(s), {warnings} warning(s)", file=out)


def _name_source(diagnostic: Diagnostic, root: str, source: str) -> Diagnostic:
    """Workspace-level diagnostics name the staging directory; show the user's source."""
    if diagnostic.location.path != root:
        return diagnostic
    location = dataclasses.replace(diagnostic.location, path=source)
    return dataclasses.replace(diagnostic, location=location)


def _quiet_broken_pipe(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """`rototo-operator lint ... | head` should stop quietly, not with a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED

    return run


def _stage(source: str) -> tuple[sources.Stager, sources.StagedWorkspace]:
    stager = sources.Stager(credentials=sources.Credentials.for_workspace_token(None))
    try:
        return stager, stager.stage(source)
    except BaseException:
        stager.cleanup()
        raise


def run_lint(args: argparse.Namespace) -> int:
    try:
        stager, staged = _stage(args.source)
    except RototoError as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        diagnostics = [
            _name_source(d, str(staged.root), args.source)
            for d in engine_lint.lint_tree(Path(staged.root))
        ]
    finally:
        stager.cleanup()
    if args.json:
        payload = {"root": args.source, "diagnostics": [d.to_json() for d in diagnostics]}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print_diagnostics(diagnostics, sys.stdout)
    return EXIT_FAILED if any(d.is_error for d in diagnostics) else EXIT_OK


def _write_atomically(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_compile(args: argparse.Namespace) -> int:
    try:
        stager, staged = _stage(args.source)
    except RototoError as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        model = engine_compiled.compile_tree(
            Path(staged.root), source=staged.source, fingerprint=staged.fingerprint
        )
    except engine_compiled.LintFailedError as error:
        print_diagnostics(error.diagnostics, sys.stderr)
        return _fail(str(error))
    except RototoError as error:
        return _fail(str(error))
    finally:
        stager.cleanup()
    data = model.to_bytes()
    if args.output == "-":
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
    else:
        try:
            _write_atomically(Path(args.output), data)
        except OSError as error:
            return _fail(f"cannot write {args.output}: {error.strerror or error}")
        print(f"compiled {staged.source} -> {args.output} ({len(data)} bytes, {model.digest})")
    return EXIT_OK


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(text: str) -> Any:
    """JSON as the reference reads it: no NaN/Infinity, no numbers that overflow to inf."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)


def _assignment(text: str) -> dict[str, Any]:
    key, _, raw = text.partition("=")
    segments = key.split(".")
    if not key or any(not segment for segment in segments):
        raise ValueError(f"invalid context assignment {text!r}: expected key.path=value")
    try:
        value: Any = _strict_json(raw)
    except ValueError:
        value = raw
    result: dict[str, Any] = {}
    cursor = result
    for segment in segments[:-1]:
        cursor[segment] = {}
        cursor = cursor[segment]
    cursor[segments[-1]] = value
    return result


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def parse_context(values: list[str]) -> dict[str, Any]:
    """Merge `--context` values left to right (nested objects merge, scalars replace)."""
    context: dict[str, Any] = {}
    for text in values:
        stripped = text.strip()
        if stripped.startswith("@"):
            path = stripped[1:]
            try:
                item = _strict_json(Path(path).read_text(encoding="utf-8"))
            except OSError as error:
                raise ValueError(f"cannot read context file {path}: {error.strerror}") from None
            except ValueError as error:
                raise ValueError(f"context file {path} is not JSON: {error}") from None
        elif stripped.startswith("{"):
            try:
                item = _strict_json(stripped)
            except ValueError as error:
                raise ValueError(f"context {text!r} is not valid JSON: {error}") from None
        elif "=" in stripped:
            item = _assignment(stripped)
        else:
            raise ValueError(
                f"context {text!r} must be a JSON object, @file.json or key.path=value"
            )
        if not isinstance(item, dict):
            raise ValueError(f"context {text!r} must be a JSON object")
        _merge(context, item)
    return context


def run_resolve(args: argparse.Namespace) -> int:
    try:
        context = parse_context(args.context)
    except ValueError as error:
        return _fail(str(error), EXIT_USAGE)

    kind, target = ("variable", args.variable) if args.variable else ("qualifier", args.qualifier)
    validate = not args.no_validate_context

    async def resolve_one(workspace: Workspace, given: dict[str, Any]) -> dict[str, Any]:
        if kind == "variable":
            found = await workspace.resolve_variable(target, given, validate_context=validate)
            return {"id": found.id, "value": found.value, "source": found.source}
        matched = await workspace.resolve_qualifier(target, given, validate_context=validate)
        return {"id": target, "value": matched}

    async def resolve() -> list[tuple[str | None, dict[str, Any]]]:
        workspace = await Workspace.load(args.source)
        if args.context or workspace.compiled is None:
            return [(None, await resolve_one(workspace, context))]
        # No context given: resolve against the compatible stored samples, as rototo does.
        samples = workspace.compiled.samples_for(kind, target)
        if samples:
            return [
                (f"{rid}/{name}", await resolve_one(workspace, sample))
                for rid, name, sample in samples
            ]
        try:
            # A target that reads no context resolves without one.
            return [(None, await resolve_one(workspace, {}))]
        except RototoError:
            raise RototoError(
                f"no --context given and {kind} {target} has no compatible stored request "
                "context sample"
            ) from None

    try:
        results = asyncio.run(resolve())
    except SourceError as error:
        # A source that cannot be staged is a usage error, as for `lint` and `compile`.
        return _fail(str(error), EXIT_USAGE)
    except engine_compiled.LintFailedError as error:
        print_diagnostics(error.diagnostics, sys.stderr)
        return _fail(str(error))
    except RototoError as error:
        return _fail(str(error))
    if args.json:
        # One object for an explicit context; one per sample, in a list, otherwise.
        shown: Any = [
            payload if sample is None else {"sample": sample, **payload}
            for sample, payload in results
        ]
        if len(results) == 1 and results[0][0] is None:
            shown = shown[0]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return EXIT_OK
    for sample, payload in results:
        if sample is not None:
            print(f"# sample {sample}")
        print(json.dumps(payload["value"], indent=2, ensure_ascii=False))
        if "source" in payload:
            print(f"source: {json.dumps(payload['source'], ensure_ascii=False)}", file=sys.stderr)
    return EXIT_OK
