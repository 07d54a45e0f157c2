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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

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


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a JSON value: sorted keys, compact, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


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


# -- document shape (pydantic) -----------------------------------------------------------


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class LiteralSelection(_Strict):
    kind: Literal["literal"]
    value: Any


class CatalogSelection(_Strict):
    kind: Literal["catalog"]
    catalog: str
    entry: str


class CatalogListSelection(_Strict):
    kind: Literal["catalog_list"]
    catalog: str
    entries: list[str]


class QuerySelection(_Strict):
    kind: Literal["query"]
    catalog: str
    query: dict[str, Any]


Selection = Annotated[
    LiteralSelection | CatalogSelection | CatalogListSelection,
    pydantic.Field(discriminator="kind"),
]
RuleSelection = Annotated[
    LiteralSelection | CatalogSelection | CatalogListSelection | QuerySelection,
    pydantic.Field(discriminator="kind"),
]


class CompiledRule(_Strict):
    index: int
    when: dict[str, Any] | None
    select: RuleSelection


class CompiledVariable(_Strict):
    type: str
    description: str | None = None
    request_contexts: list[str]
    default: Selection
    rules: list[CompiledRule]


class CompiledQualifier(_Strict):
    description: str | None = None
    when: dict[str, Any]
    request_contexts: list[str]


class CompiledCatalog(_Strict):
    schema_: Any = pydantic.Field(alias="schema")
    entries: dict[str, Any]


class CompiledRequestContext(_Strict):
    schema_: Any = pydantic.Field(alias="schema")
    samples: dict[str, Any]


class CompiledWorkspace(_Strict):
    catalogs: dict[str, CompiledCatalog]
    qualifiers: dict[str, CompiledQualifier]
    request_contexts: dict[str, CompiledRequestContext]
    variables: dict[str, CompiledVariable]


class CompilerInfo(_Strict):
    name: str
    version: str


class CompiledDocument(_Strict):
    format: Literal["rototo.compiled/v1"]
    compiler: CompilerInfo
    source: str
    fingerprint: str
    digest: str
    workspace: CompiledWorkspace


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
        try:
            parsed = CompiledDocument.model_validate(document)
        except pydantic.ValidationError as error:
            raise WorkspaceLoadError(f"compiled model does not match {FORMAT}: {error}") from None
        self._document = document
        self._bytes = data
        self.digest: str = parsed.digest
        self.source: str = parsed.source
        self.fingerprint: str = parsed.fingerprint
        self.compiler_version: str = parsed.compiler.version
        workspace = parsed.workspace
        self._catalog_entries = {cid: c.entries for cid, c in workspace.catalogs.items()}
        self._catalog_schemas = {cid: c.schema_ for cid, c in workspace.catalogs.items()}
        self._hydrator = catalogs.Hydrator(self._catalog_schemas, self._catalog_entries)
        self._request_contexts: dict[str, Any] = {}
        for rid, context in sorted(workspace.request_contexts.items()):
            validator, message = catalogs.compile_plain_schema(context.schema_)
            if validator is None:
                raise WorkspaceLoadError(f"request context schema is invalid: {message}")
            self._request_contexts[rid] = validator
        self._qualifier_contexts = {
            qid: frozenset(q.request_contexts) for qid, q in workspace.qualifiers.items()
        }
        self._built: dict[str, Predicate] = {}
        self._qualifiers: dict[str, Predicate] = {
            qid: self._predicate(q.when) for qid, q in workspace.qualifiers.items()
        }
        self._variables = {
            vid: _Variable(
                request_contexts=frozenset(v.request_contexts),
                default=self._selected(v.default),
                rules=tuple(self._rule(rule) for rule in v.rules),
            )
            for vid, v in workspace.variables.items()
        }
        self._samples = {
            rid: dict(sorted(context.samples.items()))
            for rid, context in sorted(workspace.request_contexts.items())
        }
        del self._built
        self.variable_ids: tuple[str, ...] = tuple(sorted(workspace.variables))
        self.qualifier_ids: tuple[str, ...] = tuple(sorted(workspace.qualifiers))

    # -- construction helpers ---------------------------------------------------------
    def _predicate(self, data: dict[str, Any]) -> Predicate:
        # Identical stored expressions (the same `when` on many rules is common) share one
        # compiled closure: closures hold no state, so sharing cannot change an answer.
        # The key is the stored form's repr, which tells 1, 1.0 and true apart (`==` would
        # not). Built once per load, here, never during resolution.
        key = repr(data)
        built = self._built.get(key)
        if built is not None:
            return built
        try:
            expression: Expression = expression_from_json(data)
        except (ExpressionFormatError, RototoError, ValueError, KeyError, TypeError) as error:
            raise WorkspaceLoadError(
                f"compiled model holds an invalid expression: {error}"
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

    def _selected(
        self, selection: LiteralSelection | CatalogSelection | CatalogListSelection
    ) -> _Selected:
        if isinstance(selection, LiteralSelection):
            return _Selected(selection.value, {"kind": "literal"})
        if isinstance(selection, CatalogSelection):
            return _Selected(
                self._entry(selection.catalog, selection.entry),
                {"kind": "catalog", "catalog": selection.catalog, "value": selection.entry},
            )
        return _Selected(
            [self._entry(selection.catalog, name) for name in selection.entries],
            {"kind": "catalog_list", "catalog": selection.catalog, "values": selection.entries},
        )

    def _rule(self, rule: CompiledRule) -> _Rule:
        when = None if rule.when is None else self._predicate(rule.when)
        if isinstance(rule.select, QuerySelection):
            return _Rule(
                rule.index, when, (rule.select.catalog, self._predicate(rule.select.query)), None
            )
        return _Rule(rule.index, when, None, self._selected(rule.select))

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
