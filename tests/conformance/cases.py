"""Small workspaces that probe rules and edge cases rototo's own fixtures leave out.

Each case is a mapping of workspace-relative paths to file contents (str, or bytes for
deliberately undecodable files). `materialize` writes one into a directory.
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "schema_version = 1\n"

REQUEST_SCHEMA = """{
  "type": "object",
  "properties": {
    "account": {
      "type": "object",
      "properties": {
        "id": {"type": "string"},
        "plan": {"type": "string"},
        "seats": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}}
      }
    },
    "user": {"type": "object", "properties": {"email": {"type": "string"}}}
  }
}
"""

SAMPLE = '{"account": {"id": "a-1", "plan": "enterprise", "seats": 12, "tags": ["beta"]}}\n'


# Every TOML form the reference reads (no dates: it rejects those, see values cases).
TOML_FORMS = (Path(__file__).with_name("data") / "forms.toml").read_text(encoding="utf-8")


def _qualifier(when: str) -> str:
    return f"schema_version = 1\nwhen = '{when}'\n"


CASES: dict[str, dict[str, str | bytes]] = {
    "list-types": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "qualifiers/paid.toml": _qualifier('context.account.plan != "free"'),
        "variables/limits.toml": (
            'schema_version = 1\ntype = "list<int>"\n[resolve]\ndefault = [1, 2]\n'
            '[[resolve.rule]]\nwhen = \'qualifier["paid"]\'\nvalue = [3, "x"]\n'
        ),
        "variables/scalar-for-list.toml": (
            'schema_version = 1\ntype = "list<string>"\n[resolve]\ndefault = "a"\n'
        ),
        "variables/nested.toml": (
            'schema_version = 1\ntype = "list<list<int>>"\n[resolve]\ndefault = [[1]]\n'
        ),
        "variables/unknown-item.toml": (
            'schema_version = 1\ntype = "list<money>"\n[resolve]\ndefault = []\n'
        ),
        "variables/good-list.toml": (
            'schema_version = 1\ntype = "list<number>"\n[resolve]\ndefault = [1, 2.5]\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"paid\"]'\nvalue = [10]\n"
        ),
    },
    "catalog-lists-and-queries": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "qualifiers/paid.toml": _qualifier('context.account.plan != "free"'),
        "catalogs/feature.schema.json": (
            '{"type": "object", "required": ["tier"], "properties": {"tier": {"type": "string"},'
            ' "weight": {"type": "integer"}}}'
        ),
        "catalogs/feature-entries/alpha.toml": 'tier = "free"\nweight = 1\n',
        "catalogs/feature-entries/beta.toml": 'tier = "enterprise"\nweight = 5\n',
        "catalogs/feature-entries/gamma.toml": 'tier = "enterprise"\nweight = 9\n',
        "variables/features.toml": (
            'schema_version = 1\ntype = "list<catalog:feature>"\n[resolve]\n'
            'default = ["alpha"]\n[[resolve.rule]]\n'
            'when = \'qualifier["paid"]\'\nvalue = ["alpha", "beta"]\n'
        ),
        "variables/queried.toml": (
            'schema_version = 1\ntype = "list<catalog:feature>"\n[resolve]\n'
            "default = []\n[[resolve.rule]]\n"
            "query = 'entry.tier == context.account.plan'\n"
        ),
        "variables/query-on-scalar.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "x"\n[[resolve.rule]]\n'
            "query = 'entry.tier == \"free\"'\n"
        ),
        "variables/bad-list-selector.toml": (
            'schema_version = 1\ntype = "list<catalog:feature>"\n[resolve]\ndefault = "alpha"\n'
        ),
        "variables/unknown-catalog.toml": (
            'schema_version = 1\ntype = "catalog:nothing"\n[resolve]\ndefault = "x"\n'
        ),
    },
    "request-context-samples": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/good.json": SAMPLE,
        "request-contexts/request-entries/array.json": "[1, 2]\n",
        "request-contexts/request-entries/mismatch.json": '{"account": {"seats": "many"}}\n',
        "request-contexts/request-entries/broken.json": '{"account": \n',
        "request-contexts/orphan-entries/lonely.json": "{}\n",
        "request-contexts/request-entries/notes.txt": "ignored\n",
        "qualifiers/big.toml": _qualifier("context.account.seats >= 10"),
        "variables/size.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "small"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["big"]\'\nvalue = "large"\n'
        ),
    },
    "context-conflicts": {
        "request-contexts/account.schema.json": (
            '{"type": "object", "properties": {"account": {"type": "object", "properties":'
            ' {"plan": {"type": "string"}}}}}'
        ),
        "request-contexts/user.schema.json": (
            '{"type": "object", "properties": {"user": {"type": "object", "properties":'
            ' {"email": {"type": "string"}}}}}'
        ),
        "request-contexts/account-entries/one.json": '{"account": {"plan": "pro"}}\n',
        "request-contexts/user-entries/one.json": '{"user": {"email": "a@example.com"}}\n',
        "qualifiers/pro.toml": _qualifier('context.account.plan == "pro"'),
        "qualifiers/staff.toml": _qualifier('suffix(context.user.email, "@example.com")'),
        "qualifiers/always.toml": _qualifier("true"),
        "qualifiers/both.toml": _qualifier('qualifier["pro"] && qualifier["staff"]'),
        "variables/mixed.toml": (
            'schema_version = 1\ntype = "bool"\n[resolve]\ndefault = false\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"pro\"]'\nvalue = true\n"
            "[[resolve.rule]]\nwhen = 'qualifier[\"staff\"]'\nvalue = true\n"
        ),
        "variables/constant-rule.toml": (
            'schema_version = 1\ntype = "int"\n[resolve]\ndefault = 1\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"always\"]'\nvalue = 2\n"
        ),
        "variables/user-only.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "guest"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["staff"]\'\nvalue = "staff"\n'
        ),
    },
    "shapes": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "qualifiers/legacy.toml": (
            'schema_version = 1\nwhen = \'true\'\n[[predicate]]\nattribute = "a"\nop = "eq"\n'
        ),
        "qualifiers/number-when.toml": "schema_version = 1\nwhen = 5\n",
        "qualifiers/syntax.toml": "schema_version = 1\nwhen = 'context.account.plan =='\n",
        "qualifiers/version-two.toml": "schema_version = 2\nwhen = 'true'\n",
        "variables/rules.toml": (
            'schema_version = 1\ntype = "string"\ndescription = 7\n[resolve]\ndefault = "a"\n'
            '[[resolve.rule]]\nqualifier = "legacy"\nwhen = \'qualifier["legacy"]\'\n'
            'value = "b"\n[[resolve.rule]]\nvalue = "c"\n[[resolve.rule]]\n'
            'when = \'qualifier["nope"]\'\n[[resolve.rule]]\nwhen = 7\nvalue = "d"\n'
        ),
        "variables/dotted.toml": (
            'schema_version = 1\ntype = "number"\nresolve.default = 1\n'
            "resolve.rule = [{ when = 'qualifier[\"legacy\"]', value = 1.0 },"
            " { when = 'qualifier[\"legacy\"]', value = true }]\n"
        ),
        "variables/values-table.toml": (
            'schema_version = 1\ntype = "string"\n[values]\n[resolve]\ndefault = "a"\n'
        ),
        "variables/both-type-and-schema.toml": (
            'schema_version = 1\ntype = "string"\nschema = "x.json"\n[resolve]\ndefault = "a"\n'
        ),
        "variables/resolve-array.toml": 'schema_version = 1\ntype = "string"\nresolve = [1]\n',
        "variables/empty.toml": "",
        "catalogs/.schema.json": "{}",
        "qualifiers/not-toml.txt": "x",
    },
    "text-encoding": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "qualifiers/unicode.toml": (
            'schema_version = 1\ndescription = "Ünïcödé 😀 ✓"\n'
            'when = \'context.account.plan == "é😀" || qualifier["gone"]\'\n'
        ),
        "variables/crlf.toml": (
            'schema_version = 1\r\ntype = "int"\r\n[resolve]\r\ndefault = "😀 not an int"\r\n'
        ),
        "variables/latin1.toml": b'schema_version = 1\ntype = "string"\n# caf\xe9\n',
        "variables/broken-multiline.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = """never closed\n'
        ),
        "catalogs/doc.schema.json": '{"type": "object", "properties": {"x": {"type": "integer"}}}',
        "catalogs/doc-entries/bad.toml": "x = [1,\n",
        "catalogs/doc-entries/wrong.toml": 'x = "😀"\n',
        "catalogs/broken.schema.json": '{"type": "object",, }',
    },
    "schema-refs": {
        "catalogs/base.schema.json": (
            '{"$id": "https://schemas.example.com/base", "$defs": {"name": {"type": "string",'
            ' "minLength": 2}}, "type": "object", "properties": {"name": {"$ref": "#/$defs/name"}}}'
        ),
        "catalogs/base-entries/ok.toml": 'name = "ok"\n',
        "catalogs/derived.schema.json": (
            '{"type": "object", "properties": {"base": {"$ref": "base.schema.json"},'
            ' "id": {"$ref": "https://schemas.example.com/base#/$defs/name"},'
            ' "abs": {"$ref": "rototo://catalogs/base.schema.json"}}}'
        ),
        "catalogs/derived-entries/good.toml": (
            'id = "ab"\n[base]\nname = "xy"\n[abs]\nname = "zz"\n'
        ),
        "catalogs/derived-entries/bad.toml": 'id = "a"\n[base]\nname = "x"\n',
        "catalogs/remote.schema.json": '{"$ref": "https://unreachable.invalid/schema.json"}',
        "catalogs/remote-entries/one.toml": "a = 1\n",
    },
    "catalog-ref-shapes": {
        "catalogs/target.schema.json": '{"type": "object"}',
        "catalogs/target-entries/one.toml": (
            "[nested]\nlist = [1, 2]\n'odd/key' = 3\n'tilde~' = 4\n"
        ),
        "catalogs/other.schema.json": '{"type": "object"}',
        "catalogs/other-entries/one.toml": "x = 1\n",
        "catalogs/holder.schema.json": (
            '{"type": "object", "properties": {'
            '"a": {"type": "string", "x-rototo-catalog-ref": ["target", 3]},'
            '"b": {"type": "string", "x-rototo-catalog-ref": ""},'
            '"c": {"type": "string", "x-rototo-catalog-ref": []},'
            '"d": {"type": "string", "x-rototo-catalog-ref": {"x": 1}},'
            '"e": {"type": "array", "items": {"type": "string", "x-rototo-catalog-ref": "target"}},'
            '"f": {"x-rototo-catalog-ref": true},'
            '"g": {"type": "string", "x-rototo-catalog-ref": ["target", "other", "ghost"]},'
            '"h": {"anyOf": [{"type": "integer"}, {"type": "string",'
            ' "x-rototo-catalog-ref": "target"}]}'
            "}}"
        ),
        "catalogs/holder-entries/refs.toml": (
            'e = ["one#/nested/list/1", "one#/nested/list/01", "one#/odd~1key", "one#/tilde~0",'
            ' "one#/bad~2", "#/x", "two"]\n'
            'g = "one"\nh = "one#/nested/missing"\n'
            '[f]\ncatalog = "target"\nentry = "one"\npointer = "nested"\n'
        ),
        "catalogs/holder-entries/refs2.toml": ('[f]\ncatalog = "ghost"\nentry = "one"\n'),
        "catalogs/holder-entries/refs3.toml": ('[f]\ncatalog = "target"\nentry = "zero"\n'),
    },
    "ui-hints": {
        "catalogs/panel.schema.json": (
            '{"type": "object", "properties": {'
            '"a": {"type": "string", "x-rototo-ui": "slider"},'
            '"b": {"type": "string", "x-rototo-ui": {"rows": 3}},'
            '"c": {"type": "string", "x-rototo-ui": {"widget": "radio"}},'
            '"d": {"type": "integer", "minimum": 0, "x-rototo-ui": {"widget": "slider", "max": 9}},'
            '"e": {"type": "integer", "minimum": 0, "maximum": 5,'
            ' "x-rototo-ui": {"widget": "slider"}},'
            '"f": {"type": "array", "items": {"enum": ["x"]},'
            ' "x-rototo-ui": {"widget": "multiselect"}},'
            '"g": {"type": ["string", "null", "object"], "x-rototo-ui": {"widget": "toggle"}},'
            '"h": {"type": "string",'
            ' "x-rototo-ui": {"widget": "code", "rows": 2.5, "language": 1}},'
            '"i": {"type": "boolean", "x-rototo-ui": {"widget": "checkbox", "extra": true}},'
            '"j": {"type": "number", "x-rototo-ui": {"widget": "percent", "step": "1"}}'
            "}}"
        ),
    },
    "graph": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "qualifiers/root.toml": _qualifier('qualifier["middle"] || context.account.plan == "x"'),
        "qualifiers/middle.toml": _qualifier('qualifier["leaf"] && has(context.account.seats)'),
        "qualifiers/leaf.toml": _qualifier("context.account.seats > 3"),
        "qualifiers/island-a.toml": _qualifier('qualifier["island-b"]'),
        "qualifiers/island-b.toml": _qualifier('context.account.id == "z"'),
        "qualifiers/loop-a.toml": _qualifier('qualifier["loop-b"] && qualifier["leaf"]'),
        "qualifiers/loop-b.toml": _qualifier('qualifier["loop-a"]'),
        "variables/uses.toml": (
            'schema_version = 1\ntype = "catalog:c"\n[resolve]\ndefault = "one"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["root"]\'\nvalue = "one"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["root"]\'\nvalue = "two"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["leaf"] && qualifier["middle"]\'\n'
            'value = "missing"\n'
        ),
        "catalogs/c.schema.json": '{"type": "object"}',
        "catalogs/c-entries/one.toml": "v = 1\n",
        "catalogs/c-entries/two.toml": "v = 2\n",
    },
    "resolution": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "request-contexts/request-entries/free.json": '{"account": {"plan": "free"}}\n',
        "request-contexts/request-entries/nulls.json": '{"account": {"plan": null, "seats": 2}}\n',
        "qualifiers/paid.toml": _qualifier('context.account.plan in ["growth", "enterprise"]'),
        "qualifiers/seated.toml": _qualifier(
            "has(context.account.seats) && context.account.seats > 5"
        ),
        "qualifiers/tagged.toml": _qualifier('"beta" in context.account.tags'),
        "qualifiers/bucketed.toml": _qualifier('bucket(context.account.id, "salt", 0, 5000)'),
        "qualifiers/combo.toml": _qualifier('qualifier["paid"] && !qualifier["seated"]'),
        "variables/price.toml": (
            'schema_version = 1\ntype = "number"\n[resolve]\ndefault = 9.99\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"combo\"]'\nvalue = 19\n"
            "[[resolve.rule]]\nwhen = 'qualifier[\"tagged\"]'\nvalue = 29.5\n"
        ),
        "variables/rollout.toml": (
            'schema_version = 1\ntype = "bool"\n[resolve]\ndefault = false\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"bucketed\"]'\nvalue = true\n"
        ),
        "variables/plain.toml": (
            'schema_version = 1\ntype = "list"\n[resolve]\ndefault = [{ a = 1 }, "x", 2.0]\n'
        ),
        "variables/dated.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "2026-01-01"\n'
        ),
    },
    "values-and-context-rules": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/other.schema.json": (
            '{"type": "object", "required": ["user"], "properties": {"user": {"type": "object",'
            ' "properties": {"email": {"type": "string"}}}, "account": {"type": "object",'
            ' "properties": {"plan": {"type": "string"}}}}}'
        ),
        "request-contexts/request-entries/sample.json": SAMPLE,
        "request-contexts/other-entries/staff.json": (
            '{"user": {"email": "ops@example.com"}, "account": {"plan": "free"}}\n'
        ),
        "qualifiers/dotted.toml": _qualifier("qualifier.inline && context.account.plan != null"),
        "qualifiers/inline.toml": _qualifier('context.account.plan == "enterprise"'),
        "variables/direct-context.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\ndefault = "d"\n'
            '[[resolve.rule]]\nwhen = \'context.account.plan == "free"\'\nvalue = "f"\n'
            '[[resolve.rule]]\nwhen = \'qualifier["dotted"]\'\nvalue = "q"\n'
        ),
        "variables/infinite.toml": (
            'schema_version = 1\ntype = "number"\n[resolve]\ndefault = inf\n'
        ),
        "variables/when-dated.toml": (
            'schema_version = 1\ntype = "list"\n[resolve]\n'
            "default = [1979-05-27T07:32:00Z, 1979-05-27, 07:32:00, 1979-05-27T07:32:00.5-07:00]\n"
        ),
        "variables/equal-numbers.toml": (
            'schema_version = 1\ntype = "number"\n[resolve]\ndefault = 1\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"inline\"]'\nvalue = 1.0\n"
            "[[resolve.rule]]\nwhen = 'qualifier[\"dotted\"]'\nvalue = 1\n"
        ),
    },
    "query-hydration": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "catalogs/template.schema.json": (
            '{"type": "object", "properties": {"body": {"type": "string"},'
            ' "variants": {"type": "object"}}}'
        ),
        "catalogs/template-entries/welcome.toml": ('body = "hi"\n[variants.eu]\ntitle = "Hallo"\n'),
        "catalogs/rule.schema.json": (
            '{"type": "object", "properties": {"plan": {"type": "string"},'
            ' "template": {"type": "string", "x-rototo-catalog-ref": "template"},'
            ' "title": {"type": "string", "x-rototo-catalog-ref": "template"},'
            ' "pair": {"x-rototo-catalog-ref": true},'
            ' "self": {"type": "string", "x-rototo-catalog-ref": "rule"}}}'
        ),
        "catalogs/rule-entries/a.toml": (
            'plan = "enterprise"\ntemplate = "welcome"\ntitle = "welcome#/variants/eu/title"\n'
            'self = "b"\n[pair]\ncatalog = "template"\nentry = "welcome"\npointer = "/body"\n'
        ),
        "catalogs/rule-entries/b.toml": 'plan = "free"\nself = "a"\n',
        "variables/rules.toml": (
            'schema_version = 1\ntype = "list<catalog:rule>"\n[resolve]\ndefault = ["b"]\n'
            "[[resolve.rule]]\nquery = 'entry.plan == context.account.plan'\n"
        ),
        "variables/static-rules.toml": (
            'schema_version = 1\ntype = "list<catalog:rule>"\n[resolve]\ndefault = ["a", "b"]\n'
        ),
    },
    "toml-syntax": {
        "catalogs/blob.schema.json": "{}",
        "catalogs/blob-entries/forms.toml": TOML_FORMS,
        "variables/blob.toml": (
            'schema_version = 1\ntype = "catalog:blob"\n[resolve]\ndefault = "forms"\n'
        ),
    },
    "table-spans": {
        "variables/a.toml": (
            'schema_version = 1\ntype = "string"\n[resolve]\n[[resolve.rule]]\n'
            'when = "true"\nvalue = "a"\n'
        ),
        "variables/b.toml": (
            'schema_version = 1\ntype = "string"\n[[resolve.rule]]\nwhen = "true"\n'
            'value = "a"\n[resolve]\nfoo = 1\n'
        ),
        "variables/c.toml": (
            'schema_version = 1\ntype = "string"\n[resolve.a]\ny = 1\n[resolve.b]\nz = 22\n'
        ),
        "variables/d.toml": (
            'schema_version = 1\ntype = "string"\n[[resolve.rule]]\nwhen = "true"\n'
            '[resolve.rule.extra]\nq = 1\n[resolve]\ndefault = "a"\n'
        ),
        "variables/e.toml": (
            'schema_version = 1\ntype = "string"  # trailing\n\n[resolve]   # c\n\n\n'
            "[other]\nx = 1\n"
        ),
        "variables/f.toml": 'schema_version = 1\ntype = "string"\nresolve = {}\n',
    },
    "json-errors": {
        "catalogs/a.schema.json": '{"type": "object",}',
        "catalogs/b.schema.json": '{"type": "obj',
        "catalogs/c.schema.json": '{"a": 1} extra',
        "catalogs/d.schema.json": "",
        "catalogs/e.schema.json": "\n\n  ",
        "catalogs/f.schema.json": '{\n  "a": tru\n}',
        "catalogs/g.schema.json": '{"a":\t"x\ny"}',
        "catalogs/h.schema.json": "[1, 2,]",
        "catalogs/i.schema.json": '{"a" 1}',
        "catalogs/j.schema.json": '{"é": "😀", "b": }',
        "catalogs/k.schema.json": "NaN",
        "catalogs/l.schema.json": '{"a": 1e999}',
        "catalogs/m.schema.json": '{"a": "\\q", "b": -x}',
        "catalogs/n.schema.json": '{"a": 01}',
        "catalogs/o.schema.json": '{"a": "\\u12g4"}',
        "catalogs/p.schema.json": "[1.]",
        "catalogs/q.schema.json": '{"a": "\\ud800"}',
        "catalogs/r.schema.json": '{"a": "\\udc00"}',
        "catalogs/s.schema.json": '{"a": "\\ud800\\u0041"}',
        "catalogs/t.schema.json": '{"a": "\\ud83d\\ude00 ok"}',
        "catalogs/u.schema.json": '{"a" 1, "b": [-], "c": [1e]}',
        "catalogs/v.schema.json": "[-]",
        "catalogs/w.schema.json": "[1e]",
        "request-contexts/r.schema.json": '{"type": "object"}',
        "request-contexts/r-entries/x.json": '{"a": [1, 2}',
    },
    "queries-with-conditions": {
        "request-contexts/request.schema.json": REQUEST_SCHEMA,
        "request-contexts/request-entries/sample.json": SAMPLE,
        "request-contexts/request-entries/free.json": '{"account": {"plan": "free", "seats": 1}}\n',
        "qualifiers/paid.toml": _qualifier('context.account.plan != "free"'),
        "catalogs/feature.schema.json": (
            '{"type": "object", "properties": {"tier": {"type": "string"},'
            ' "min_seats": {"type": "integer"}}}'
        ),
        "catalogs/feature-entries/alpha.toml": 'tier = "free"\nmin_seats = 0\n',
        "catalogs/feature-entries/beta.toml": 'tier = "enterprise"\nmin_seats = 10\n',
        "variables/both.toml": (
            'schema_version = 1\ntype = "list<catalog:feature>"\n[resolve]\ndefault = []\n'
            "[[resolve.rule]]\nwhen = 'qualifier[\"paid\"]'\n"
            "query = 'entry.min_seats <= context.account.seats && qualifier[\"paid\"]'\n"
            "[[resolve.rule]]\nquery = 'entry.tier == \"free\" && has(context.account.plan)'\n"
        ),
        "variables/entry-in-when.toml": (
            'schema_version = 1\ntype = "bool"\n[resolve]\ndefault = false\n'
            "[[resolve.rule]]\nwhen = 'entry.tier == \"free\"'\nvalue = true\n"
        ),
        "variables/query-ids.toml": (
            'schema_version = 1\ntype = "list<catalog:feature>"\n[resolve]\ndefault = []\n'
            "[[resolve.rule]]\nquery = 'entry.id == \"beta\" || has(entry.missing)'\n"
        ),
    },
    "toml-errors": {
        "variables/a.toml": "a = \n",
        "variables/b.toml": "a = 1\na = 2\n",
        "variables/c.toml": 'a = "\\q"\n',
        "variables/d.toml": "a = [1, 2\nb = 1\n",
        "variables/e.toml": "a = {x = 1\n",
        "variables/f.toml": "[t]\n[t]\n",
        "variables/g.toml": "a = 1 b = 2\n",
        "variables/j.toml": "= 1\n",
        "variables/k.toml": 'a = "x\n',
        "variables/l.toml": "a = tru\n",
        "qualifiers/m.toml": "[broken\nwhen = 1\n",
        "catalogs/c.schema.json": "{}",
        "catalogs/c-entries/n.toml": "x = [1,,]\n",
    },
}


def materialize(files: dict[str, str | bytes], root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rototo-workspace.toml").write_text(MANIFEST)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
    return root
