"""Our refresh API has the reference Python SDK's names, fields and parameters.

The reference package (`rototo==0.1.0a5` in `.venv-oracle`) is read as source text and
parsed, never imported: its Python face is a thin layer whose signatures are what an
application codes against. Our methods may add keyword-only options (e.g.
`failure_backoff`), but every reference parameter must exist with the same kind and default.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

import rototo_operator
from rototo_operator.sdk.refresh import RefreshingWorkspace
from rototo_operator.sdk.status import RefreshStatus
from tests.support import oracle


def reference_module() -> ast.Module:
    oracle.require()
    found = sorted(
        oracle.ORACLE_PYTHON.parent.parent.glob("lib/python3*/site-packages/rototo/__init__.py")
    )
    if not found:
        pytest.skip(f"the reference package's sources are not under {oracle.ORACLE_PYTHON}")
    return ast.parse(Path(found[0]).read_text())


def reference_class(name: str) -> ast.ClassDef:
    for node in reference_module().body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"reference SDK has no class {name}")


def reference_parameters(function: ast.AsyncFunctionDef | ast.FunctionDef) -> dict[str, Any]:
    """name -> (kind, default) for every parameter but self/cls."""
    arguments = function.args
    result: dict[str, Any] = {}
    positional = arguments.posonlyargs + arguments.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += list(arguments.defaults)
    for argument, default in zip(positional, defaults, strict=True):
        result[argument.arg] = ("positional", _literal(default))
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        result[argument.arg] = ("keyword", _literal(default))
    result.pop("self", None)
    result.pop("cls", None)
    return result


def _literal(node: ast.expr | None) -> Any:
    return inspect.Parameter.empty if node is None else ast.literal_eval(node)


def our_parameters(function: Any) -> dict[str, Any]:
    result = {}
    for name, parameter in inspect.signature(function).parameters.items():
        kind = "keyword" if parameter.kind is inspect.Parameter.KEYWORD_ONLY else "positional"
        result[name] = (kind, parameter.default)
    return result


def test_refresh_status_fields_match_the_reference_in_order() -> None:
    reference = [
        node.target.id
        for node in reference_class("RefreshStatus").body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    ]
    assert [field.name for field in dataclasses.fields(RefreshStatus)] == reference


def test_refreshing_workspace_methods_accept_the_reference_parameters() -> None:
    methods = [
        node
        for node in reference_class("RefreshingWorkspace").body
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
        and not node.name.startswith("_")
    ]
    assert {method.name for method in methods} >= {
        "load",
        "resolve_variable",
        "resolve_qualifier",
        "refresh_now",
        "status",
        "shutdown",
    }
    for method in methods:
        ours = getattr(RefreshingWorkspace, method.name, None)
        assert ours is not None, f"RefreshingWorkspace.{method.name} is missing"
        assert inspect.iscoroutinefunction(ours) == isinstance(method, ast.AsyncFunctionDef)
        mine = our_parameters(ours)
        for name, expected in reference_parameters(method).items():
            assert mine.get(name) == expected, f"{method.name}({name}): {mine.get(name)}"


def test_the_public_names_include_the_reference_types() -> None:
    exported = {
        node.value
        for statement in reference_module().body
        if isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in statement.targets)
        for node in ast.walk(statement.value)
        if isinstance(node, ast.Constant)
    }
    wanted = {"RefreshingWorkspace", "RefreshStatus", "RototoError"} & exported
    assert wanted == {"RefreshingWorkspace", "RefreshStatus", "RototoError"}
    assert wanted <= set(rototo_operator.__all__)
