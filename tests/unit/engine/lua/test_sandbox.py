"""The Lua sandbox: escapes are denied, limits stop runaway scripts with a clear diagnostic.

Each script registers one rule on `/variables/limit` of the support workspace and reports
what it could reach; the tests run both in the worker process (the default) and inline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rototo_operator.engine import diagnostics
from rototo_operator.engine.lua_lint import Isolation, _executor, _sandbox, run_custom_lint
from tests.unit.engine.lua import support

pytestmark = pytest.mark.timeout(60)

ISOLATIONS: list[Isolation] = ["process", "inline"]

REGISTER = """
function register(lint)
  lint:rule({ id = "sandbox/probe", title = "Probe", help = "Probe the sandbox.",
              target = "/variables/limit", handler = "probe" })
end
"""


def run_probe(tmp_path: Path, body: str, isolation: Isolation) -> list[diagnostics.Diagnostic]:
    root = support.write_workspace(tmp_path, {"probe.lua": REGISTER + body})
    return run_custom_lint(root, support.project(root), isolation=isolation)


def messages(found: list[diagnostics.Diagnostic]) -> list[str]:
    return [item.message for item in found]


def single_failure(found: list[diagnostics.Diagnostic]) -> str:
    assert [item.rule for item in found] == ["rototo/custom-lint-failed"], messages(found)
    failure = found[0]
    assert failure.stage == "policy"
    assert failure.location.path == "variables/limit.toml"
    assert failure.target == {"entity": {"kind": "variable", "id": "limit"}}
    assert failure.message.startswith("custom lint handler failed in lint/probe.lua: ")
    assert failure.message.endswith("handler: probe (rule sandbox/probe)")
    return failure.message


DENIED_GLOBALS = [
    "io",
    "os",
    "require",
    "package",
    "debug",
    "dofile",
    "loadfile",
    "load",
    "collectgarbage",
    "coroutine",
    "python",
    "loadstring",
    "module",
]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_dangerous_globals_are_absent(tmp_path: Path, isolation: Isolation) -> None:
    names = ", ".join(f'"{name}"' for name in DENIED_GLOBALS)
    body = f"""
function probe(ws, v)
  local reachable = {{}}
  for _, name in ipairs({{ {names} }}) do
    if rawget(_G, name) ~= nil or _G[name] ~= nil then reachable[#reachable + 1] = name end
  end
  if string.dump ~= nil or getmetatable("").__index.dump ~= nil then
    reachable[#reachable + 1] = "string.dump"
  end
  return {{ {{ message = "reachable:" .. table.concat(reachable, ",") }} }}
end
"""
    found = run_probe(tmp_path, body, isolation)
    assert messages(found) == ["reachable:"]


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ('io.open("/etc/passwd")', "attempt to index a nil value (global 'io')"),
        ('os.execute("true")', "attempt to index a nil value (global 'os')"),
        ('require("os")', "attempt to call a nil value (global 'require')"),
        ('load("return 1")', "attempt to call a nil value (global 'load')"),
        ("string.dump(probe)", "attempt to call a nil value (field 'dump')"),
        ("python.eval('1')", "attempt to index a nil value (global 'python')"),
        ("debug.getregistry()", "attempt to index a nil value (global 'debug')"),
        ("collectgarbage('count')", "attempt to call a nil value (global 'collectgarbage')"),
        ("coroutine.wrap(probe)", "attempt to index a nil value (global 'coroutine')"),
    ],
)
def test_escape_attempts_fail_as_script_errors(tmp_path: Path, expression: str, error: str) -> None:
    body = f"function probe(ws, v) return {{ {{ message = tostring({expression}) }} }} end\n"
    message = single_failure(run_probe(tmp_path, body, "process"))
    assert error in message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_workspace_data_is_plain_lua_tables(tmp_path: Path, isolation: Isolation) -> None:
    body = """
function probe(ws, v)
  local seen = {}
  local function walk(value)
    local kind = type(value)
    seen[kind] = true
    if kind == "table" then
      assert(getmetatable(value) == nil, "table with a metatable")
      for _, child in pairs(value) do walk(child) end
    end
  end
  walk(ws)
  walk(v)
  local kinds = {}
  for kind in pairs(seen) do kinds[#kinds + 1] = kind end
  table.sort(kinds)
  -- JSON null is the only non-plain value: a not-nil "userdata" that cannot be indexed.
  local null = v.description
  local indexable = pcall(function() return null.x end)
  return { { message = table.concat(kinds, ",") .. " " .. tostring(getmetatable(null))
    .. " " .. tostring(indexable) } }
end
"""
    found = run_probe(tmp_path, body, isolation)
    assert messages(found) == ["number,string,table,userdata false false"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_each_invocation_gets_a_fresh_state(tmp_path: Path, isolation: Isolation) -> None:
    script = """
function register(lint)
  lint:rule({ id = "sandbox/state", title = "State", help = "State.",
              target = "/variables", handler = "probe" })
end
calls = 0
function probe(ws, v)
  calls = calls + 1
  local upper = string.upper
  string.upper = nil
  ws.variables.limit = nil
  return { { message = v.id .. " calls=" .. calls .. " upper=" .. tostring(upper ~= nil) } }
end
"""
    root = support.write_workspace(tmp_path, {"state.lua": script})
    found = run_custom_lint(root, support.project(root), isolation=isolation)
    assert messages(found) == ["checkout calls=1 upper=true", "limit calls=1 upper=true"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_infinite_loop_stops_at_the_instruction_cap(tmp_path: Path, isolation: Isolation) -> None:
    message = single_failure(
        run_probe(tmp_path, "function probe(ws, v) while true do end end\n", isolation)
    )
    assert "custom lint exceeded Lua execution limits" in message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_pcall_cannot_swallow_the_instruction_cap(tmp_path: Path, isolation: Isolation) -> None:
    body = """
function probe(ws, v)
  while true do pcall(function() while true do end end) end
end
"""
    message = single_failure(run_probe(tmp_path, body, isolation))
    assert "custom lint exceeded Lua execution limits" in message


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_bounded_work_under_the_cap_succeeds(tmp_path: Path, isolation: Isolation) -> None:
    body = """
function probe(ws, v)
  local total = 0
  for i = 1, 100000 do total = total + i end
  return { { message = tostring(total) } }
end
"""
    assert messages(run_probe(tmp_path, body, isolation)) == ["5000050000"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize(
    "allocation",
    [
        'local s = string.rep("x", 1e9)',
        'local t = {} for i = 1, 1000 do t[i] = string.rep("y", 100000) .. i end',
    ],
)
def test_huge_allocation_hits_the_memory_cap(
    tmp_path: Path, isolation: Isolation, allocation: str
) -> None:
    body = f"function probe(ws, v) {allocation} return {{}} end\n"
    message = single_failure(run_probe(tmp_path, body, isolation))
    assert "memory error: not enough memory" in message


def test_loop_while_loading_is_a_registration_failure(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path, {"spin.lua": "while true do end\n"})
    found = run_custom_lint(root, support.project(root))
    assert [(item.rule, item.stage, item.location.path) for item in found] == [
        ("rototo/custom-lint-failed", "register", "lint/spin.lua")
    ]
    assert found[0].message == (
        "failed to execute custom lint: custom lint exceeded Lua execution limits"
    )


def test_print_output_is_discarded(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    body = 'function probe(ws, v) print("leak") warn("@on") warn("leak") return {} end\n'
    assert run_probe(tmp_path, body, "inline") == []
    captured = capfd.readouterr()
    assert "leak" not in captured.out + captured.err


@pytest.mark.parametrize(
    "stall",
    [
        # A backtracking pattern and a C-level loop never return to the instruction hook.
        'string.find(string.rep("a", 50000), ".-.-.-.-.-.-.-b")',
        "table.move({}, 1, 1e15, 2)",
    ],
)
def test_stuck_c_call_is_killed_and_the_next_task_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stall: str
) -> None:
    monkeypatch.setattr(_executor, "TASK_DEADLINE_SECONDS", 1.0)
    script = f"""
function register(lint)
  lint:rule({{ id = "sandbox/stall", title = "Stall", help = "Stall.",
               target = "/variables", handler = "probe" }})
end
function probe(ws, v)
  if v.id == "checkout" then {stall} end
  return {{ {{ message = "ran for " .. v.id }} }}
end
"""
    root = support.write_workspace(tmp_path, {"stall.lua": script})
    found = run_custom_lint(root, support.project(root))
    assert [(item.rule, item.location.path) for item in found] == [
        ("rototo/custom-lint-failed", "variables/checkout.toml"),
        ("sandbox/stall", "variables/limit.toml"),
    ]
    assert found[0].message.startswith(
        "custom lint handler failed in lint/stall.lua: custom lint exceeded execution timeout"
    )
    assert found[1].message == "ran for limit"


def _count_loop(iterations: int) -> None:
    script = f"function check(ws, v) for i = 1, {iterations} do end return {{}} end"
    _sandbox.run_handler("lint/count.lua", script, "check", {}, {})


def test_instruction_budget_is_exact() -> None:
    """The Lua hook's own instructions are not charged to the script: the budget is the
    reference's 1,000,000 (tripping at the hook after 1,001,000), give or take a few
    dozen instructions of call overhead. A miscounted hook shifts the edge by ~1,000
    per unit of hook cost."""
    _count_loop(1_000_900)
    with pytest.raises(_sandbox.TaskFailure) as failure:
        _count_loop(1_001_100)
    assert failure.value.message == "custom lint failed: custom lint exceeded Lua execution limits"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A finalizer runs with hooks disabled, so it could loop forever: refused.
        (
            "function probe(ws, v) setmetatable({}, { __gc = function() while true do end end })"
            " end",
            "__gc metamethods are not available in custom lint",
        ),
        # lupa reads globals outside protected calls: _G must stay a plain table.
        (
            "function probe(ws, v) setmetatable(_G, { __index = function() end }) end",
            "setting a metatable on _G is not available in custom lint",
        ),
        ("function probe(ws, v) error({}) end", "(error object is a table value)"),
        (
            "function probe(ws, v) error(setmetatable({}, { __tostring = function()"
            " while true do end end })) end",
            "(error object is a table value)",
        ),
    ],
)
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_hostile_metatables_fail_cleanly(
    tmp_path: Path, isolation: Isolation, body: str, expected: str
) -> None:
    assert expected in single_failure(run_probe(tmp_path, body + "\n", isolation))


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_returned_diagnostics_are_read_without_running_script_code(
    tmp_path: Path, isolation: Isolation
) -> None:
    body = """
function probe(ws, v)
  local trap = setmetatable({}, { __index = function() while true do end end })
  local entry = setmetatable({ message = "plain" }, { __index = function() while true do end end })
  return setmetatable({ entry }, { __index = trap, __len = function() while true do end end })
end
"""
    assert messages(run_probe(tmp_path, body, isolation)) == ["plain"]


def test_workspace_larger_than_the_memory_cap_is_reported(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path, {"probe.lua": REGISTER + "function probe() end\n"})
    view = support.project(root)
    view["workspace"]["variables"]["limit"]["toml"]["padding"] = ["x" * 1024] * 20_000
    found = run_custom_lint(root, view, isolation="inline")
    assert "failed to prepare Lua workspace: not enough memory" in single_failure(found)


def test_worker_that_dies_is_reported_and_replaced() -> None:
    scripts = {"lint/ok.lua": "function check(ws, t) return { { message = 'alive' } } end"}
    executor = _executor.ProcessExecutor({"variables": {}}, scripts)
    try:
        # An op the worker does not know makes it exit, standing in for any crash.
        with pytest.raises(_sandbox.TaskFailure) as failure:
            executor.run({"op": "crash", "path": "lint/ok.lua"}, label="custom lint")
        assert failure.value.message == "custom lint task failed: the Lua worker exited"
        job = {"op": "handle", "path": "lint/ok.lua", "handler": "check", "target": []}
        assert executor.run(job, label="custom lint") == [{"message": "alive", "path": None}]
    finally:
        executor.close()


def test_workspace_without_lint_files_runs_nothing(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path, {})
    assert run_custom_lint(root, support.project(root)) == []
