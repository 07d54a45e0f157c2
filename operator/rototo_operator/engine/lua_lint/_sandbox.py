"""One sandboxed Lua VM per custom lint task, and the worker process that hosts them.

Each task (registering a file, or running one handler for one target) gets a fresh
Lua 5.4 state, like the reference, so scripts cannot carry state between invocations.
The state has only the base, table, string, utf8 and math libraries; `os`, `io`,
`package`, `require`, `dofile`, `loadfile`, `load`, `collectgarbage`, `debug`,
`coroutine`, `string.dump` and lupa's `python` module are removed before any script
text runs, `print`/`warn` discard their output, and chunks load as text only.
Workspace data is copied into plain Lua tables; no Python object is ever handed to a
script.

Limits: 16 MiB of Lua memory (lupa's allocator cap), 1,000,000 VM instructions and
2 seconds of wall time, both checked by a count hook every 1,000 instructions. Once a
limit trips, the hook fires on every instruction, so `pcall` cannot swallow it. The
hook cannot interrupt a single long-running C function (a pathological string pattern,
`string.rep("", 1e12)`); that is why the runner executes tasks in a worker process it
can kill on a deadline.

This file imports only the standard library and lupa: the runner starts it as a script
(`python -I _sandbox.py`), which keeps the worker's start-up cheap and its import
surface small. The line protocol on stdin/stdout is described on `serve`.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MEMORY_LIMIT_BYTES = 16 * 1024 * 1024
INSTRUCTION_LIMIT = 1_000_000
HOOK_INTERVAL = 1_000
TIME_LIMIT_SECONDS = 2.0

# VM instructions the limit hook itself executes when it does not trip (measured; a unit
# test pins it, since Lua charges them to the script's next window).
_HOOK_COST = 13

LIMIT_MESSAGE = "custom lint exceeded Lua execution limits"

# Runs first in every state, before any workspace script. It keeps private references to
# what it needs, installs the limit hook, then strips everything a script must not reach.
_BOOTSTRAP = r"""
local instruction_limit, interval, now, time_limit, hook_cost = ...
local sethook, rawequal, raw_type, error, select = debug.sethook, rawequal, type, error, select
local tostring, math_type = tostring, math.type

local state = { exceeded = false }
local max_hooks = instruction_limit // interval
local hooks, started = 0, now()
local function tripped()
  error("custom lint exceeded Lua execution limits", 0)
end
local function hook()
  hooks = hooks + 1
  if hooks > max_hooks or now() - started > time_limit then
    state.exceeded = true
    -- From now on every instruction fails, so a pcall loop cannot keep running.
    sethook(tripped, "", 1)
    tripped()
  end
end

-- JSON null: the reference hands scripts a light userdata; emulate one that is not nil,
-- is truthy, reports type "userdata" and cannot be indexed.
local function refuse(action)
  return function() error("attempt to " .. action .. " a userdata value", 2) end
end
local null = setmetatable({}, {
  __index = refuse("index"),
  __newindex = refuse("index"),
  __len = refuse("get length of"),
  __call = refuse("call"),
  __concat = refuse("concatenate"),
  __pairs = function()
    error("bad argument #1 to 'for iterator' (table expected, got light userdata)", 2)
  end,
  __tostring = function() return "userdata: (nil)" end,
  __metatable = false,
})
type = function(value)
  if rawequal(value, null) then return "userdata" end
  return raw_type(value)
end

local function type_name(value)
  if rawequal(value, null) then return "lightuserdata" end
  local name = raw_type(value)
  if name == "number" then
    return math_type(value) == "integer" and "integer" or "number"
  end
  return name
end

-- mlua's String conversion: strings as they are, numbers formatted by Lua, else an error.
local function as_string(value)
  local name = raw_type(value)
  if name == "string" then return value end
  if name == "number" then return tostring(value) end
  error("error converting Lua " .. type_name(value)
    .. " to String (expected string or number)", 0)
end

local registrations = {}
local function required(spec, key)
  local value = spec[key]
  if value ~= nil then value = as_string(value) end
  if value == nil or value == "" then error("registration must contain " .. key, 0) end
  return value
end
local function rule(...)
  local count = select("#", ...)
  local spec
  if count == 1 then spec = (...) elseif count == 2 then spec = (select(2, ...)) end
  if raw_type(spec) ~= "table" or rawequal(spec, null) then
    error("lint:rule expects a single registration table", 0)
  end
  local target = spec.target
  if target == nil then target = "/" else target = as_string(target) end
  local entry = { target = target }
  entry.id = required(spec, "id")
  entry.title = required(spec, "title")
  entry.help = required(spec, "help")
  local severity = spec.severity
  if severity ~= nil then entry.severity = as_string(severity) end
  entry.handler = required(spec, "handler")
  registrations[#registrations + 1] = entry
end

local function discard() end
print, warn = discard, discard
os, io, package, require, dofile, loadfile, load = nil, nil, nil, nil, nil, nil, nil
collectgarbage, debug, coroutine, python = nil, nil, nil, nil
string.dump = nil

-- Lua counts the hook's own instructions against the next window; widen the window by
-- that many so scripts get exactly `interval` instructions per hook, like a native hook.
sethook(hook, "", interval + hook_cost)
return state, null, { rule = rule }, registrations
"""


_API_ERRORS = ("lint:rule expects", "registration must contain", "error converting Lua")


class TaskFailure(Exception):
    """A script failed to load, errored, broke a limit or returned a malformed result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RawRegistration:
    """One `lint:rule{...}` call as the script made it, before validation."""

    target: str
    id: str
    title: str
    help: str
    severity: str | None
    handler: str
    handler_exists: bool


@dataclass(frozen=True)
class HandlerOutput:
    message: str
    path: str | None


class _Vm:
    """A fresh, sandboxed Lua state with one workspace script loaded."""

    def __init__(self, chunk_name: str, script: str, *, load_prefix: str) -> None:
        from lupa import lua54

        self._lua54 = lua54
        self.runtime = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=False,
            max_memory=MEMORY_LIMIT_BYTES,
        )
        boot = self.runtime.execute(
            _BOOTSTRAP,
            INSTRUCTION_LIMIT,
            HOOK_INTERVAL,
            time.monotonic,
            TIME_LIMIT_SECONDS,
            _HOOK_COST,
            name="=rototo-sandbox",
            mode="t",
        )
        self.state, self.null, self.lint_api, self.registrations = (
            boot[0],
            boot[1],
            boot[2],
            boot[3],
        )
        # C functions: calling them from Python runs no VM instructions, so result
        # inspection never trips the instruction hook on the script's behalf.
        self.rawequal = self.runtime.eval("rawequal")
        self.rawget = self.runtime.eval("rawget")
        self.tostring = self.runtime.eval("tostring")
        self._guard(
            load_prefix,
            lambda: self.runtime.execute(script, name=f"={chunk_name}", mode="t"),
        )

    def type_name(self, value: Any) -> str:
        """The reference's (mlua's) name for a Lua value's type."""
        if value is None:
            return "nil"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, str | bytes):
            return "string"
        if self.rawequal(value, self.null):
            return "lightuserdata"
        return str(self._lua54.lua_type(value))

    def exceeded(self) -> bool:
        return bool(self.state["exceeded"])

    def _guard(self, prefix: str, action: Callable[[], Any]) -> Any:
        """Run Lua and turn every way it can fail into a TaskFailure with the reference's words."""
        lua54 = self._lua54
        try:
            result = action()
        except lua54.LuaSyntaxError as error:
            text = str(error).removeprefix("error loading code: ")
            raise TaskFailure(f"{prefix}syntax error: {text}") from None
        except lua54.LuaMemoryError:
            if self.exceeded():
                raise TaskFailure(f"{prefix}{LIMIT_MESSAGE}") from None
            raise TaskFailure(f"{prefix}memory error: not enough memory") from None
        except lua54.LuaError as error:
            if self.exceeded():
                raise TaskFailure(f"{prefix}{LIMIT_MESSAGE}") from None
            text = str(error)
            # Errors raised by the lint API itself read like the reference's host errors.
            kind = "" if text.startswith(_API_ERRORS) else "runtime error: "
            raise TaskFailure(f"{prefix}{kind}{text}") from None
        except UnicodeDecodeError:
            raise TaskFailure(f"{prefix}runtime error: value is not valid UTF-8") from None
        if self.exceeded():
            raise TaskFailure(f"{prefix}{LIMIT_MESSAGE}")
        return result

    def to_lua(self, value: Any) -> Any:
        """Copy JSON-like data into Lua tables; null becomes the emulated light userdata."""
        prepared = _prepare(value, self.null)
        if isinstance(prepared, dict | list):
            return self.runtime.table_from(prepared, recursive=True)
        return prepared

    def register(self) -> list[RawRegistration]:
        globals_ = self.runtime.globals()
        register = self._guard(
            "custom lint has invalid register function: ", lambda: globals_.register
        )
        if register is None:
            raise TaskFailure("custom lint must define register(lint)")
        if self.type_name(register) != "function":
            name = self.type_name(register)
            raise TaskFailure(
                "custom lint has invalid register function: "
                f"error converting Lua {name} to function"
            )
        self._guard("custom lint registration failed: ", lambda: register(self.lint_api))
        collected: list[RawRegistration] = []
        for index in range(1, len(self.registrations) + 1):
            entry = self.registrations[index]
            handler = str(entry["handler"])
            found = self._guard("", functools.partial(globals_.__getitem__, handler))
            collected.append(
                RawRegistration(
                    target=str(entry["target"]),
                    id=str(entry["id"]),
                    title=str(entry["title"]),
                    help=str(entry["help"]),
                    severity=None if entry["severity"] is None else str(entry["severity"]),
                    handler=handler,
                    handler_exists=found is not None and self.type_name(found) == "function",
                )
            )
        return collected

    def handle(self, handler: str, workspace: Any, target: Any) -> list[HandlerOutput]:
        globals_ = self.runtime.globals()
        function = self._guard("custom lint handler is invalid: ", lambda: globals_[handler])
        if function is None or self.type_name(function) != "function":
            name = "nil" if function is None else self.type_name(function)
            raise TaskFailure(
                f"custom lint handler is invalid: error converting Lua {name} to function"
            )
        try:
            lua_workspace = self.to_lua(workspace)
        except self._lua54.LuaMemoryError:
            raise TaskFailure("failed to prepare Lua workspace: not enough memory") from None
        try:
            lua_target = self.to_lua(target)
        except self._lua54.LuaMemoryError:
            raise TaskFailure("failed to prepare Lua context: not enough memory") from None
        returned = self._guard("custom lint failed: ", lambda: function(lua_workspace, lua_target))
        return self._outputs(returned)

    def _outputs(self, returned: Any) -> list[HandlerOutput]:
        if returned is None:
            return []
        kind = self.type_name(returned)
        if kind != "table":
            raise TaskFailure(f"custom lint must return a list of diagnostics, got {kind}")
        outputs: list[HandlerOutput] = []
        index = 1
        while True:
            entry = self._guard("", functools.partial(self.rawget, returned, index))
            if entry is None:
                return outputs
            entry_kind = self.type_name(entry)
            if entry_kind != "table":
                raise TaskFailure(
                    "custom lint returned an invalid diagnostic: "
                    f"error converting Lua {entry_kind} to table"
                )
            message = self._field(entry, "message", "custom lint message is invalid: ")
            if message is None:
                raise TaskFailure("custom lint diagnostic must contain message")
            path = self._field(entry, "path", "custom lint path is invalid: ")
            if path is None:
                path = self._field(entry, "field", "custom lint field is invalid: ")
            outputs.append(HandlerOutput(message=message, path=path))
            index += 1

    def _field(self, entry: Any, key: str, prefix: str) -> str | None:
        # Plain indexing honours __index like the reference's table.get; the hook still counts.
        value = self._guard(prefix, lambda: entry[key])
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            # Lua's own number formatting ("1.0", "1e+15"), as the reference coerces.
            return str(self.tostring(value))
        raise TaskFailure(
            f"{prefix}error converting Lua {self.type_name(value)} to String"
            " (expected string or number)"
        )


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _prepare(value: Any, null: Any) -> Any:
    """JSON values as lupa should copy them: None to the null sentinel, huge ints to floats."""
    if value is None:
        return null
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    if isinstance(value, Mapping):
        return {str(key): _prepare(item, null) for key, item in value.items()}
    if isinstance(value, Sequence):
        # An empty list must still become a table; lupa would turn [] into an empty table too.
        return [_prepare(item, null) for item in value]
    raise TypeError(f"workspace view holds a non-JSON value of type {type(value).__name__}")


def register_script(chunk_name: str, script: str) -> list[RawRegistration]:
    """Load a lint file and run its `register(lint)`; raises TaskFailure."""
    vm = _Vm(chunk_name, script, load_prefix="failed to execute custom lint: ")
    return vm.register()


def run_handler(
    chunk_name: str, script: str, handler: str, workspace: Any, target: Any
) -> list[HandlerOutput]:
    """Load a lint file and call one handler for one target; raises TaskFailure."""
    vm = _Vm(chunk_name, script, load_prefix="failed to execute custom lint: ")
    return vm.handle(handler, workspace, target)


def resolve_target(workspace: Mapping[str, Any], pointer: Sequence[Any]) -> Any:
    """The target data a handler receives, addressed by a path into the workspace.

    An empty path is the workspace target, which the reference builds from the manifest
    rather than handing over the whole workspace map.
    """
    if not pointer:
        manifest = workspace.get("manifest")
        extends = manifest.get("extends", []) if isinstance(manifest, Mapping) else []
        return {
            "kind": "workspace",
            "root": workspace.get("root"),
            "manifest": manifest,
            "extends": extends,
        }
    node: Any = workspace
    for step in pointer:
        node = node[step]
    return node


def execute(job: Mapping[str, Any], scripts: Mapping[str, str], workspace: Any) -> Any:
    """Run one protocol job and return its JSON-able result."""
    op = job["op"]
    path = job["path"]
    if op == "register":
        return [asdict(item) for item in register_script(path, scripts[path])]
    if op == "handle":
        target = resolve_target(workspace, job["target"])
        outputs = run_handler(path, scripts[path], job["handler"], workspace, target)
        return [asdict(item) for item in outputs]
    raise ValueError(f"unknown job {op!r}")


def serve(stdin: Any, stdout: Any) -> None:
    """Worker loop: one JSON request per line in, one JSON answer per line out.

    Requests: {"op": "workspace", "workspace": {...}} and {"op": "script", "path": ...,
    "text": ...} set state and get no answer; {"op": "register", "path": ...} and
    {"op": "handle", "path": ..., "handler": ..., "target": [...]} each get
    {"ok": result} or {"error": message}. The first line written is {"ready": true}.
    """
    scripts: dict[str, str] = {}
    workspace: Any = {}
    stdout.write('{"ready": true}\n')
    stdout.flush()
    for line in stdin:
        job = json.loads(line)
        op = job["op"]
        if op == "workspace":
            workspace = job["workspace"]
            continue
        if op == "script":
            scripts[job["path"]] = job["text"]
            continue
        try:
            answer: dict[str, Any] = {"ok": execute(job, scripts, workspace)}
        except TaskFailure as failure:
            answer = {"error": failure.message}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
