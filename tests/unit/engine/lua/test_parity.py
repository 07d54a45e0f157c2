"""Differential tests: our custom Lua lint against the reference engine rototo==0.1.0a5.

The same `lint/*.lua` files run in a temporary workspace through both engines; the
custom lint diagnostics must agree on rule, severity, stage, file and semantic target, and
handler-authored messages must agree exactly. Ranges come from the engine's spans (not
built by these tests), and runtime error texts carry VM-specific tracebacks, so for
`rototo/custom-lint-*` failures only the first line of the message is compared.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.engine.lua_lint import run_custom_lint
from tests.unit.engine.lua import support

pytestmark = [pytest.mark.oracle, pytest.mark.timeout(120)]


def rule(rule_id: str, handler: str, target: str | None = None, **extra: str) -> str:
    fields = {"id": rule_id, "title": "Title", "help": f"Help for {rule_id}", "handler": handler}
    if target is not None:
        fields["target"] = target
    fields.update(extra)
    body = ", ".join(f"{key} = {_lua_string(value)}" for key, value in fields.items())
    return f"lint:rule({{{body}}})"


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lint_file(registrations: list[str], handlers: str) -> str:
    lines = "\n".join(f"  {item}" for item in registrations)
    return f"function register(lint)\n{lines}\nend\n\n{handlers}\n"


def report(message: str, path: str | None = None) -> str:
    """A handler returning one diagnostic."""
    field = "" if path is None else f", path = {_lua_string(path)}"
    return f"return {{ {{ message = {_lua_string(message)}{field} }} }}"


POINTERS = lint_file(
    [
        rule("targets/extends", "workspace_extends", "/"),
        rule("targets/workspace-default", "workspace_default", "/"),
        rule("targets/workspace-qualifier", "workspace_qualifier", "/"),
        rule("targets/workspace-missing", "workspace_missing", "/"),
        rule("targets/workspace-catalog", "workspace_catalog", "/"),
        rule("targets/qualifier-when", "qualifier_when", "/qualifiers/premium-users"),
        rule("targets/qualifier-other", "qualifier_other", "/qualifiers"),
        rule("targets/variable-type", "variable_type", "/variables/checkout"),
        rule("targets/variable-default", "variable_default", "/variables"),
        rule("targets/variable-rule", "variable_rule", "/variables/checkout"),
        rule("targets/variable-bad-rule", "variable_bad_rule", "/variables/checkout"),
        rule("targets/variable-field-alias", "variable_field_alias", "/variables/limit"),
        rule("targets/variable-invalid", "variable_invalid", "/variables/limit"),
        rule("targets/rule-value", "rule_value", "/variables/checkout/rules"),
        rule("targets/rule-zero", "rule_value", "/variables/limit/rules/0"),
        rule("targets/catalog-json", "catalog_json", "/catalogs"),
        rule("targets/entry-value", "entry_value", "/catalogs/checkout/entries"),
        rule("targets/entry-one", "entry_whole", "/catalogs/checkout/entries/premium"),
        rule("targets/context-json", "catalog_json", "/request-contexts/request"),
        rule("targets/context-entry", "context_entry", "/request-contexts/request/entries"),
        rule("targets/nothing", "never", "/variables/does-not-exist"),
        rule("targets/trailing", "entry_whole", "/catalogs/checkout/entries/"),
    ],
    f"""
function workspace_extends(ws, t) {report("extends checked", "/manifest/extends")} end
function workspace_default(ws, t)
  {report("default checked", "/variables/checkout/resolve/default")}
end
function workspace_qualifier(ws, t) {report("when checked", "/qualifiers/premium-users/when")} end
function workspace_missing(ws, t) {report("missing variable", "/variables/nope/resolve")} end
function workspace_catalog(ws, t)
  {report("catalog entry owner", "/catalogs/checkout/entries/premium/value/owner")}
end
function qualifier_when(ws, q) {report("qualifier when", "/when")} end
function qualifier_other(ws, q) {report("qualifier description", "/description")} end
function variable_type(ws, v) {report("declared", "/declaration/value")} end
function variable_default(ws, v)
  return {{ {{ message = v.id .. " default", path = "/resolve/default" }} }}
end
function variable_rule(ws, v) {report("first rule value", "/resolve/rules/0/value")} end
function variable_bad_rule(ws, v) {report("rule index not numeric", "/resolve/rules/x/value")} end
function variable_field_alias(ws, v)
  return {{ {{ message = "field alias", field = "/resolve/default" }} }}
end
function variable_invalid(ws, v) {report("bad pointer", "resolve~2default")} end
function rule_value(ws, r)
  return {{ {{ message = r.variable .. " rule " .. r.index .. " " .. tostring(r.value),
             path = "/value" }} }}
end
function catalog_json(ws, c) {report("schema property", "/json/properties/variant")} end
function entry_value(ws, e)
  if e.value.max_tokens > 4096 then
    return {{ {{ message = e.key .. " exceeds", path = "/value/max_tokens" }} }}
  end
  return {{}}
end
function entry_whole(ws, e) {report("whole entry", "/value")} end
function context_entry(ws, e)
  return {{ {{ message = "tier " .. e.value.user.tier, path = "/value/user/tier" }} }}
end
function never(ws, t) {report("never")} end
""",
)

DATA = lint_file(
    [
        rule("data/shape", "shape", "/"),
        rule("data/nulls", "nulls", "/variables/limit"),
        rule("data/numbers", "numbers", "/catalogs/checkout/entries/control", severity="warning"),
    ],
    """
function shape(ws, t)
  local ids = {}
  for id in pairs(ws.variables) do ids[#ids + 1] = id end
  table.sort(ids)
  return { { message = table.concat({ t.kind, tostring(ws.version), type(ws.root),
    ws.manifest.path, tostring(#t.extends), table.concat(ids, ","),
    ws.catalogs.checkout.entries.premium.path,
    ws.request_contexts.request.entries.premium.value.user.tier,
    ws.variables.checkout.declaration.kind, ws.variables.limit.declaration.value,
    tostring(ws.variables.checkout.resolve.rules[1].index),
    ws.qualifiers["premium-users"].when }, "|") } }
end
function nulls(ws, v)
  local query = v.resolve.rules[1].query
  return { { message = table.concat({ type(v.description), tostring(v.description == nil),
    tostring(query ~= nil), tostring(not not query), type(v.values), tostring(next(v.values)) },
    "|") } }
end
function numbers(ws, e)
  return { { message = math.type(e.value.max_tokens) .. " " .. tostring(e.value.max_tokens / 8)
    .. " " .. 1.0 .. " " .. 2^53 }, { message = 42 } }
end
""",
)

FAILURES = {
    "a-syntax.lua": "function register(lint\n",
    "b-top-error.lua": 'error("top level exploded")\n',
    "c-no-register.lua": "function check() return {} end\n",
    "d-register-number.lua": "register = 5\n",
    "e-load-loop.lua": "while true do end\n",
    "f-register-loop.lua": "function register(lint) while true do end end\n",
    "g-bad-rule-arg.lua": 'function register(lint) lint:rule("x") end\n',
    "h-missing-title.lua": lint_file(['lint:rule({id = "x/y", help = "h", handler = "c"})'], ""),
    "i-title-table.lua": lint_file(
        ['lint:rule({id = "x/y", title = {}, help = "h", handler = "c"})'], ""
    ),
    "j-invalid.lua": lint_file(
        [
            rule("bad/severity", "check", severity="info"),
            rule("rototo/reserved", "check"),
            rule("Upper/case", "check"),
            rule("no-slash", "check"),
            rule("a/b/c", "check"),
            rule("bad/target", "check", "variables"),
            rule("bad/target-index", "check", "/variables/limit/rules/first"),
            rule("bad/target-deep", "check", "/variables/limit/values/x/y"),
            rule("bad/handler", "missing_handler"),
            rule("bad/handler-table", "not_a_function"),
        ],
        "function check(ws, t) return {} end\nnot_a_function = {}",
    ),
    "k-unregistered.lua": "function register(lint) end\n",
    "l-conflict.lua": lint_file(
        [
            rule("policy/conflict", "check", title="First"),
            rule("policy/conflict", "check", title="Second"),
            rule("policy/dup", "check"),
            rule("policy/dup", "check"),
            rule("policy/dup", "check", "/variables/limit"),
        ],
        "function check(ws, t) return {} end",
    ),
    "m-handlers.lua": lint_file(
        [
            rule("fail/error", "fails", "/variables"),
            rule("fail/string", "returns_string", "/variables/limit"),
            rule("fail/boolean", "returns_true", "/variables/limit"),
            rule("fail/entry", "returns_bad_entry", "/variables/limit"),
            rule("fail/no-message", "no_message", "/variables/limit"),
            rule("fail/message-table", "message_table", "/variables/limit"),
            rule("fail/loop", "loops", "/variables/limit"),
            rule("fail/memory", "allocates", "/variables/limit"),
            rule("fail/io", "uses_io", "/variables/limit"),
            rule("fail/require", "uses_require", "/variables/limit"),
            rule("fail/load", "uses_load", "/variables/limit"),
            rule("ok/nil", "returns_nil", "/variables/limit"),
            rule("ok/holes", "returns_holes", "/variables/limit"),
            rule("ok/empty-message", "empty_message", "/variables/limit"),
        ],
        """
function fails(ws, v) if v.id == "checkout" then error("script failed for " .. v.id) end end
function returns_string(ws, v) return "oops" end
function returns_true(ws, v) return true end
function returns_bad_entry(ws, v) return { "x" } end
function no_message(ws, v) return { { path = "/description" } } end
function message_table(ws, v) return { { message = {} } } end
function loops(ws, v) while true do end end
function allocates(ws, v) local s = string.rep("x", 1e9) return { { message = #s } } end
function uses_io(ws, v) return { { message = tostring(io.open("/etc/passwd")) } } end
function uses_require(ws, v) return { { message = tostring(require("os")) } } end
function uses_load(ws, v) return { { message = tostring(load("return 1")) } } end
function returns_nil(ws, v) return nil end
function returns_holes(ws, v) return { { message = "first" }, nil, { message = "third" } } end
function empty_message(ws, v) return { { message = "" } } end
""",
    ),
}


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    message = item["message"]
    if item["rule"].startswith("rototo/"):
        message = message.splitlines()[0] if message else message
    return (
        item["rule"],
        item["severity"],
        item["stage"],
        item["location"]["path"],
        repr(sorted(item.get("target", {}).get("entity", {}).items())),
        repr(item.get("target", {}).get("field")),
        message,
    )


def _compare(root: Path) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    ours = [item.to_json() for item in run_custom_lint(root, support.project(root))]
    reference = support.oracle_custom_diagnostics(root)
    return Counter(map(_key, ours)), Counter(map(_key, reference))


def test_targets_and_pointers_match_reference(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path, {"pointers.lua": POINTERS, "data.lua": DATA})
    ours, reference = _compare(root)
    assert ours == reference


def test_registration_and_handler_failures_match_reference(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path, FAILURES)
    ours, reference = _compare(root)
    assert ours == reference


def test_discovery_edge_cases_match_reference(tmp_path: Path) -> None:
    root = support.write_workspace(tmp_path / "ws", {"ok.lua": DATA})
    outside = tmp_path / "outside.lua"
    outside.write_text(DATA)
    lint = root / "lint"
    (lint / "escape.lua").symlink_to(outside)
    (lint / "dangling.lua").symlink_to(lint / "missing-target.lua")
    (lint / "inside-link.lua").symlink_to(lint / "ok.lua")
    (lint / "latin1.lua").write_bytes(b"-- caf\xe9\nfunction register(lint) end\n")
    (lint / "notes.txt").write_text("not lua")
    (lint / ".lua").write_text("error('dotfile')")
    (lint / "folder.lua").mkdir()
    (lint / "nested").mkdir()
    (lint / "nested" / "deep.lua").write_text("error('nested files are not discovered')")
    ours, reference = _compare(root)
    assert ours == reference


def _full_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (*_key(item), json.dumps(item["location"].get("range"), sort_keys=True))


RANGES = lint_file(
    [
        rule("ranges/extends", "workspace_extends", "/"),
        rule("ranges/qualifier-when", "qualifier_when", "/qualifiers/premium-users"),
        rule("ranges/variable-type", "variable_type", "/variables"),
        rule("ranges/variable-default", "variable_default", "/variables"),
        rule("ranges/rule", "whole", "/variables/checkout/rules"),
        rule("ranges/rule-value", "rule_value", "/variables/limit/rules/0"),
        rule("ranges/entry", "entry_value", "/catalogs/checkout/entries"),
        rule("ranges/context-entry", "whole", "/request-contexts/request/entries"),
        rule("ranges/failure", "fails", "/variables/checkout/rules/0"),
    ],
    f"""
function workspace_extends(ws, t) {report("extends", "/extends")} end
function qualifier_when(ws, q) {report("when", "/when")} end
function variable_type(ws, v) {report("type", "/declaration/value")} end
function variable_default(ws, v) {report("default", "/resolve/default")} end
function rule_value(ws, r) {report("value", "/value")} end
function entry_value(ws, e) {report("max tokens", "/value/max_tokens")} end
function whole(ws, t) {report("whole")} end
function fails(ws, t) error("no") end
""",
)


def test_engine_lint_reports_custom_rules_with_reference_ranges(tmp_path: Path) -> None:
    """Through the engine's `lint_tree` (which builds the view with `build_view`), custom
    diagnostics carry the same source ranges as the reference's."""
    from rototo_operator.engine import lint

    root = support.write_workspace(tmp_path, {"ranges.lua": RANGES})
    ours = [item.to_json() for item in lint.lint_tree(root)]
    reference = support.oracle_custom_diagnostics(root)
    custom = [item for item in ours if _is_custom(item)]
    assert Counter(map(_full_key, custom)) == Counter(map(_full_key, reference))


def test_resolve_table_range_matches_reference(tmp_path: Path) -> None:
    from rototo_operator.engine import lint

    script = lint_file(
        [rule("ranges/resolve", "resolve", "/variables/checkout")],
        f"function resolve(ws, v) {report('resolve', '/resolve')} end",
    )
    root = support.write_workspace(tmp_path, {"resolve.lua": script})
    ours = [item.to_json() for item in lint.lint_tree(root) if _is_custom(item.to_json())]
    reference = support.oracle_custom_diagnostics(root)
    assert Counter(map(_full_key, ours)) == Counter(map(_full_key, reference))


def _is_custom(item: dict[str, Any]) -> bool:
    rule_id = str(item["rule"])
    return not rule_id.startswith("rototo/") or rule_id.startswith("rototo/custom-lint")


DUMP = r"""
local function show(value)
  local kind = type(value)
  if kind == "table" then
    local keys = {}
    for key in pairs(value) do keys[#keys + 1] = key end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, key in ipairs(keys) do parts[#parts + 1] = tostring(key) .. "=" .. show(value[key]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return (string.format("%q", value):gsub("file://[^\"]*", "URI"))
  elseif kind == "number" then
    return math.type(value) .. ":" .. tostring(value)
  end
  return kind .. ":" .. tostring(value)
end

function register(lint)
  lint:rule({ id = "dump/workspace", title = "t", help = "h", handler = "workspace" })
  lint:rule({ id = "dump/values", title = "t", help = "h",
              target = "/variables/legacy/values", handler = "value" })
  lint:rule({ id = "dump/value-pointer", title = "t", help = "h",
              target = "/variables/legacy", handler = "value_pointer" })
end

function workspace(ws, target)
  local out = {}
  for _, key in ipairs({ "manifest", "qualifiers", "variables", "catalogs", "request_contexts" }) do
    out[#out + 1] = { message = key .. " " .. show(ws[key]) }
  end
  out[#out + 1] = { message = "target " .. show(target) }
  return out
end
function value(ws, v) return { { message = show(v), path = "/value/max_tokens" } } end
function value_pointer(ws, v)
  return { { message = "known", path = "/values/big/value/max_tokens" },
           { message = "unknown", path = "/values/nope/value" } }
end
"""

UNUSUAL = {
    "qualifiers/broken.toml": 'schema_version = 1\nwhen = "context.x ==="\n',
    "qualifiers/odd.toml": 'schema_version = 1\nwhen = "context.x == 1"\ndescription = 5\n',
    "variables/legacy.toml": (
        'schema_version = 1\ntype = "int"\n[values]\nbig = { max_tokens = 9000 }\nsmall = 3\n'
        '[resolve]\ndefault = "small"\n'
    ),
    "variables/no-type.toml": (
        'schema_version = 1\n[resolve]\ndefault = 1\n[[resolve.rule]]\nqualifier = "odd"\n'
        "value = 2\n"
    ),
    "variables/both.toml": 'schema_version = 1\ntype = "int"\nschema = "x.json"\n',
    "variables/bad-resolve.toml": 'schema_version = 1\ntype = "string"\nresolve = 5\n',
    "variables/dates.toml": (
        'schema_version = 1\ntype = "string"\nat = 1979-05-27T07:32:00Z\n[resolve]\ndefault = "a"\n'
    ),
    "catalogs/empty.schema.json": '{"type": "object"}',
    "catalogs/bad.schema.json": '{"type": ',
    "request-contexts/req.schema.json": '{"type": "object"}',
    "request-contexts/req-entries/broken.json": '{"a": ',
}


def test_projection_of_unusual_documents_matches_reference(tmp_path: Path) -> None:
    """What scripts see for invalid and legacy documents, through the engine's lint."""
    from rototo_operator.engine import lint

    for relative, text in {
        "rototo-workspace.toml": "schema_version = 1\n",
        "lint/dump.lua": DUMP,
        **UNUSUAL,
    }.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    ours = [item.to_json() for item in lint.lint_tree(tmp_path)]
    custom = [item for item in ours if _is_custom(item)]
    reference = support.oracle_custom_diagnostics(tmp_path)
    assert Counter(map(_full_key, custom)) == Counter(map(_full_key, reference))
