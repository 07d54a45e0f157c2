"""Discovery, parsing and projection: from a workspace directory to typed nodes.

Discovery finds the files rototo knows by directory and suffix (see the workspace layout
reference); parsing turns each into TOML or JSON, reporting failures as diagnostics;
projection reads the fields each document kind declares into nodes that remember where
each field sits, so later lint stages can point at it. Nothing here raises for bad input:
a malformed file becomes a diagnostic, a missing field becomes a `Field` marked missing.

Limits: files are read whole; a file that resolves outside the workspace root (a symlink
escape) is treated as unreadable.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

from rototo_operator.engine import jsonerrors, textspans
from rototo_operator.engine.diagnostics import Diagnostic, Location
from rototo_operator.engine.expressions import Expression, ExpressionSyntaxError, parse_expression
from rototo_operator.engine.rules import make_diagnostic

MANIFEST = "rototo-workspace.toml"

DocKind = Literal[
    "manifest",
    "qualifier",
    "variable",
    "catalog",
    "catalog_entry",
    "request_context",
    "request_context_entry",
    "custom_lint",
]

_PARSE_RULES: dict[str, str] = {
    "manifest": "rototo/workspace-manifest-parse-failed",
    "qualifier": "rototo/qualifier-parse-failed",
    "variable": "rototo/variable-parse-failed",
    "catalog": "rototo/catalog-parse-failed",
    "catalog_entry": "rototo/catalog-entry-parse-failed",
    "request_context": "rototo/request-context-parse-failed",
    "request_context_entry": "rototo/request-context-entry-parse-failed",
    "custom_lint": "rototo/custom-lint-failed",
}


@dataclass
class SourceDocument:
    """One discovered file: its workspace path, kind, ids, text and parse results."""

    path: str
    kind: DocKind
    ids: dict[str, str]
    text: str = ""
    read_error: str | None = None
    data: Any = None
    parsed: bool = False
    _spans: dict[textspans.Path, textspans.Span] | None = None
    _lines: textspans.LineIndex | None = None

    @property
    def lines(self) -> textspans.LineIndex:
        if self._lines is None:
            self._lines = textspans.LineIndex(self.text)
        return self._lines

    def document_location(self) -> Location:
        return Location(self.path)

    def span_location(self, start: int, end: int) -> Location:
        return Location(self.path, self.lines.range(start, end))

    def location_of(self, path: textspans.Path) -> Location:
        """Where the TOML value at `path` sits; the whole document when unknown or empty."""
        if self._spans is None:
            self._spans = textspans.toml_value_spans(self.text) if self.parsed else {}
        span = self._spans.get(path)
        if span is None or span[0] == span[1]:
            return self.document_location()
        return self.span_location(*span)

    def entity(self) -> dict[str, Any]:
        """The diagnostic target entity for this document as a whole."""
        kind = self.kind
        if kind == "manifest":
            return {"kind": "manifest"}
        if kind == "catalog_entry":
            return {"kind": "catalog_entry", "catalog": self.ids["catalog"], "key": self.ids["key"]}
        if kind == "request_context_entry":
            return {
                "kind": "request_context_entry",
                "request_context": self.ids["request_context"],
                "key": self.ids["key"],
            }
        if kind == "custom_lint":
            return {"kind": "custom_lint", "path": self.path}
        return {"kind": kind, "id": self.ids["id"]}


@dataclass
class SourceSet:
    """Every discovered document, in discovery order, plus fatal discovery diagnostics."""

    root: Path
    documents: list[SourceDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    manifest_found: bool = False

    def of_kind(self, kind: DocKind) -> list[SourceDocument]:
        return [document for document in self.documents if document.kind == kind]


def _sorted_files(directory: Path) -> list[Path]:
    """Regular files (or symlinks to files) directly in `directory`, sorted by name."""
    try:
        entries = list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    files = []
    for entry in entries:
        try:
            if entry.is_symlink():
                target_is_file = not entry.exists() or entry.is_file()
                if target_is_file:
                    files.append(entry)
            elif entry.is_file():
                files.append(entry)
        except OSError:
            continue
    return sorted(files, key=lambda path: path.name.encode("utf-8", "surrogateescape"))


def _read(root: Path, relative: str) -> tuple[str, str | None]:
    absolute = root / relative
    try:
        resolved = absolute.resolve(strict=True)
    except FileNotFoundError:
        resolved = None
    except OSError as error:
        return "", f"failed to canonicalize path: {error}"
    if resolved is not None and not resolved.is_relative_to(root):
        return "", "path escapes workspace"
    try:
        raw = absolute.read_bytes()
    except OSError as error:
        return "", f"{error.strerror or error} (os error {error.errno})"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return "", "stream did not contain valid UTF-8"


def discover(root: Path) -> SourceSet:
    """Find the workspace's documents under `root` (no parsing yet)."""
    try:
        resolved = root.resolve(strict=True)
    except OSError as error:
        sources = SourceSet(root)
        sources.diagnostics.append(
            make_diagnostic(
                "rototo/workspace-not-found",
                "discover",
                {"kind": "workspace"},
                Location(str(root)),
                f"{error.strerror or error} (os error {error.errno})",
            )
        )
        return sources
    sources = SourceSet(resolved)
    if not resolved.is_dir():
        sources.diagnostics.append(
            make_diagnostic(
                "rototo/workspace-not-found",
                "discover",
                {"kind": "workspace"},
                Location(str(resolved)),
                "workspace path is not a directory",
            )
        )
        return sources
    if not (resolved / MANIFEST).is_file():
        sources.diagnostics.append(
            make_diagnostic(
                "rototo/workspace-manifest-missing",
                "discover",
                {"kind": "workspace"},
                Location(str(resolved)),
                "workspace manifest is missing",
            )
        )
        return sources
    sources.manifest_found = True

    def add(relative: str, kind: DocKind, ids: dict[str, str]) -> None:
        text, error = _read(resolved, relative)
        sources.documents.append(SourceDocument(relative, kind, ids, text, error))

    add(MANIFEST, "manifest", {})
    for directory, kind in (("qualifiers", "qualifier"), ("variables", "variable")):
        for path in _sorted_files(resolved / directory):
            if path.suffix == ".toml" and path.stem:
                add(f"{directory}/{path.name}", kind, {"id": path.stem})  # type: ignore[arg-type]
    # Catalogs and request contexts share a layout: `<id>.schema.json` plus `<id>-entries/`.
    schema_layouts: tuple[tuple[str, DocKind, DocKind, str], ...] = (
        ("catalogs", "catalog", "catalog_entry", ".toml"),
        ("request-contexts", "request_context", "request_context_entry", ".json"),
    )
    for directory, kind, entry_kind, entry_suffix in schema_layouts:
        for path in _sorted_files(resolved / directory):
            schema_id = path.name.removesuffix(".schema.json")
            if schema_id == path.name or not schema_id:
                continue
            add(f"{directory}/{path.name}", kind, {"id": schema_id})
            for entry in _sorted_files(resolved / directory / f"{schema_id}-entries"):
                if entry.suffix == entry_suffix and entry.stem:
                    add(
                        f"{directory}/{schema_id}-entries/{entry.name}",
                        entry_kind,
                        {kind: schema_id, "key": entry.stem},
                    )
    for path in _sorted_files(resolved / "lint"):
        if path.suffix == ".lua":
            add(f"lint/{path.name}", "custom_lint", {"id": path.stem})
    return sources


# -- parsing ---------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def toml_to_json(value: Any) -> Any:
    """Convert a `tomllib` value to the JSON value the reference derives from TOML."""
    if isinstance(value, dict):
        return {key: toml_to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [toml_to_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | time):
        text = value.isoformat()
        if isinstance(value, datetime) and value.tzinfo is not None and text.endswith("+00:00"):
            text = text[: -len("+00:00")] + "Z"
        return {"$__toml_private_datetime": text}
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text}")
    return value


def parse_json_text(text: str) -> Any:
    """Strict JSON (no NaN/Infinity, no overflowing numbers, no lone surrogates), as
    serde_json reads it."""
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    if "\\u" in text and jsonerrors.locate_json_error(text) is not None:
        # Python accepts unpaired surrogate escapes; the reference does not.
        raise ValueError("invalid unicode escape")
    return value


def _parse_failure(document: SourceDocument, message: str, location: Location) -> Diagnostic:
    return make_diagnostic(
        _PARSE_RULES[document.kind],
        "parse",
        document.entity(),
        location,
        f"failed to parse {document.path}: {message}",
    )


def parse_documents(sources: SourceSet) -> list[Diagnostic]:
    """Parse every readable document in place; report read and syntax failures."""
    diagnostics: list[Diagnostic] = []
    for document in sources.documents:
        if document.read_error is not None:
            if document.kind != "custom_lint":
                diagnostics.append(
                    make_diagnostic(
                        _PARSE_RULES[document.kind],
                        "parse",
                        document.entity(),
                        document.document_location(),
                        f"failed to read {document.path}: {document.read_error}",
                    )
                )
            continue
        if document.kind in ("manifest", "qualifier", "variable", "catalog_entry"):
            try:
                raw = tomllib.loads(document.text)
            except tomllib.TOMLDecodeError as error:
                diagnostics.append(_toml_failure(document, error))
                continue
            if _has_datetime(raw):
                # The reference's TOML reader has no date/time values: it fails on them.
                diagnostics.append(
                    _parse_failure(document, "invalid number", _first_datetime(document, raw))
                )
                continue
            document.data = toml_to_json(raw)
            document.parsed = True
        elif document.kind in ("catalog", "request_context", "request_context_entry"):
            try:
                document.data = parse_json_text(document.text)
                document.parsed = True
            except ValueError as error:
                diagnostics.append(_json_failure(document, error))
    return diagnostics


def _json_failure(document: SourceDocument, error: ValueError) -> Diagnostic:
    """Report invalid JSON where, and as, the reference's reader does."""
    found = jsonerrors.locate_json_error(document.text)
    if found is not None:
        line, column, text = found.line, found.column, found.message
        message = f"{text} at line {line} column {column}"
    elif isinstance(error, json.JSONDecodeError):
        line, column = error.lineno, error.colno
        message = f"{error.msg} at line {line} column {column}"
    else:
        return _parse_failure(document, str(error), document.document_location())
    # The reference reads serde_json's byte column as a UTF-16 character position.
    start = document.lines.offset(line - 1, max(column - 1, 0))
    end = min(start + 1, len(document.text))
    return _parse_failure(document, message, document.span_location(start, end))


def _has_datetime(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_datetime(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_datetime(item) for item in value)
    return isinstance(value, datetime | date | time)


def _value_at(data: Any, path: textspans.Path) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
        elif not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _first_datetime(document: SourceDocument, raw: Any) -> Location:
    """Where the first date/time value starts (up to its first `:`, as the reference)."""
    spans = textspans.toml_value_spans(document.text)
    starts = sorted(
        span
        for path, span in spans.items()
        if isinstance(_value_at(raw, path), datetime | date | time)
    )
    if not starts:
        return document.document_location()
    start, end = starts[0]
    colon = document.text.find(":", start, end)
    return document.span_location(start, colon if colon > start else end)


def _toml_failure(document: SourceDocument, error: tomllib.TOMLDecodeError) -> Diagnostic:
    text = str(error)
    match = _TOML_POSITION.search(text)
    message = _TOML_POSITION.sub("", text).strip()
    if match is None:
        start = len(document.text)
    else:
        start = document.lines.offset(int(match.group(1)) - 1, int(match.group(2)) - 1)
    span = _toml_error_span(document.text, message, start)
    if span is None:
        return _parse_failure(document, message, document.document_location())
    return _parse_failure(document, message, document.span_location(*span))


_TOML_TOKEN = re.compile(r"[^,\]}#\n\r \t]+")
_TOML_KEY = re.compile(r"[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'")


def _toml_error_span(text: str, message: str, position: int) -> tuple[int, int] | None:
    """Where the reference's TOML reader points for an error `tomllib` found at
    `position`: None for the whole document (errors at the end of the text)."""
    lowered = message.lower()
    line_start = text.rfind("\n", 0, position) + 1
    newline = text.find("\n", position)
    line_end = len(text) if newline < 0 else newline + 1
    if lowered.startswith("unterminated string"):
        opening = textspans.unterminated_string_start(text)
        if opening is not None:
            return opening, opening + 1
    if position >= len(text):
        return None
    if lowered.startswith("unclosed inline table") and not text[position:].strip():
        # The reference skips the newlines looking for a comma and meets the end.
        return None
    if lowered.startswith("invalid value") and text[position] != "\n":
        # The offending token, or the one delimiter found where a value should be.
        token = _TOML_TOKEN.match(text, position)
        return (token.start(), token.end()) if token is not None else (position, position + 1)
    if lowered.startswith("unescaped '\\'") and position > 0:
        return position - 1, position
    if lowered.startswith("cannot declare"):
        return line_start, line_end
    if lowered.startswith("cannot overwrite a value"):
        indent = len(text[line_start:line_end]) - len(text[line_start:line_end].lstrip(" \t"))
        key = _TOML_KEY.match(text, line_start + indent)
        if key is not None:
            return key.start(), key.end()
    return (position, line_end) if position < line_end else None


# -- projection --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A projected field: present (with value), invalid (wrong shape) or missing."""

    state: Literal["present", "invalid", "missing"]
    location: Location
    value: Any = None

    @property
    def present(self) -> bool:
        return self.state == "present"


def _field(
    document: SourceDocument,
    table: dict[str, Any],
    path: textspans.Path,
    key: str,
    *,
    missing: Location,
    check: Callable[[Any], Any | None] | None = None,
) -> Field:
    if key not in table:
        return Field("missing", missing)
    location = document.location_of((*path, key))
    raw = table[key]
    if check is None:
        return Field("present", location, raw)
    converted = check(raw)
    if converted is None:
        return Field("invalid", location)
    return Field("present", location, converted)


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_expression(value: Any) -> Expression | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_expression(value)
    except ExpressionSyntaxError:
        return None


@dataclass
class QualifierNode:
    id: str
    document: SourceDocument
    schema_version: Field
    when: Field
    predicate: Location | None

    @property
    def location(self) -> Location:
        return self.document.document_location()

    @property
    def expression(self) -> Expression | None:
        return self.when.value if self.when.present else None


@dataclass
class RuleNode:
    index: int
    location: Location
    invalid_shape: bool
    legacy_qualifier: Location | None = None
    when: Field | None = None
    query: Field | None = None
    value: Field = field(default_factory=lambda: Field("missing", Location("")))


@dataclass
class VariableNode:
    id: str
    document: SourceDocument
    schema_version: Field
    description: Field | None
    type_kind: Literal["primitive", "catalog", "schema", "missing", "conflict", "invalid"]
    type_value: str | None
    type_location: Location
    values_location: Location
    values_invalid: bool
    values_count: int
    resolve_kind: Literal["missing", "invalid", "resolve"]
    resolve_location: Location
    default: Field | None = None
    rules: list[RuleNode] | None = None
    rules_invalid: Location | None = None

    @property
    def location(self) -> Location:
        return self.document.document_location()


@dataclass(frozen=True)
class TypeKind:
    """A parsed variable type: primitive name, catalog id, or list of another type."""

    kind: Literal["primitive", "catalog", "list"]
    name: str = ""
    item: TypeKind | None = None

    def catalog_ids(self) -> list[str]:
        if self.kind == "catalog":
            return [self.name]
        if self.kind == "list" and self.item is not None:
            return self.item.catalog_ids()
        return []

    def list_catalog(self) -> str | None:
        if self.kind == "list" and self.item is not None and self.item.kind == "catalog":
            return self.item.name
        return None


def parse_type(text: str) -> TypeKind | None:
    text = text.strip()
    if text.startswith("list<") and text.endswith(">"):
        item = parse_type(text[len("list<") : -1])
        return None if item is None else TypeKind("list", item=item)
    if text.startswith("catalog:"):
        catalog = text[len("catalog:") :]
        return TypeKind("catalog", catalog) if catalog else None
    return TypeKind("primitive", text)


def variable_type(variable: VariableNode) -> TypeKind | None:
    if variable.type_value is None:
        return None
    if variable.type_kind == "catalog":
        return TypeKind("catalog", variable.type_value)
    if variable.type_kind == "primitive":
        return parse_type(variable.type_value)
    return None


def project_qualifier(document: SourceDocument) -> QualifierNode:
    table = document.data if isinstance(document.data, dict) else {}
    here = document.document_location()
    predicate = document.location_of(("predicate",)) if "predicate" in table else None
    return QualifierNode(
        id=document.ids["id"],
        document=document,
        schema_version=_field(document, table, (), "schema_version", missing=here, check=_as_int),
        when=_field(document, table, (), "when", missing=here, check=_as_expression),
        predicate=predicate,
    )


def project_variable(document: SourceDocument) -> VariableNode:
    table: dict[str, Any] = document.data if isinstance(document.data, dict) else {}
    here = document.document_location()
    variable = VariableNode(
        id=document.ids["id"],
        document=document,
        schema_version=_field(document, table, (), "schema_version", missing=here, check=_as_int),
        description=(
            _field(document, table, (), "description", missing=here, check=_as_str)
            if "description" in table
            else None
        ),
        type_kind="missing",
        type_value=None,
        type_location=here,
        values_location=here,
        values_invalid=False,
        values_count=0,
        resolve_kind="missing",
        resolve_location=here,
    )
    has_type, has_schema = "type" in table, "schema" in table
    if has_type and has_schema:
        variable.type_kind = "conflict"
        variable.type_location = document.location_of(("schema",))
    elif has_type:
        variable.type_location = document.location_of(("type",))
        raw = table["type"]
        if isinstance(raw, str):
            if raw.startswith("catalog:"):
                variable.type_kind, variable.type_value = "catalog", raw[len("catalog:") :]
            else:
                variable.type_kind, variable.type_value = "primitive", raw
        else:
            variable.type_kind = "invalid"
    elif has_schema:
        variable.type_location = document.location_of(("schema",))
        variable.type_kind = "schema" if isinstance(table["schema"], str) else "invalid"
    if "values" in table:
        variable.values_location = document.location_of(("values",))
        values = table["values"]
        if isinstance(values, dict):
            variable.values_count = len(values)
        else:
            variable.values_invalid = True
    if "resolve" in table:
        variable.resolve_location = document.location_of(("resolve",))
        resolve = table["resolve"]
        if not isinstance(resolve, dict):
            variable.resolve_kind = "invalid"
        else:
            variable.resolve_kind = "resolve"
            variable.default = _field(
                document, resolve, ("resolve",), "default", missing=variable.resolve_location
            )
            if "rule" not in resolve:
                variable.rules = []
            elif isinstance(resolve["rule"], list):
                variable.rules = [
                    _project_rule(document, index, item)
                    for index, item in enumerate(resolve["rule"])
                ]
            else:
                variable.rules_invalid = document.location_of(("resolve", "rule"))
    return variable


def _project_rule(document: SourceDocument, index: int, item: Any) -> RuleNode:
    path: textspans.Path = ("resolve", "rule", index)
    location = document.location_of(path)
    if not isinstance(item, dict):
        return RuleNode(index, location, True, value=Field("invalid", location))
    return RuleNode(
        index=index,
        location=location,
        invalid_shape=False,
        legacy_qualifier=document.location_of((*path, "qualifier"))
        if "qualifier" in item
        else None,
        when=_field(document, item, path, "when", missing=location, check=_as_expression)
        if "when" in item
        else None,
        query=(
            _field(document, item, path, "query", missing=location, check=_as_expression)
            if "query" in item
            else None
        ),
        value=_field(document, item, path, "value", missing=location),
    )


@dataclass
class SchemaNode:
    """A catalog or request-context schema file: parsed JSON and compile outcome."""

    id: str
    document: SourceDocument
    json: Any
    invalid_message: str | None = None
    validator: Any = None

    @property
    def location(self) -> Location:
        return self.document.document_location()


@dataclass
class EntryNode:
    """A catalog entry (TOML) or a request-context sample (JSON)."""

    owner: str
    key: str
    document: SourceDocument
    value: Any

    @property
    def location(self) -> Location:
        if self.document.kind == "catalog_entry":
            return self.document.location_of(())
        return self.document.document_location()
