"""Our SDK's public names and signatures are the reference SDK's, so apps can switch."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
from typing import Any

import pytest

import rototo_operator
from tests.support import oracle

pytestmark = pytest.mark.oracle

# Runs in the reference's environment: its Workspace methods' parameters and its
# VariableResolution fields.
DUMP = """
import dataclasses, inspect, json, os, sys
import rototo

def params(function):
    return [[p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
            for p in inspect.signature(function).parameters.values()]

methods = {name: params(getattr(rototo.Workspace, name))
           for name in ("load", "inspect", "lint", "resolve_variable", "resolve_qualifier")}
print(json.dumps({
    "methods": methods,
    "coroutines": sorted(name for name in methods
                         if inspect.iscoroutinefunction(getattr(rototo.Workspace, name))),
    "root_is_property": isinstance(inspect.getattr_static(rototo.Workspace, "root"), property),
    "resolution": [f.name for f in dataclasses.fields(rototo.VariableResolution)],
    "names": sorted(n for n in ("Workspace", "VariableResolution", "RototoError")
                    if hasattr(rototo, n)),
}))
sys.stdout.flush()
os._exit(0)
"""


def _params(function: Any) -> list[list[Any]]:
    return [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
        for p in inspect.signature(function).parameters.values()
    ]


def test_workspace_surface_matches_reference() -> None:
    oracle.require()
    done = subprocess.run(
        [str(oracle.ORACLE_PYTHON), "-c", DUMP],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    theirs = json.loads(done.stdout)
    workspace = rototo_operator.Workspace
    ours = {name: _params(getattr(workspace, name)) for name in theirs["methods"]}
    assert ours == theirs["methods"]
    assert (
        sorted(name for name in ours if inspect.iscoroutinefunction(getattr(workspace, name)))
        == theirs["coroutines"]
    )
    assert (
        isinstance(inspect.getattr_static(workspace, "root"), property)
        is theirs["root_is_property"]
    )
    fields = [f.name for f in dataclasses.fields(rototo_operator.VariableResolution)]
    assert fields == theirs["resolution"]
    for name in theirs["names"]:
        assert hasattr(rototo_operator, name)
