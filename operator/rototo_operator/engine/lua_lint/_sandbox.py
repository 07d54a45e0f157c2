"""One sandboxed Lua VM per custom lint task, and the worker process that hosts them.

Each task (registering a file, or running one handler for one target) gets a fresh
Lua 5.4 state, like the reference, so scripts cannot carry state between invocations.
The state has only the base, table, string, utf8 and math libraries; `os`, `io`,
`package`, `require`, `dofile`, `loadfile`, `load`, `collectgarbage`, `debug`,
`coroutine`, `string.dump` and lupa's `python` module are removed before any script
text runs, `print`/`warn` discard their output, chunks load as text only, and
`setmetatable` refuses `__gc` finalizers and metatables on `_G`.
Workspace data is copied into plain Lua tables; no Python object is ever handed to a
script.

Limits: 16 MiB of Lua memory (lupa's allocator cap), 1,000,000 VM instructions and
2 seconds of wall time, both checked by a count hook every 1,000 instructions. Once a
limit trips, the hook fires on every instruction, so `pcall` cannot swallow it. The
hook cannot interrupt a single long-running C function (a pathological string pattern,
`string.rep("", 1e12)`); that is why the runner executes tasks in a worker process it
can kill on a deadline.

Script code only ever runs inside protected trampolines that return strings: lupa's own
API calls are unprotected, and a Lua error there (an allocation failure under the cap, a
script metamethod) would abort the whole process. The memory cap is armed only while a
trampoline runs.

This file imports only the standard library and lupa: the runner starts it as a script
(`python -I _sandbox.py`), which keeps the worker's start-up cheap and its import
surface small. The line protocol on stdin/stdout is described on `serve`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
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
_SANDBOX_CHUNK = "rototo-sandbox"

# Runs first in every state, before any workspace script, with no memory cap. It keeps
# private references to what it needs, strips everything a script must not reach, and
# returns trampolines: the only way Python runs script code. Each trampoline catches
# errors itself and returns strings, because lupa's own API calls (building result
# proxies, pushing arguments) are unprotected and a Lua error there aborts the process.
_BOOTSTRAP = r"""
local instruction_limit, interval, now, time_limit, hook_cost, script, chunk_name,
  handler_name = ...
local G = _G
local sethook, traceback = debug.sethook, debug.traceback
local rawequal, rawget, raw_type, error, select = rawequal, rawget, type, error, select
local xpcall, pcall, tostring, math_type, raw_load = xpcall, pcall, tostring, math.type, load

local state = { exceeded = false }
local max_hooks = instruction_limit // interval
local hooks, started = 0, nil
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
local function arm()
  if started == nil then
    started = now()
    -- Lua charges the hook's own instructions to the next window; widen the window by
    -- that many so scripts get exactly `interval` instructions per hook, like a native one.
    sethook(hook, "", interval + hook_cost)
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

-- mlua's names for value types, used in the reference's conversion messages.
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
  error("error converting Lua " .. type_name(value) .. " to String (expected string or number)", 0)
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

-- Lua runs __gc finalizers with hooks disabled, so a looping finalizer could never be
-- stopped; refuse them (the VM looks __gc up raw, so a raw check is exact). And keep the
-- global table plain: lupa reads globals outside protected calls, where a script's
-- __index on _G would abort the host process.
local raw_setmetatable = setmetatable
setmetatable = function(value, metatable)
  if rawequal(value, G) then
    error("setting a metatable on _G is not available in custom lint", 2)
  end
  if raw_type(metatable) == "table" and rawget(metatable, "__gc") ~= nil then
    error("__gc metamethods are not available in custom lint", 2)
  end
  return raw_setmetatable(value, metatable)
end

local function discard() end
G.print, G.warn = discard, discard
for _, name in ipairs({ "os", "io", "package", "require", "dofile", "loadfile", "load",
    "collectgarbage", "debug", "coroutine", "python" }) do
  G[name] = nil
end
G.string.dump = nil

local function on_error(problem)
  if raw_type(problem) ~= "string" then
    problem = "(error object is a " .. type_name(problem) .. " value)"
  end
  return traceback(problem, 2)
end
local function global(name)
  return function() return G[name] end
end

local function load_script()
  arm()
  local chunk, problem = raw_load(script, "=" .. chunk_name, "t", G)
  if chunk == nil then return "syntax", problem end
  local ok, failure = xpcall(chunk, on_error)
  if not ok then return "runtime", failure end
  return "ok"
end

local function register_script()
  local ok, register = xpcall(global("register"), on_error)
  if not ok then return "lookup", register end
  if register == nil then return "missing" end
  if raw_type(register) ~= "function" then return "type", type_name(register) end
  local called, failure = xpcall(register, on_error, { rule = rule })
  if not called then return "runtime", failure end
  for index = 1, #registrations do
    local entry = registrations[index]
    local found, handler = xpcall(global(entry.handler), on_error)
    entry.exists = found and raw_type(handler) == "function"
  end
  sethook()
  return "ok"
end

local inputs, results = {}, {}
local function set_inputs(workspace, target)
  inputs.workspace, inputs.target = workspace, target
end

-- Reads what a handler returned with raw access only, so no script code runs here.
local function collect(returned)
  if returned == nil then return "ok" end
  local kind = type_name(returned)
  if kind ~= "table" then
    return "malformed", "custom lint must return a list of diagnostics, got " .. kind
  end
  local index = 1
  while true do
    local entry = rawget(returned, index)
    if entry == nil then return "ok" end
    local entry_kind = type_name(entry)
    if entry_kind ~= "table" then
      return "malformed", "custom lint returned an invalid diagnostic: error converting Lua "
        .. entry_kind .. " to table"
    end
    local message = rawget(entry, "message")
    if message == nil then return "malformed", "custom lint diagnostic must contain message" end
    local ok, text = pcall(as_string, message)
    if not ok then return "malformed", "custom lint message is invalid: " .. text end
    local prefix, path = "custom lint path is invalid: ", rawget(entry, "path")
    if path == nil then prefix, path = "custom lint field is invalid: ", rawget(entry, "field") end
    if path ~= nil then
      ok, path = pcall(as_string, path)
      if not ok then return "malformed", prefix .. path end
    end
    results[#results + 1] = { text, path }
    index = index + 1
  end
end

local function invoke()
  local found, handler = xpcall(global(handler_name), on_error)
  if not found then return "lookup", handler end
  if raw_type(handler) ~= "function" then return "type", type_name(handler) end
  local ok, returned = xpcall(handler, on_error, inputs.workspace, inputs.target)
  if not ok then return "runtime", returned end
  -- The script is done; inspecting its result is the host's work, as in the reference.
  sethook()
  return collect(returned)
end

return state, null, registrations, results, load_script, register_script, set_inputs, invoke
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


def _describe(failure: str) -> str:
    """A Lua error as the reference words it: API errors bare, others as runtime errors."""
    if failure == "not enough memory":
        return "memory error: not enough memory"
    # Frames of the sandbox's own trampolines are noise to a script author.
    lines = [
        line
        for line in failure.splitlines()
        if not line.startswith("\t")
        or (_SANDBOX_CHUNK not in line and "in function 'xpcall'" not in line)
    ]
    text = "\n".join(lines)
    return text if text.startswith(_API_ERRORS) else f"runtime error: {text}"


class _Vm:
    """A fresh, sandboxed Lua state for one workspace script.

    The memory cap is armed only while a trampoline runs script code; while Python builds
    inputs or reads results the state is uncapped, so lupa never meets an allocation
    failure outside a protected call.
    """

    def __init__(self, chunk_name: str, script: str, handler: str | None = None) -> None:
        from lupa import lua54

        self._lua54 = lua54
        self.runtime = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=False,
            max_memory=0,
        )
        boot = self.runtime.execute(
            _BOOTSTRAP,
            INSTRUCTION_LIMIT,
            HOOK_INTERVAL,
            time.monotonic,
            TIME_LIMIT_SECONDS,
            _HOOK_COST,
            script,
            chunk_name,
            handler,
            name=f"={_SANDBOX_CHUNK}",
            mode="t",
        )
        self.state, self.null, self.registrations, self.results = boot[:4]
        self._load_script, self._register_script, self._set_inputs, self._invoke = boot[4:]
        status, detail = self._run(self._load_script)
        if status == "syntax":
            raise TaskFailure(f"failed to execute custom lint: syntax error: {detail}")
        if status == "limit":
            raise TaskFailure(f"failed to execute custom lint: {LIMIT_MESSAGE}")
        if status != "ok":
            raise TaskFailure(f"failed to execute custom lint: {_describe(detail)}")

    def _run(self, trampoline: Any) -> tuple[str, str]:
        """Call a trampoline with the memory cap armed; (status, detail) back."""
        lua54 = self._lua54
        self.runtime.set_max_memory(MEMORY_LIMIT_BYTES, total=True)
        try:
            answer = trampoline()
        except lua54.LuaMemoryError:
            answer = ("runtime", "not enough memory")
        except lua54.LuaError as error:
            answer = ("runtime", str(error) or "(error object is not a string)")
        except UnicodeDecodeError:
            answer = ("runtime", "(error message is not valid UTF-8)")
        finally:
            self.runtime.set_max_memory(0)
        if bool(self.state["exceeded"]):
            return "limit", LIMIT_MESSAGE
        if not isinstance(answer, tuple):
            answer = (answer,)
        status = str(answer[0])
        detail = answer[1] if len(answer) > 1 else None
        return status, "" if detail is None else str(detail)

    def register(self) -> list[RawRegistration]:
        status, detail = self._run(self._register_script)
        if status == "lookup":
            raise TaskFailure(f"custom lint has invalid register function: {_describe(detail)}")
        if status == "missing":
            raise TaskFailure("custom lint must define register(lint)")
        if status == "type":
            raise TaskFailure(
                "custom lint has invalid register function: "
                f"error converting Lua {detail} to function"
            )
        if status == "limit":
            raise TaskFailure(f"custom lint registration failed: {LIMIT_MESSAGE}")
        if status != "ok":
            raise TaskFailure(f"custom lint registration failed: {_describe(detail)}")
        collected: list[RawRegistration] = []
        for index in range(1, len(self.registrations) + 1):
            entry = self.registrations[index]
            severity = entry["severity"]
            collected.append(
                RawRegistration(
                    target=str(entry["target"]),
                    id=str(entry["id"]),
                    title=str(entry["title"]),
                    help=str(entry["help"]),
                    severity=None if severity is None else str(severity),
                    handler=str(entry["handler"]),
                    handler_exists=bool(entry["exists"]),
                )
            )
        return collected

    def handle(self, workspace: Any, target: Any) -> list[HandlerOutput]:
        # Copied uncapped, then measured: the reference counts the copy against the cap.
        self._set_inputs(self._to_lua(workspace), self._to_lua(target))
        if self.runtime.get_memory_used(total=True) > MEMORY_LIMIT_BYTES:
            raise TaskFailure("failed to prepare Lua workspace: not enough memory")
        status, detail = self._run(self._invoke)
        if status == "lookup":
            raise TaskFailure(f"custom lint handler is invalid: {_describe(detail)}")
        if status == "type":
            raise TaskFailure(
                f"custom lint handler is invalid: error converting Lua {detail} to function"
            )
        if status == "limit":
            raise TaskFailure(f"custom lint failed: {LIMIT_MESSAGE}")
        if status == "runtime":
            raise TaskFailure(f"custom lint failed: {_describe(detail)}")
        if status == "malformed":
            raise TaskFailure(detail)
        outputs: list[HandlerOutput] = []
        try:
            for index in range(1, len(self.results) + 1):
                message, path = self.results[index][1], self.results[index][2]
                outputs.append(HandlerOutput(str(message), None if path is None else str(path)))
        except UnicodeDecodeError:
            raise TaskFailure(
                "custom lint message is invalid: invalid utf-8 in a returned string"
            ) from None
        return outputs

    def _to_lua(self, value: Any) -> Any:
        """Copy JSON-like data into Lua tables; null becomes the emulated light userdata."""
        prepared = _prepare(value, self.null)
        if isinstance(prepared, dict | list):
            return self.runtime.table_from(prepared, recursive=True)
        return prepared


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
    return _Vm(chunk_name, script).register()


def run_handler(
    chunk_name: str, script: str, handler: str, workspace: Any, target: Any
) -> list[HandlerOutput]:
    """Load a lint file and call one handler for one target; raises TaskFailure."""
    return _Vm(chunk_name, script, handler).handle(workspace, target)


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
