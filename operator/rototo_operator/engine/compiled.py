"""The compiled runtime model (`rototo.compiled/v1`): build, serialize, load, resolve.

A lint-clean workspace compiles into one canonical JSON document (sorted keys, no
insignificant whitespace, UTF-8) holding everything resolution needs: request context
schemas, qualifiers with pre-parsed expressions, variables with their rules, and
validated catalog entries. The document is described in docs/compiled-format.md and
docs/compiled-format.schema.json. Its `digest` covers the workspace content and compiler,
not where it came from: `source`, `fingerprint` and `digest` itself are left out of the
hashed bytes, so the same reviewed content yields the same digest from any source.

Loading a document (`CompiledModel.from_bytes`) checks format, shape and digest, compiles
JSON Schemas and expressions once, and after that resolution is pure in-memory work.
Values handed to callers are fresh copies; the model itself is never mutated.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pydantic

from rototo_operator.engine import catalogs, lint, models
from rototo_operator.engine.diagnostics import Diagnostic
from rototo_operator.engine.documents import TypeKind, variable_type
from rototo_operator.engine.expressions import (
    EvalEnv,
    Expression,
    ExpressionFormatError,
    Predicate,
    expression_from_json,
)
from rototo_operator.errors import ResolutionError, RototoError, WorkspaceLoadError

FORMAT = "rototo.compiled/v1"
_M = TypeVar("_M", bound=pydantic.BaseModel)
COMPILER_NAME = "rototo-operator"
# Fields that describe where a model came from rather than what it is.
UNHASHED_FIELDS = ("digest", "fingerprint", "source")


def _compiler_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("rototo-operator")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


class LintFailedError(WorkspaceLoadError):
    """The workspace has lint errors, so it cannot be compiled or loaded."""

    def __init__(self, message: str, diagnostics: list[Diagnostic]) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


# Built once: `json.dumps` with options constructs an encoder per call. No circular
# reference check: every value encoded here was parsed from JSON or TOML, so it is a tree.
_CANONICAL = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
)


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a JSON value: sorted keys, compact, UTF-8."""
    return _CANONICAL.encode(value).encode("utf-8")


def _canonical_members(document: Mapping[str, Any]) -> dict[str, bytes]:
    """Each top-level member encoded canonically (`"key":value`), in sorted key order.

    Joined with commas inside braces they are exactly `canonical_json(document)`, so one
    encoding pass gives both the document's bytes and the digested subset.
    """
    return {
        key: canonical_json(key) + b":" + canonical_json(document[key]) for key in sorted(document)
    }


def _join(members: Iterable[bytes]) -> bytes:
    return b"{" + b",".join(members) + b"}"


def _digest_of(members: Mapping[str, bytes]) -> str:
    hashed = _join(member for key, member in members.items() if key not in UNHASHED_FIELDS)
    return "sha256:" + hashlib.sha256(hashed).hexdigest()


def content_digest(document: Mapping[str, Any]) -> str:
    return _digest_of(_canonical_members(document))


# -- compile -------------------------------------------------------------------------------


def _selection(type_kind: TypeKind, value: Any) -> dict[str, Any]:
    if type_kind.kind == "catalog":
        return {"kind": "catalog", "catalog": type_kind.name, "entry": value}
    catalog = type_kind.list_catalog()
    if catalog is not None:
        return {"kind": "catalog_list", "catalog": catalog, "entries": list(value)}
    return {"kind": "literal", "value": value}


def _type_text(type_kind: TypeKind) -> str:
    if type_kind.kind == "catalog":
        return f"catalog:{type_kind.name}"
    if type_kind.kind == "list" and type_kind.item is not None:
        return f"list<{_type_text(type_kind.item)}>"
    return type_kind.name


def _typed(model: type[_M], data: Any, name: str) -> _M:
    """A lint-clean document read through its model; a mismatch means a lint gap."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise WorkspaceLoadError(f"{name}: document does not match its shape: {error}") from None


def compile_document(snapshot: lint.LintSnapshot) -> dict[str, Any]:
    """The `workspace` section of the compiled model, from a lint-clean snapshot."""
    index = snapshot.index
    compat = lint.compatibility(index)
    request_contexts = {
        rid: {
            "schema": node.json,
            "samples": {
                key: entry.value
                for key, entry in index.request_context_entries.get(rid, {}).items()
            },
        }
        for rid, node in index.request_contexts.items()
    }
    qualifiers: dict[str, Any] = {}
    for qid, qualifier in index.qualifiers.items():
        expression = qualifier.expression
        if expression is None:
            raise WorkspaceLoadError(f"qualifier must declare when: {qid}")
        document = _typed(models.QualifierDocument, qualifier.document.data, qid)
        item: dict[str, Any] = {
            "when": expression.to_json(),
            "request_contexts": sorted(compat.qualifiers.get(qid, set())),
        }
        if isinstance(document.description, str):
            item["description"] = document.description
        qualifiers[qid] = item
    variables: dict[str, Any] = {}
    for vid, variable in index.variables.items():
        type_kind = variable_type(variable)
        if type_kind is None or variable.default is None or not variable.default.present:
            raise WorkspaceLoadError(f"variable must declare type and default: {vid}")
        rules = []
        for rule in variable.rules or []:
            when = (
                rule.when.value.to_json() if rule.when is not None and rule.when.present else None
            )
            if rule.query is not None and rule.query.present:
                catalog = type_kind.list_catalog()
                if catalog is None:
                    raise WorkspaceLoadError(
                        "rule query is only valid for list<catalog:...> variables"
                    )
                select: dict[str, Any] = {
                    "kind": "query",
                    "catalog": catalog,
                    "query": rule.query.value.to_json(),
                }
            else:
                select = _selection(type_kind, rule.value.value)
            rules.append({"index": rule.index, "when": when, "select": select})
        var_item: dict[str, Any] = {
            "type": _type_text(type_kind),
            "request_contexts": sorted(compat.variables.get(vid, set())),
            "default": _selection(type_kind, variable.default.value),
            "rules": rules,
        }
        description = _typed(models.VariableDocument, variable.document.data, vid).description_text
        if description is not None:
            var_item["description"] = description
        variables[vid] = var_item
    catalogs_out = {
        cid: {
            "schema": node.json,
            "entries": {key: e.value for key, e in index.catalog_entries.get(cid, {}).items()},
        }
        for cid, node in index.catalogs.items()
    }
    return {
        "catalogs": catalogs_out,
        "qualifiers": qualifiers,
        "request_contexts": request_contexts,
        "variables": variables,
    }


def compile_tree(root: Path, *, source: str, fingerprint: str) -> CompiledModel:
    """Lint and compile the workspace at `root`; raise LintFailedError on lint errors."""
    snapshot = lint.lint_snapshot(Path(root))
    if snapshot.has_errors:
        raise LintFailedError(
            f"workspace lint failed with {len(snapshot.diagnostics)} diagnostic(s)",
            snapshot.diagnostics,
        )
    document: dict[str, Any] = {
        "format": FORMAT,
        "compiler": {"name": COMPILER_NAME, "version": _compiler_version()},
        "source": source,
        "fingerprint": fingerprint,
        "workspace": compile_document(snapshot),
    }
    document["digest"] = content_digest(document)
    return CompiledModel(document)


# -- runtime ---------------------------------------------------------------------------------


def thaw(value: Any) -> Any:
    """A fresh copy of a JSON value (dicts and lists copied, scalars shared)."""
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _SCALARS else thaw(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _SCALARS else thaw(item) for item in value]
    if kind in _SCALARS:
        return value
    # Subclasses (never produced by json.loads, but allowed in a model built in memory).
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value


# Immutable JSON scalars, shared rather than copied (exact types: hot paths test `type()`).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _check_encodable(text: str) -> None:
    """JSON strings are Unicode scalar values; a lone surrogate cannot be one."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ResolutionError(
            f"failed to convert Python value to JSON: UnicodeEncodeError: {error}"
        ) from None


def _not_a_string(key: Any) -> ResolutionError:
    described = "'None'" if key is None else f"'{type(key).__name__}' object"
    return ResolutionError(
        f"failed to convert Python value to JSON: unexpected type: {described} is not an "
        "instance of 'str'"
    )


_INT_MIN = -(2**63)
_INT_END = 2**64


def json_context(value: Any) -> Any:
    """Copy a caller's context into plain JSON values, refusing what JSON cannot hold
    (with the reference SDK's wording: its Python values cross into Rust the same way).

    Plain `dict`/`list`/`str`/`int` values, what callers nearly always pass, take an
    exact-type fast path; anything else goes through `_json_context_general`."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str or not key.isascii():
                break
        else:
            out = {}
            for key in sorted(value):
                item = value[key]
                kind = type(item)
                # Strings and literals inline: most context values are leaves.
                if kind is str:
                    if not item.isascii():
                        _check_encodable(item)
                    out[key] = item
                elif kind is bool or item is None or (kind is int and _INT_MIN <= item < _INT_END):
                    out[key] = item
                else:
                    out[key] = json_context(item)
            return out
        return _json_context_general(value)
    if kind is str:
        if not value.isascii():
            _check_encodable(value)
        return value
    if kind is int:
        if not _INT_MIN <= value < _INT_END:
            raise ResolutionError(
                "failed to convert Python value to JSON: JSON number out of range"
            )
        return value
    if kind is bool or value is None:
        return value
    if kind is list:
        return [json_context(item) for item in value]
    return _json_context_general(value)


def _json_context_general(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            if not isinstance(key, str):
                raise _not_a_string(key)
            _check_encodable(key)
        # Sorted, like the reference's JSON objects: validation errors come out in the
        # same order.
        for key, item in sorted(value.items()):
            out[key] = json_context(item)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [json_context(item) for item in value]
    if isinstance(value, str):
        _check_encodable(value)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ResolutionError(
                "failed to convert Python value to JSON: JSON number out of range"
            )
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        raise ResolutionError(
            "failed to convert Python value to JSON: invalid type: byte array, expected any "
            "valid JSON value"
        )
    raise ResolutionError(
        f"failed to convert Python value to JSON: unsupported type {type(value).__name__}"
    )


# Named tuples rather than frozen dataclasses: a load builds thousands of these, and a
# tuple is several times cheaper to construct.
class _Selected(NamedTuple):
    value: Any
    source: dict[str, Any]


class _Rule(NamedTuple):
    rule_index: int
    when: Predicate | None
    query: tuple[str, Predicate] | None
    selected: _Selected | None


class _Variable(NamedTuple):
    request_contexts: frozenset[str]
    default: _Selected
    rules: tuple[_Rule, ...]


class _QualifierState:
    """Memoised qualifier answers for one resolution, with cycle detection."""

    def __init__(self, model: CompiledModel, context: Mapping[str, Any]) -> None:
        self.model = model
        self.context = context
        self.cache: dict[str, bool] = {}
        self.resolving: set[str] = set()
        # One environment serves every evaluation without a catalog entry.
        self.plain_env = EvalEnv(context, self.resolve)

    def resolve(self, qualifier_id: str) -> bool:
        cached = self.cache.get(qualifier_id)
        if cached is not None:
            return cached
        if qualifier_id in self.resolving:
            raise ResolutionError(f"qualifier cycle detected at qualifier://{qualifier_id}")
        predicate = self.model._qualifiers.get(qualifier_id)
        if predicate is None:
            raise ResolutionError(f"qualifier not found: qualifier://{qualifier_id}")
        self.resolving.add(qualifier_id)
        try:
            value = predicate(self.plain_env)
        finally:
            self.resolving.discard(qualifier_id)
        self.cache[qualifier_id] = value
        return value

    def env(self, entry: Any = None) -> EvalEnv:
        if entry is None:
            return self.plain_env
        return EvalEnv(self.context, self.resolve, entry)


# -- reading a document ----------------------------------------------------------------
#
# One pass over the document checks its shape against docs/compiled-format.schema.json and
# builds the runtime tables at the same time. Only exact JSON types are accepted: every
# document read here came out of `json.loads`.


class _ShapeError(Exception):
    """Where the document leaves the documented shape (a JSON Pointer), and how."""

    def __init__(self, where: tuple[str | int, ...], problem: str) -> None:
        super().__init__(f"{_pointer(where)}: {problem}")


def _pointer(where: tuple[str | int, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in where) or "/"


_TOP_KEYS = frozenset({"format", "compiler", "source", "fingerprint", "digest", "workspace"})
_COMPILER_KEYS = frozenset({"name", "version"})
_WORKSPACE_KEYS = frozenset({"catalogs", "qualifiers", "request_contexts", "variables"})
_CATALOG_KEYS = frozenset({"schema", "entries"})
_CONTEXT_KEYS = frozenset({"schema", "samples"})
_QUALIFIER_KEYS = frozenset({"when", "request_contexts"})
_VARIABLE_KEYS = frozenset({"type", "request_contexts", "default", "rules"})
_DESCRIBED = frozenset({"description"})
_RULE_KEYS = frozenset({"index", "when", "select"})
# Selection kinds: their keys and the fields that must be strings.
_SELECTIONS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "literal": (frozenset({"kind", "value"}), ()),
    "catalog": (frozenset({"kind", "catalog", "entry"}), ("catalog", "entry")),
    "catalog_list": (frozenset({"kind", "catalog", "entries"}), ("catalog",)),
    "query": (frozenset({"kind", "catalog", "query"}), ("catalog",)),
}
_LITERAL_KEYS = _SELECTIONS["literal"][0]
_ENTRY_KEYS = _SELECTIONS["catalog"][0]
_ENTRIES_KEYS = _SELECTIONS["catalog_list"][0]
_QUERY_KEYS = _SELECTIONS["query"][0]
# Shared by every literal selection: sources are copied on the way out (`thaw`).
_LITERAL_SOURCE: dict[str, Any] = {"kind": "literal"}
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


def _object(
    value: Any,
    where: tuple[str | int, ...],
    keys: frozenset[str],
    optional: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """`value` as an object with exactly `keys`, plus any of `optional`."""
    if type(value) is dict:
        present = value.keys()
        if present == keys or (optional and present - optional == keys):
            return value
        missing = sorted(keys - present)
        if missing:
            raise _ShapeError(where, "missing " + ", ".join(missing))
        raise _ShapeError(where, "unexpected " + ", ".join(sorted(present - keys - optional)))
    raise _ShapeError(where, "expected an object")


def _mapping(value: Any, where: tuple[str | int, ...]) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _ShapeError(where, "expected an object")


def _string(value: Any, where: tuple[str | int, ...]) -> str:
    if type(value) is str:
        return value
    raise _ShapeError(where, "expected a string")


def _strings(value: Any, where: tuple[str | int, ...]) -> list[str]:
    if type(value) is list:
        for item in value:
            if type(item) is not str:
                break
        else:
            return value
    raise _ShapeError(where, "expected an array of strings")


def _ids(value: Any, where: tuple[str | int, ...]) -> frozenset[str]:
    ids = frozenset(_strings(value, where))
    if len(ids) != len(value):
        raise _ShapeError(where, "ids must be unique")
    return ids


def _schema(value: Any, where: tuple[str | int, ...]) -> Any:
    if type(value) is dict or type(value) is bool:
        return value
    raise _ShapeError(where, "expected a JSON Schema (an object or a boolean)")


def _selection_error(
    value: Any, where: tuple[str | int, ...], kinds: tuple[str, ...]
) -> _ShapeError:
    """Why `value` is not a selection of one of `kinds` (only called once it is not)."""
    kind = value.get("kind") if type(value) is dict else None
    if type(kind) is not str or kind not in kinds:
        if type(value) is not dict:
            return _ShapeError(where, "expected an object")
        return _ShapeError((*where, "kind"), "expected one of " + ", ".join(kinds))
    keys, strings = _SELECTIONS[kind]
    _object(value, where, keys)
    for field in strings:
        _string(value[field], (*where, field))
    if kind == "catalog_list":
        _strings(value["entries"], (*where, "entries"))
    if kind == "query":
        return _ShapeError((*where, "query"), "expected an expression object")
    return _ShapeError(where, "not a valid selection")


class CompiledModel:
    """A loaded runtime model: validated, compiled once, resolved many times."""

    def __init__(self, document: dict[str, Any], *, canonical: bytes | None = None) -> None:
        # Work on the canonical form: objects in sorted key order, as the reference's JSON
        # maps keep them, so schema validation reports the same first error. `canonical`:
        # the caller already has it, and `document` is parsed from it.
        if canonical is None:
            data = canonical_json(document)
            document = json.loads(data)
        else:
            data = canonical
        self._document = document
        self._bytes = data
        self._built: dict[str, Predicate] = {}
        try:
            self._read(document)
        except _ShapeError as error:
            raise WorkspaceLoadError(f"compiled model does not match {FORMAT}: {error}") from None
        del self._built

    def _read(self, document: Any) -> None:
        top = _object(document, (), _TOP_KEYS)
        if top["format"] != FORMAT:
            raise _ShapeError(("format",), f"expected {FORMAT!r}")
        compiler = _object(top["compiler"], ("compiler",), _COMPILER_KEYS)
        _string(compiler["name"], ("compiler", "name"))
        self.compiler_version: str = _string(compiler["version"], ("compiler", "version"))
        self.source: str = _string(top["source"], ("source",))
        self.fingerprint: str = _string(top["fingerprint"], ("fingerprint",))
        self.digest: str = _string(top["digest"], ("digest",))
        if not _DIGEST.match(self.digest):
            raise _ShapeError(("digest",), "expected sha256: and 64 lowercase hex digits")
        workspace = _object(top["workspace"], ("workspace",), _WORKSPACE_KEYS)

        self._catalog_entries: dict[str, dict[str, Any]] = {}
        self._catalog_schemas: dict[str, Any] = {}
        for cid, item in _mapping(workspace["catalogs"], ("workspace", "catalogs")).items():
            where = ("workspace", "catalogs", cid)
            catalog = _object(item, where, _CATALOG_KEYS)
            self._catalog_schemas[cid] = _schema(catalog["schema"], (*where, "schema"))
            self._catalog_entries[cid] = _mapping(catalog["entries"], (*where, "entries"))
        self._hydrator = catalogs.Hydrator(self._catalog_schemas, self._catalog_entries)

        self._request_contexts: dict[str, Any] = {}
        self._samples: dict[str, dict[str, Any]] = {}
        contexts = _mapping(workspace["request_contexts"], ("workspace", "request_contexts"))
        for rid, item in sorted(contexts.items()):
            where = ("workspace", "request_contexts", rid)
            context = _object(item, where, _CONTEXT_KEYS)
            validator, message = catalogs.compile_plain_schema(
                _schema(context["schema"], (*where, "schema"))
            )
            if validator is None:
                raise WorkspaceLoadError(f"request context schema is invalid: {message}")
            self._request_contexts[rid] = validator
            samples = _mapping(context["samples"], (*where, "samples"))
            self._samples[rid] = dict(sorted(samples.items()))

        self._qualifier_contexts: dict[str, frozenset[str]] = {}
        self._qualifiers: dict[str, Predicate] = {}
        for qid, item in _mapping(workspace["qualifiers"], ("workspace", "qualifiers")).items():
            where = ("workspace", "qualifiers", qid)
            qualifier = _object(item, where, _QUALIFIER_KEYS, _DESCRIBED)
            if "description" in qualifier:
                _string(qualifier["description"], (*where, "description"))
            self._qualifier_contexts[qid] = _ids(
                qualifier["request_contexts"], (*where, "request_contexts")
            )
            self._qualifiers[qid] = self._predicate(qualifier["when"], (*where, "when"))

        self._variables: dict[str, _Variable] = {}
        for vid, item in _mapping(workspace["variables"], ("workspace", "variables")).items():
            self._variables[vid] = self._variable(item, ("workspace", "variables", vid))
        self.variable_ids: tuple[str, ...] = tuple(sorted(self._variables))
        self.qualifier_ids: tuple[str, ...] = tuple(sorted(self._qualifiers))

    # -- construction helpers ---------------------------------------------------------
    def _variable(self, item: Any, where: tuple[str | int, ...]) -> _Variable:
        variable = _object(item, where, _VARIABLE_KEYS, _DESCRIBED)
        _string(variable["type"], (*where, "type"))
        if "description" in variable:
            _string(variable["description"], (*where, "description"))
        rules = variable["rules"]
        if type(rules) is not list:
            raise _ShapeError((*where, "rules"), "expected an array")
        return _Variable(
            request_contexts=_ids(variable["request_contexts"], (*where, "request_contexts")),
            default=self._selection(variable["default"], (*where, "default")),
            rules=tuple(
                self._rule(rule, (*where, "rules", index)) for index, rule in enumerate(rules)
            ),
        )

    def _rule(self, item: Any, where: tuple[str | int, ...]) -> _Rule:
        rule = _object(item, where, _RULE_KEYS)
        index = rule["index"]
        if type(index) is not int or index < 0:
            raise _ShapeError((*where, "index"), "expected a non-negative integer")
        when = rule["when"]
        predicate = None if when is None else self._predicate(when, (*where, "when"))
        select = rule["select"]
        if type(select) is dict and select.get("kind") == "query":
            if select.keys() != _QUERY_KEYS or type(select["catalog"]) is not str:
                raise _selection_error(select, (*where, "select"), tuple(_SELECTIONS))
            query = self._predicate(select["query"], (*where, "select", "query"))
            return _Rule(index, predicate, (select["catalog"], query), None)
        return _Rule(index, predicate, None, self._selection(select, (*where, "select"), True))

    def _selection(
        self, value: Any, where: tuple[str | int, ...], in_rule: bool = False
    ) -> _Selected:
        if type(value) is dict:
            kind = value.get("kind")
            keys = value.keys()
            if kind == "literal" and keys == _LITERAL_KEYS:
                return _Selected(value["value"], _LITERAL_SOURCE)
            if kind == "catalog" and keys == _ENTRY_KEYS:
                catalog, name = value["catalog"], value["entry"]
                if type(catalog) is str and type(name) is str:
                    return _Selected(
                        self._entry(catalog, name),
                        {"kind": "catalog", "catalog": catalog, "value": name},
                    )
            elif kind == "catalog_list" and keys == _ENTRIES_KEYS:
                catalog, names = value["catalog"], value["entries"]
                if type(catalog) is str and type(names) is list:
                    entries = [self._entry(catalog, _string(n, (*where, "entries"))) for n in names]
                    return _Selected(
                        entries, {"kind": "catalog_list", "catalog": catalog, "values": names}
                    )
        kinds = tuple(_SELECTIONS) if in_rule else ("literal", "catalog", "catalog_list")
        raise _selection_error(value, where, kinds)

    def _predicate(self, data: Any, where: tuple[str | int, ...]) -> Predicate:
        # Identical stored expressions (the same `when` on many rules is common) share one
        # compiled closure: closures hold no state, so sharing cannot change an answer.
        # The key is the stored form's repr, which tells 1, 1.0 and true apart (`==` would
        # not). Built once per load, here, never during resolution.
        if type(data) is not dict:
            raise _ShapeError(where, "expected an expression object")
        key = repr(data)
        built = self._built.get(key)
        if built is not None:
            return built
        try:
            expression: Expression = expression_from_json(data)
        except (ExpressionFormatError, RototoError, ValueError, KeyError, TypeError) as error:
            raise WorkspaceLoadError(
                f"compiled model holds an invalid expression at {_pointer(where)}: {error}"
            ) from None
        built = self._built[key] = expression.compile()
        return built

    def _entry(self, catalog: str, name: str) -> Any:
        entries = self._catalog_entries.get(catalog)
        if entries is None:
            raise WorkspaceLoadError(f"catalog has no values: {catalog}")
        if name not in entries:
            raise WorkspaceLoadError(f"variable references unknown catalog value: {name}")
        return entries[name]

    # -- serialization -----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return self._bytes

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = thaw(self._document)
        return result

    @classmethod
    def from_bytes(cls, data: bytes) -> CompiledModel:
        """Load a serialized model; WorkspaceLoadError when corrupt or of another format."""
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WorkspaceLoadError(f"compiled model is not valid JSON: {error}") from None
        if not isinstance(document, dict):
            raise WorkspaceLoadError("compiled model must be a JSON object")
        if document.get("format") != FORMAT:
            raise WorkspaceLoadError(
                f"unsupported compiled model format: {document.get('format')!r} "
                f"(expected {FORMAT!r})"
            )
        try:
            members = _canonical_members(document)
        except ValueError as error:  # out-of-range floats parse as inf
            raise WorkspaceLoadError(f"compiled model is not valid JSON: {error}") from None
        expected = _digest_of(members)
        if document.get("digest") != expected:
            raise WorkspaceLoadError(
                f"compiled model digest mismatch: recorded {document.get('digest')!r}, "
                f"content hashes to {expected!r}"
            )
        canonical = _join(members.values())
        if canonical != data:
            # Not byte-canonical (indented, say): re-read for sorted key order throughout.
            document = json.loads(canonical)
        return cls(document, canonical=canonical)

    # -- resolution --------------------------------------------------------------------
    def _validate(self, context: Any, allowed: frozenset[str] | None) -> None:
        if not self._request_contexts:
            return
        errors: list[str] = []
        candidates = False
        for rid, validator in self._request_contexts.items():
            if allowed is not None and rid not in allowed:
                continue
            candidates = True
            error = catalogs.validation_error(validator, context)
            if error is None:
                return
            errors.append(f"{rid}: {error}")
        if not candidates:
            raise ResolutionError("resolve context does not match any compatible request context")
        raise ResolutionError(
            "resolve context does not match any compatible request context: " + "; ".join(errors)
        )

    @staticmethod
    def _context(context: Any) -> dict[str, Any]:
        converted = json_context(context)
        if not isinstance(converted, dict):
            raise ResolutionError("resolve context must be a JSON object")
        return converted

    def samples_for(self, kind: str, target: str) -> list[tuple[str, str, Any]]:
        """Stored request-context samples compatible with a variable or qualifier:
        [(request context id, sample name, context)], as the reference CLI resolves
        against when no context is given. Raises ResolutionError for unknown targets."""
        if kind == "variable":
            variable = self._variables.get(target)
            if variable is None:
                raise ResolutionError(f"variable not found: variable://{target}")
            allowed = variable.request_contexts
        else:
            found = self._qualifier_contexts.get(target)
            if found is None:
                raise ResolutionError(f"qualifier not found: qualifier://{target}")
            allowed = found
        return [
            (rid, name, thaw(sample))
            for rid, samples in self._samples.items()
            if rid in allowed
            for name, sample in samples.items()
        ]

    def resolve_qualifier(
        self, qualifier_id: str, context: Any, *, validate_context: bool = True
    ) -> bool:
        plain = self._context(context)
        if validate_context:
            allowed = self._qualifier_contexts.get(qualifier_id)
            if allowed is None:
                raise ResolutionError(f"qualifier not found: qualifier://{qualifier_id}")
            self._validate(plain, allowed)
        return _QualifierState(self, plain).resolve(qualifier_id)

    def resolve_variable(
        self, variable_id: str, context: Any, *, validate_context: bool = True
    ) -> tuple[Any, dict[str, Any]]:
        """(value, source JSON) for the variable; both are fresh copies."""
        plain = self._context(context)
        variable = self._variables.get(variable_id)
        if variable is None:
            raise ResolutionError(f"variable not found: variable://{variable_id}")
        if validate_context and not (not variable.request_contexts and not variable.rules):
            self._validate(plain, variable.request_contexts)
        state = _QualifierState(self, plain)
        env = state.plain_env
        selected = variable.default
        for rule in variable.rules:
            matched = rule.when(env) if rule.when is not None else rule.query is not None
            if not matched:
                continue
            if rule.query is not None:
                selected = self._query(state, rule.query)
            elif rule.selected is not None:
                selected = rule.selected
            break
        return thaw(selected.value), thaw(selected.source)

    def _query(self, state: _QualifierState, query: tuple[str, Predicate]) -> _Selected:
        catalog, predicate = query
        entries = self._catalog_entries.get(catalog)
        if entries is None:
            raise ResolutionError(f"catalog has no entries: {catalog}")
        names: list[str] = []
        values: list[Any] = []
        for name in sorted(entries):
            view = self._hydrator.entry_view(catalog, name)
            if predicate(state.env(view)):
                names.append(name)
                values.append(view)
        return _Selected(values, {"kind": "catalog_list", "catalog": catalog, "values": names})
