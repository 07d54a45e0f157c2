"""Catalog schemas: compiling them, `x-rototo-catalog-ref` and `x-rototo-ui` checks.

Catalog schemas compile with `jsonschema_rs`, each under the base URI
`rototo://catalogs/<id>.schema.json` and with every other catalog schema registered as a
resource, so `$ref` between catalogs works and nothing is ever fetched from the network
(`offline=True`). Entry values are walked alongside their schema to check catalog
references: the compact string form (`"entry#/pointer"`, one or several candidate
catalogs) and the object form (`{"catalog", "entry", "pointer"}`).

Also here: catalog entry "hydration" used by catalog queries, which replaces reference
strings with the entries they point at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema_rs

from rototo_operator.engine.jsonpointer import is_valid_pointer, resolve_pointer

REF_KEY = "x-rototo-catalog-ref"
UI_KEY = "x-rototo-ui"
URI_PREFIX = "rototo://catalogs/"
_UNRESOLVED_RESOURCE = "is not present in a registry"
_RESOURCE = re.compile(r"Resource '([^']*)' is not present in a registry")

Report = Callable[[str], None]


def catalog_uri(catalog: str) -> str:
    return f"{URI_PREFIX}{catalog}.schema.json"


def _normalize_uri(uri: str) -> str:
    return uri.rstrip("#")


def compile_catalog_schemas(schemas: Mapping[str, Any]) -> dict[str, tuple[Any, str | None]]:
    """Compile each catalog schema: {id: (validator or None, error message or None)}."""
    resources: list[tuple[str, Any]] = []
    for catalog, schema in schemas.items():
        if not isinstance(schema, dict | bool):
            continue
        resources.append((catalog_uri(catalog), schema))
        if isinstance(schema, dict):
            declared = schema.get("$id")
            if isinstance(declared, str) and _normalize_uri(declared):
                resources.append((_normalize_uri(declared), schema))
    registry = _registry(resources)
    compiled: dict[str, tuple[Any, str | None]] = {}
    for catalog, schema in schemas.items():
        try:
            validator = jsonschema_rs.validator_for(
                schema, base_uri=catalog_uri(catalog), registry=registry, offline=True
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as error:
            compiled[catalog] = (None, _first_line(error))
        except (ValueError, TypeError) as error:
            compiled[catalog] = (None, str(error))
        else:
            compiled[catalog] = (validator, None)
    for catalog, (validator, message) in list(compiled.items()):
        compiled[catalog] = (validator, _meta_schema_message(schemas[catalog], message))
    # The reference registers every catalog schema with every validator and resolves the
    # whole registry up front, so one reference to a resource nobody holds fails them all.
    unresolved = [
        message
        for _, (_, message) in sorted(compiled.items())
        if message is not None and _UNRESOLVED_RESOURCE in message
    ]
    if unresolved:
        return {catalog: (None, unresolved[-1]) for catalog in compiled}
    return compiled


def _registry(resources: list[tuple[str, Any]]) -> Any:
    try:
        return jsonschema_rs.Registry(resources)
    except Exception:
        # One bad resource must not hide the others: keep those the registry accepts.
        kept: list[tuple[str, Any]] = []
        for resource in resources:
            try:
                jsonschema_rs.Registry([*kept, resource])
            except Exception:
                continue
            kept.append(resource)
        return jsonschema_rs.Registry(kept) if kept else None


def _meta_schema_message(schema: Any, message: str | None) -> str | None:
    """An unknown `$schema` is reported as the reference words it, not as a fetch failure."""
    match = _RESOURCE.search(message or "")
    if match and isinstance(schema, dict) and schema.get("$schema") == match.group(1):
        return f"Unknown specification: {match.group(1)}"
    return message


def compile_plain_schema(schema: Any) -> tuple[Any, str | None]:
    """Compile a request context schema on its own (no catalog resources)."""
    try:
        return jsonschema_rs.validator_for(schema, offline=True), None
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as error:
        return None, _meta_schema_message(schema, _first_line(error))
    except (ValueError, TypeError) as error:
        return None, str(error)


def _first_line(error: Exception) -> str:
    message = getattr(error, "message", None)
    if isinstance(message, str):
        return message
    return str(error).split("\n", 1)[0]


_ADDITIONAL = re.compile(
    r"^Additional properties are not allowed \((.*) (?:was|were) unexpected\)$"
)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _reference_order(error: Any) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Sort key and message of one error, in the order the reference meets errors.

    The reference walks keywords in sorted order, but checks `properties` together with
    `additionalProperties`, instance key by instance key (in sorted order), naming one
    unexpected key at a time."""
    message = _first_line(error)
    key: list[tuple[int, int, str]] = []
    parts = list(error.schema_path)
    index = 0
    while index < len(parts):
        part = parts[index]
        if isinstance(part, int):
            key.append((0, part, ""))
        elif part == "properties" and index + 1 < len(parts):
            key.append((1, 0, "additionalProperties"))
            key.append((1, 0, str(parts[index + 1])))
            index += 1
        elif part == "additionalProperties" and index == len(parts) - 1:
            match = _ADDITIONAL.match(message)
            names = sorted(_QUOTED.findall(match.group(1))) if match else []
            key.append((1, 0, "additionalProperties"))
            if names:
                key.append((1, 0, names[0]))
                message = f"Additional properties are not allowed ('{names[0]}' was unexpected)"
        else:
            key.append((1, 0, str(part)))
        index += 1
    return tuple(key), message


def validation_error(validator: Any, value: Any) -> str | None:
    """The message of the error the reference reports first, or None when `value` is valid."""
    try:
        if validator.is_valid(value):
            return None
        errors = [
            (*_reference_order(error), position)
            for position, error in enumerate(validator.iter_errors(value))
        ]
    except ValueError as error:
        return str(error)
    if not errors:
        return None
    # Equal paths (several missing `required` names): the validator's own order decides.
    return min(errors, key=lambda item: (item[0], item[2]))[1]


# -- x-rototo-catalog-ref: schema shape --------------------------------------------------


def ref_spec(value: Any) -> list[str] | bool | str:
    """Parse a ref annotation: catalogs list, True for the object form, or an error text."""
    if value is True:
        return True
    if isinstance(value, str):
        if not value:
            return f"{REF_KEY} catalog id must not be empty"
        return [value]
    if isinstance(value, list):
        if not value:
            return f"{REF_KEY} catalog array must not be empty"
        catalogs: list[str] = []
        for item in value:
            if not isinstance(item, str):
                return f"{REF_KEY} catalog array must contain only strings"
            if not item:
                return f"{REF_KEY} catalog id must not be empty"
            catalogs.append(item)
        return catalogs
    return f"{REF_KEY} must be a catalog id string, catalog id array, or true"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def check_ref_annotations(schema: Any, known: Mapping[str, Any], report: Report) -> None:
    """Report malformed annotations and annotations naming catalogs that do not exist."""

    def visit(node: Any, pointer: str) -> None:
        if not isinstance(node, dict):
            return
        if REF_KEY in node:
            spec = ref_spec(node[REF_KEY])
            if isinstance(spec, str):
                report(f"{spec} at {pointer}")
            elif isinstance(spec, list):
                for catalog in spec:
                    if catalog not in known:
                        report(f"{REF_KEY} references unknown catalog {catalog} at {pointer}")
        for keyword in ("properties", "$defs", "definitions", "dependentSchemas"):
            children = node.get(keyword)
            if isinstance(children, dict):
                for key in sorted(children):
                    visit(children[key], f"{pointer}/{_escape(keyword)}/{_escape(key)}")
        if "items" in node:
            visit(node["items"], f"{pointer}/items")
        for keyword in ("allOf", "anyOf", "oneOf", "prefixItems"):
            children = node.get(keyword)
            if isinstance(children, list):
                for index, child in enumerate(children):
                    visit(child, f"{pointer}/{keyword}/{index}")

    visit(schema, "$")


# -- x-rototo-catalog-ref: entry values --------------------------------------------------


class SchemaResolver:
    """Follows `$ref` between catalog schemas without any network access."""

    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas: dict[str, Any] = {}
        self.aliases: dict[str, str] = {}
        for catalog, schema in schemas.items():
            canonical = catalog_uri(catalog)
            self.schemas[canonical] = schema
            self.aliases[canonical] = canonical
            if isinstance(schema, dict):
                declared = schema.get("$id")
                if isinstance(declared, str) and _normalize_uri(declared):
                    self.aliases[_normalize_uri(declared)] = canonical

    def resolve(self, base: str, reference: str) -> tuple[Any, str] | None:
        uri, _, fragment = reference.partition("#")
        target = base if not uri else _join_uri(base, uri)
        if target is None:
            return None
        canonical = self.aliases.get(_normalize_uri(target), target)
        if canonical not in self.schemas:
            return None
        schema = _fragment(self.schemas[canonical], fragment)
        return None if schema is None else (schema, canonical)


def _join_uri(base: str, reference: str) -> str | None:
    if "://" in reference:
        return reference
    if reference.startswith("/"):
        return f"rototo://catalogs{reference}"
    if not base.startswith(URI_PREFIX):
        return None
    tail = base[len(URI_PREFIX) :]
    directory = tail.rsplit("/", 1)[0] + "/" if "/" in tail else ""
    segments: list[str] = []
    for segment in f"{directory}{reference}".split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
        else:
            segments.append(segment)
    return URI_PREFIX + "/".join(segments)


def _fragment(schema: Any, fragment: str) -> Any:
    if not fragment:
        return schema
    if fragment.startswith("/") and is_valid_pointer(fragment):
        found, value = resolve_pointer(schema, fragment)
        return value if found else None
    return _anchor(schema, fragment)


def _anchor(schema: Any, anchor: str) -> Any:
    if not isinstance(schema, dict):
        return None
    if schema.get("$anchor") == anchor:
        return schema
    for value in schema.values():
        candidates = value if isinstance(value, list) else [value]
        for candidate in candidates:
            if isinstance(candidate, dict):
                found = _anchor(candidate, anchor)
                if found is not None:
                    return found
    return None


def _type_matches(name: str, value: Any) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "array": lambda v: isinstance(v, list),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "null": lambda v: v is None,
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
    }
    check = checks.get(name)
    return True if check is None else check(value)


def _json_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _obviously_matches(schema: Any, value: Any) -> bool:
    if not isinstance(schema, dict):
        return True
    declared = schema.get("type")
    if isinstance(declared, str) and not _type_matches(declared, value):
        return False
    if "const" in schema and not _json_equal(schema["const"], value):
        return False
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(_json_equal(item, value) for item in enum):
        return False
    if isinstance(value, dict):
        required = schema.get("required")
        if isinstance(required, list):
            for name in required:
                if isinstance(name, str) and name not in value:
                    return False
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for key, sub in properties.items():
                if key not in value or not isinstance(sub, dict):
                    continue
                if "const" in sub and not _json_equal(sub["const"], value[key]):
                    return False
                sub_enum = sub.get("enum")
                if isinstance(sub_enum, list) and not any(
                    _json_equal(item, value[key]) for item in sub_enum
                ):
                    return False
    return True


def _applicable(keyword: str, schemas: list[Any], value: Any) -> list[Any]:
    if keyword == "allOf":
        return schemas
    matching = [schema for schema in schemas if _obviously_matches(schema, value)]
    return matching or schemas


class EntryReferenceChecker:
    """Checks one catalog entry's references against the workspace's catalog entries."""

    def __init__(
        self,
        schemas: Mapping[str, Any],
        entries: Mapping[str, Mapping[str, Any]],
        resolver: SchemaResolver,
        report: Report,
    ) -> None:
        self.schemas = schemas
        self.entries = entries
        self.resolver = resolver
        self.report = report
        self.visited: set[tuple[str, str, str]] = set()

    def check(self, schema: Any, base: str, value: Any, path: str) -> None:
        if not isinstance(schema, dict):
            return
        reference = schema.get("$ref")
        if isinstance(reference, str):
            key = (base, reference, path)
            if key not in self.visited:
                self.visited.add(key)
                resolved = self.resolver.resolve(base, reference)
                if resolved is not None:
                    self.check(resolved[0], resolved[1], value, path)
        if REF_KEY in schema:
            spec = ref_spec(schema[REF_KEY])
            if isinstance(spec, list):
                if isinstance(value, str):
                    self._compact(spec, value, path)
            elif spec is True:
                self._object(value, path)
        properties = schema.get("properties")
        if isinstance(properties, dict) and isinstance(value, dict):
            for key in sorted(properties):
                if key in value:
                    self.check(properties[key], base, value[key], f"{path}.{key}")
        items = schema.get("items")
        if items is not None and isinstance(value, list):
            for index, child in enumerate(value):
                self.check(items, base, child, f"{path}[{index}]")
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and isinstance(value, list):
            for index, sub in enumerate(prefix):
                if index < len(value):
                    self.check(sub, base, value[index], f"{path}[{index}]")
        for keyword in ("allOf", "anyOf", "oneOf"):
            subs = schema.get(keyword)
            if isinstance(subs, list):
                for sub in _applicable(keyword, subs, value):
                    self.check(sub, base, value, path)

    def _has_entry(self, catalog: str, entry: str) -> bool:
        return entry in self.entries.get(catalog, {})

    def _compact(self, catalogs: list[str], target: str, path: str) -> None:
        entry, hash_mark, pointer = target.partition("#")
        if not entry:
            self.report(f"{path} references empty catalog entry")
            return
        if hash_mark and not is_valid_pointer(pointer):
            self.report(f"{path} references invalid JSON Pointer: {pointer}")
            return
        found: list[str] = []
        for catalog in catalogs:
            if catalog not in self.schemas:
                self.report(f"{path} references unknown catalog: {catalog}")
                continue
            if self._has_entry(catalog, entry):
                found.append(catalog)
        if not found:
            known = [catalog for catalog in catalogs if catalog in self.schemas]
            if len(known) == 1:
                self.report(f"{path} references unknown {known[0]} entry: {entry}")
            elif known:
                self.report(
                    f"{path} references unknown catalog entry {entry}; "
                    f"checked catalogs: {', '.join(known)}"
                )
        elif len(found) == 1:
            self._pointer(found[0], entry, pointer or None, path)
        else:
            self.report(
                f"{path} references ambiguous catalog entry {entry}; "
                f"found in catalogs: {', '.join(found)}"
            )

    def _object(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            return
        catalog, entry = value.get("catalog"), value.get("entry")
        if not isinstance(catalog, str) or not isinstance(entry, str):
            return
        pointer = value.get("pointer", "")
        if not isinstance(pointer, str):
            return
        if catalog not in self.schemas:
            self.report(f"{path} references unknown catalog: {catalog}")
            return
        if not self._has_entry(catalog, entry):
            self.report(f"{path} references unknown {catalog} entry: {entry}")
            return
        if pointer and not is_valid_pointer(pointer):
            self.report(f"{path} references invalid JSON Pointer: {pointer}")
            return
        self._pointer(catalog, entry, pointer or None, path)

    def _pointer(self, catalog: str, entry: str, pointer: str | None, path: str) -> None:
        if pointer is None:
            return
        found, _ = resolve_pointer(self.entries[catalog][entry], pointer)
        if not found:
            self.report(f"{path} references missing path {pointer} in {catalog} entry: {entry}")


# -- x-rototo-ui editor hints ------------------------------------------------------------

_STRING = ("string",)
WIDGETS: dict[str, dict[str, Any]] = {
    "checkbox": {"types": ("boolean",), "params": {}},
    "code": {"types": _STRING, "params": {"language": "string", "rows": "integer"}},
    "color": {"types": _STRING, "params": {}},
    "date": {"types": _STRING, "params": {}},
    "datetime": {"types": _STRING, "params": {}},
    "email": {"types": _STRING, "params": {}},
    "markdown": {"types": _STRING, "params": {"rows": "integer"}},
    "multiselect": {"types": ("array",), "params": {}, "enum": True},
    "number": {
        "types": ("integer", "number"),
        "params": {"min": "number", "max": "number", "step": "number"},
    },
    "percent": {
        "types": ("integer", "number"),
        "params": {"min": "number", "max": "number", "step": "number"},
    },
    "radio": {"types": _STRING, "params": {}, "enum": True},
    "slider": {
        "types": ("integer", "number"),
        "params": {"min": "number", "max": "number", "step": "number"},
        "bounds": True,
    },
    "tags": {"types": ("array",), "params": {}},
    "textarea": {"types": _STRING, "params": {"rows": "integer"}},
    "time": {"types": _STRING, "params": {}},
    "toggle": {"types": ("boolean",), "params": {}},
    "url": {"types": _STRING, "params": {}},
}
_TYPE_ORDER = ("null", "boolean", "integer", "number", "string", "array", "object")


def _hint_nodes(node: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if UI_KEY in node:
            yield pointer, node
        for key in sorted(node):
            if key != UI_KEY:
                yield from _hint_nodes(node[key], f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _hint_nodes(child, f"{pointer}/{index}")


def _declared_types(node: dict[str, Any]) -> list[str] | None:
    declared = node.get("type")
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names:
        return None
    if not all(isinstance(name, str) and name in _TYPE_ORDER for name in names):
        return None
    return sorted(set(names), key=_TYPE_ORDER.index)


def _types_label(types: list[str]) -> str:
    if len(types) == 1:
        return types[0]
    if len(types) == 2:
        return f"{types[0]} or {types[1]}"
    return f"{', '.join(types[:-1])}, or {types[-1]}"


def _param_ok(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_ui_hints(schema: Any, report: Callable[[str, str], None]) -> None:
    """Report malformed `x-rototo-ui` hints: report(rule, message)."""
    for pointer, node in _hint_nodes(schema, "#"):
        hint = node[UI_KEY]
        if not isinstance(hint, dict):
            report("rototo/schema-ui-widget-params", f"{UI_KEY} must be an object at {pointer}")
            continue
        name = hint.get("widget")
        if not isinstance(name, str):
            report(
                "rototo/schema-ui-widget-params",
                f"{UI_KEY} must declare a widget string at {pointer}",
            )
            continue
        widget = WIDGETS.get(name)
        if widget is None:
            report(
                "rototo/schema-ui-unknown-widget",
                f"unknown ui widget {name} at {pointer}; known widgets: {', '.join(WIDGETS)}",
            )
            continue
        allowed = sorted(widget["types"])
        types = _declared_types(node)
        if types is not None and not any(kind in allowed for kind in types):
            report(
                "rototo/schema-ui-widget-type-mismatch",
                f"ui widget {name} supports {', '.join(allowed)}, but the property at "
                f"{pointer} is declared as {_types_label(types)}",
            )
        params: dict[str, str] = widget["params"]
        for key in sorted(hint):
            if key == "widget":
                continue
            if key not in params:
                report(
                    "rototo/schema-ui-widget-params",
                    f"unknown {UI_KEY} parameter {key} for widget {name} at {pointer}",
                )
            elif not _param_ok(params[key], hint[key]):
                report(
                    "rototo/schema-ui-widget-params",
                    f"{UI_KEY} parameter {key} for widget {name} must be a {params[key]} "
                    f"at {pointer}",
                )
        if widget.get("bounds"):
            low = hint.get("min", node.get("minimum"))
            high = hint.get("max", node.get("maximum"))
            if not (_is_number(low) and _is_number(high)):
                report(
                    "rototo/schema-ui-widget-params",
                    f"{name} widget at {pointer} needs bounds: set {UI_KEY} min and max or "
                    "schema minimum and maximum",
                )
        if widget.get("enum"):
            enum = node.get("enum")
            if enum is None and isinstance(node.get("items"), dict):
                enum = node["items"].get("enum")
            if not (isinstance(enum, list) and enum):
                report(
                    "rototo/schema-ui-widget-params",
                    f"{name} widget at {pointer} requires an enum on the property or its items",
                )


# -- hydration (catalog queries) ---------------------------------------------------------


class Hydrator:
    """Builds the view of a catalog entry a query sees: `id` added, references expanded."""

    def __init__(self, schemas: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]]):
        self.schemas = schemas
        self.entries = entries

    def entry_view(self, catalog: str, name: str) -> Any:
        return self._entry(catalog, name, self.entries[catalog][name], set())

    def _entry(self, catalog: str, name: str, entry: Any, stack: set[tuple[str, str]]) -> Any:
        value = dict(entry) if isinstance(entry, dict) else entry
        if isinstance(value, dict):
            value["id"] = name
        if (catalog, name) in stack:
            return value
        stack.add((catalog, name))
        schema = self.schemas.get(catalog)
        result = value if schema is None else self._value(catalog, schema, value, stack)
        stack.discard((catalog, name))
        return result

    def _schema_ref(self, catalog: str, reference: str) -> tuple[str, Any] | None:
        uri, _, pointer = reference.partition("#")
        if not uri:
            target = catalog
        elif uri.startswith(URI_PREFIX) and uri.endswith(".schema.json"):
            target = uri[len(URI_PREFIX) : -len(".schema.json")]
        else:
            matches = [
                name
                for name, schema in self.schemas.items()
                if isinstance(schema, dict) and schema.get("$id") == uri
            ]
            if not matches:
                return None
            target = sorted(matches)[0]
        schema = self.schemas.get(target)
        if schema is None:
            return None
        if not pointer:
            return target, schema
        if not pointer.startswith("/"):
            return None
        found, sub = resolve_pointer(schema, pointer)
        return (target, sub) if found else None

    def _value(self, catalog: str, schema: Any, value: Any, stack: set[tuple[str, str]]) -> Any:
        if not isinstance(schema, dict):
            return value
        reference = schema.get("$ref")
        if isinstance(reference, str):
            resolved = self._schema_ref(catalog, reference)
            if resolved is not None:
                return self._value(resolved[0], resolved[1], value, stack)
        if REF_KEY in schema:
            hydrated = self._reference(schema[REF_KEY], value, stack)
            if hydrated is not None:
                return hydrated
        result = value
        properties = schema.get("properties")
        if isinstance(properties, dict) and isinstance(result, dict):
            result = dict(result)
            for key in sorted(properties):
                if key in result:
                    result[key] = self._value(catalog, properties[key], result[key], stack)
        items = schema.get("items")
        if items is not None and isinstance(result, list):
            result = [self._value(catalog, items, child, stack) for child in result]
        for keyword in ("allOf", "anyOf", "oneOf"):
            subs = schema.get(keyword)
            if isinstance(subs, list):
                for sub in subs:
                    result = self._value(catalog, sub, result, stack)
        return result

    def _reference(self, spec: Any, value: Any, stack: set[tuple[str, str]]) -> Any:
        if spec is True:
            if not isinstance(value, dict):
                return None
            catalog, entry = value.get("catalog"), value.get("entry")
            if not isinstance(catalog, str) or not isinstance(entry, str):
                return None
            pointer = value.get("pointer")
            return self._target(
                catalog, entry, pointer if isinstance(pointer, str) else None, value, stack
            )
        if isinstance(spec, str):
            catalogs = [spec]
        elif isinstance(spec, list):
            catalogs = [item for item in spec if isinstance(item, str)]
        else:
            return None
        if not isinstance(value, str):
            return None
        entry, hash_mark, pointer = value.partition("#")
        if not entry or (hash_mark and pointer and not pointer.startswith("/")):
            return None
        for catalog in catalogs:
            if entry in self.entries.get(catalog, {}):
                return self._target(catalog, entry, pointer or None, value, stack)
        return None

    def _target(
        self,
        catalog: str,
        entry: str,
        pointer: str | None,
        fallback: Any,
        stack: set[tuple[str, str]],
    ) -> Any:
        if (catalog, entry) in stack:
            return fallback
        raw = self.entries.get(catalog, {}).get(entry)
        if raw is None:
            return None
        hydrated = self._entry(catalog, entry, raw, stack)
        if pointer is None:
            return hydrated
        found, sub = resolve_pointer(hydrated, pointer)
        return sub if found else fallback
