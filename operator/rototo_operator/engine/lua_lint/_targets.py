"""Rule target addresses, their expansion over the workspace view, and diagnostic anchors.

A registration names a REST-style address (`/variables/<id>/rules`); expanding it over the
view yields one `Target` per handler invocation. A handler's returned JSON Pointer is then
mapped back to the most precise semantic entity and field the reference can name, and to
the source location the engine recorded for it in the view's `locations` table, falling back
to the current target when the pointer does not match the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rototo_operator.engine import diagnostics

_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_COLLECTIONS = {
    "qualifiers": "qualifier",
    "variables": "variable",
    "catalogs": "catalog",
    "request-contexts": "request_context",
}


class AddressError(ValueError):
    """The registration target is not an address the reference accepts."""


@dataclass(frozen=True)
class Address:
    """A parsed registration target: a collection or one member, maybe one level down."""

    kind: str  # workspace | qualifier | variable | catalog | request_context
    id: str | None = None
    child: str | None = None  # values | rules | entries
    key: str | None = None  # value key, rule index (as text) or entry key

    def canonical(self) -> str:
        """The normalised address text; two registrations with equal text select equally."""
        if self.kind == "workspace":
            return "/"
        collection = {v: k for k, v in _COLLECTIONS.items()}[self.kind]
        parts = [collection]
        for part in (self.id, self.child, self.key):
            if part is not None:
                parts.append(part)
        return "/" + "/".join(parts)


def parse_address(target: str) -> Address:
    normalized = "/" if target == "/" else target.rstrip("/")
    if not normalized.startswith("/"):
        raise AddressError(target)
    segments = [segment for segment in normalized[1:].split("/") if segment]
    if not segments:
        return Address("workspace")
    head, rest = segments[0], segments[1:]
    kind = _COLLECTIONS.get(head)
    if kind is None or len(rest) > 3:
        raise AddressError(target)
    if not rest:
        return Address(kind)
    entity_id = _identifier(target, rest[0])
    if len(rest) == 1:
        return Address(kind, entity_id)
    child = rest[1]
    allowed = {"variable": ("values", "rules"), "catalog": ("entries",)}.get(kind)
    if kind == "request_context":
        allowed = ("entries",)
    if allowed is None or child not in allowed:
        raise AddressError(target)
    if len(rest) == 2:
        return Address(kind, entity_id, child)
    key = rest[2]
    if child == "rules":
        # Rust's usize parse: ASCII digits with an optional leading plus.
        digits = key.removeprefix("+")
        if not digits.isascii() or not digits.isdigit():
            raise AddressError(target)
        key = str(int(digits))
    else:
        key = _identifier(target, key)
    return Address(kind, entity_id, child, key)


def _identifier(target: str, segment: str) -> str:
    if _ID.fullmatch(segment) is None:
        raise AddressError(target)
    return segment


@dataclass(frozen=True)
class Entity:
    """A semantic entity: its JSON identity and the key of its entry in `locations`."""

    json: tuple[tuple[str, Any], ...]
    key: str

    @property
    def kind(self) -> str:
        return str(dict(self.json)["kind"])

    def to_json(self) -> dict[str, Any]:
        return dict(self.json)


def _entity(location_key: str, /, **fields: Any) -> Entity:
    return Entity(tuple(fields.items()), location_key)


WORKSPACE = _entity("/", kind="workspace")


def qualifier_entity(qualifier_id: str) -> Entity:
    return _entity(f"/qualifiers/{qualifier_id}", kind="qualifier", id=qualifier_id)


def variable_entity(variable_id: str) -> Entity:
    return _entity(f"/variables/{variable_id}", kind="variable", id=variable_id)


def value_entity(variable_id: str, key: str) -> Entity:
    return _entity(
        f"/variables/{variable_id}/values/{key}", kind="value", variable=variable_id, key=key
    )


def rule_entity(variable_id: str, index: int) -> Entity:
    return _entity(
        f"/variables/{variable_id}/rules/{index}", kind="rule", variable=variable_id, index=index
    )


def catalog_entity(catalog_id: str) -> Entity:
    return _entity(f"/catalogs/{catalog_id}", kind="catalog", id=catalog_id)


def catalog_entry_entity(catalog_id: str, key: str) -> Entity:
    return _entity(
        f"/catalogs/{catalog_id}/entries/{key}", kind="catalog_entry", catalog=catalog_id, key=key
    )


def request_context_entity(context_id: str) -> Entity:
    return _entity(f"/request-contexts/{context_id}", kind="request_context", id=context_id)


def request_context_entry_entity(context_id: str, key: str) -> Entity:
    return _entity(
        f"/request-contexts/{context_id}/entries/{key}",
        kind="request_context_entry",
        request_context=context_id,
        key=key,
    )


@dataclass(frozen=True)
class Target:
    """One handler invocation: who it is about, where that is, and the data the script gets."""

    entity: Entity
    location: diagnostics.Location
    pointer: tuple[str | int, ...]  # path into the workspace view; () is the workspace target

    def semantic(self, field: Mapping[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"entity": self.entity.to_json()}
        if field is not None:
            out["field"] = dict(field)
        return out


@dataclass(frozen=True)
class Anchor:
    target: dict[str, Any]
    location: diagnostics.Location


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rules(variable: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    resolve = _mapping(variable.get("resolve"))
    if resolve.get("kind", "resolve") != "resolve":
        return []
    rules = resolve.get("rules")
    if not isinstance(rules, list):
        return []
    return [(position, rule) for position, rule in enumerate(rules) if isinstance(rule, Mapping)]


def _rule_index(position: int, rule: Mapping[str, Any]) -> int:
    index = rule.get("index", position)
    return index if isinstance(index, int) else position


class WorkspaceModel:
    """Read access to the view: members, locations, target expansion and pointer anchors."""

    def __init__(self, workspace: Mapping[str, Any], locations: Mapping[str, Any]) -> None:
        self.workspace = workspace
        self.locations = locations

    # -- members -------------------------------------------------------------------------

    def members(self, collection: str) -> Mapping[str, Any]:
        return _mapping(self.workspace.get(collection))

    def manifest(self) -> Mapping[str, Any] | None:
        manifest = self.workspace.get("manifest")
        return manifest if isinstance(manifest, Mapping) else None

    def _find_rule(self, variable_id: str, index: int) -> tuple[int, Mapping[str, Any]] | None:
        variable = self.members("variables").get(variable_id)
        if not isinstance(variable, Mapping):
            return None
        for position, rule in _rules(variable):
            if _rule_index(position, rule) == index:
                return position, rule
        return None

    # -- locations -----------------------------------------------------------------------

    def _given(self, key: str) -> diagnostics.Location | None:
        value = self.locations.get(key)
        if isinstance(value, diagnostics.Location):
            return value
        if isinstance(value, Mapping) and isinstance(value.get("path"), str):
            return _location_from_json(value)
        return None

    def entity_location(self, entity: Entity) -> diagnostics.Location | None:
        """Where an existing entity lives; None when the view has no such entity."""
        ids = entity.to_json()
        path: Any
        if entity.kind == "workspace":
            manifest = self.manifest()
            if manifest is None:
                return None
            path = manifest.get("path") or "rototo-workspace.toml"
        elif entity.kind in ("qualifier", "variable", "catalog", "request_context"):
            collection = {
                "qualifier": "qualifiers",
                "variable": "variables",
                "catalog": "catalogs",
                "request_context": "request_contexts",
            }[entity.kind]
            member = self.members(collection).get(ids["id"])
            if not isinstance(member, Mapping):
                return None
            path = member.get("path")
        elif entity.kind == "value":
            variable = _mapping(self.members("variables").get(ids["variable"]))
            if ids["key"] not in _mapping(variable.get("values")):
                return None
            path = variable.get("path")
        elif entity.kind == "rule":
            if self._find_rule(ids["variable"], ids["index"]) is None:
                return None
            path = _mapping(self.members("variables").get(ids["variable"])).get("path")
        elif entity.kind in ("catalog_entry", "request_context_entry"):
            parent_kind = "catalogs" if entity.kind == "catalog_entry" else "request_contexts"
            parent_id = ids["catalog" if entity.kind == "catalog_entry" else "request_context"]
            parent = _mapping(self.members(parent_kind).get(parent_id))
            entry = _mapping(parent.get("entries")).get(ids["key"])
            if not isinstance(entry, Mapping):
                return None
            path = entry.get("path")
        else:
            return None
        given = self._given(entity.key)
        if given is not None:
            return given
        return diagnostics.Location(path=str(path) if path is not None else "")

    # Fields whose source span the reference reports on their own; every other field of an
    # entity reports at the entity's location.
    _OWN_FIELD_LOCATIONS: ClassVar[dict[str, frozenset[str]]] = {
        "workspace": frozenset({"workspace_extends"}),
        "qualifier": frozenset({"description", "qualifier_when"}),
        "variable": frozenset(
            {
                "description",
                "variable_type",
                "variable_schema",
                "variable_values",
                "variable_resolve",
                "variable_resolve_default",
            }
        ),
        "rule": frozenset({"variable_rule_when", "variable_rule_query", "variable_rule_value"}),
    }

    def _anchor(self, entity: Entity, field: dict[str, Any] | None = None) -> Anchor | None:
        location = self.entity_location(entity)
        if location is None:
            return None
        target: dict[str, Any] = {"entity": entity.to_json()}
        if field is not None:
            target["field"] = field
            if field["kind"] in self._OWN_FIELD_LOCATIONS.get(entity.kind, frozenset()):
                location = self._given(f"{entity.key}#{field['kind']}") or location
        return Anchor(target, location)

    # -- target expansion ----------------------------------------------------------------

    def targets(self, address: Address) -> list[Target]:
        found: list[Target] = []

        def add(entity: Entity, pointer: tuple[str | int, ...]) -> None:
            location = self.entity_location(entity)
            if location is not None:
                found.append(Target(entity, location, pointer))

        if address.kind == "workspace":
            add(WORKSPACE, ())
            return found
        collection = {
            "qualifier": "qualifiers",
            "variable": "variables",
            "catalog": "catalogs",
            "request_context": "request_contexts",
        }[address.kind]
        make = {
            "qualifier": qualifier_entity,
            "variable": variable_entity,
            "catalog": catalog_entity,
            "request_context": request_context_entity,
        }[address.kind]
        members = self.members(collection)
        ids = sorted(members) if address.id is None else [address.id]
        for member_id in ids:
            member = members.get(member_id)
            if not isinstance(member, Mapping):
                continue
            if address.child is None:
                add(make(member_id), (collection, member_id))
            elif address.child == "values":
                values = _mapping(member.get("values"))
                keys = sorted(values) if address.key is None else [address.key]
                for key in keys:
                    if key in values:
                        add(value_entity(member_id, key), (collection, member_id, "values", key))
            elif address.child == "rules":
                for position, rule in _rules(member):
                    index = _rule_index(position, rule)
                    if address.key is None or int(address.key) == index:
                        pointer = (collection, member_id, "resolve", "rules", position)
                        add(rule_entity(member_id, index), pointer)
            else:
                entries = _mapping(member.get("entries"))
                keys = sorted(entries) if address.key is None else [address.key]
                entry_entity = (
                    catalog_entry_entity
                    if address.kind == "catalog"
                    else request_context_entry_entity
                )
                for key in keys:
                    if isinstance(entries.get(key), Mapping):
                        add(entry_entity(member_id, key), (collection, member_id, "entries", key))
        return found

    # -- returned pointers ---------------------------------------------------------------

    def anchor(self, target: Target, path: str | None) -> Anchor:
        """Where a handler's diagnostic attaches, given its optional JSON Pointer."""
        current = Anchor(target.semantic(), target.location)
        if path is None:
            return current
        tokens = _parse_pointer(path.strip())
        if tokens is None:
            return current
        return self._resolve(target.entity, tokens) or current

    def _resolve(self, entity: Entity, tokens: list[str]) -> Anchor | None:
        ids = entity.to_json()
        kind = entity.kind
        if kind == "workspace":
            return self._workspace_pointer(tokens)
        if kind == "qualifier":
            return self._qualifier_pointer(ids["id"], tokens)
        if kind == "variable":
            return self._variable_pointer(ids["id"], tokens)
        if kind == "value":
            return self._value_pointer(ids["variable"], ids["key"], tokens)
        if kind == "rule":
            return self._rule_pointer(ids["variable"], ids["index"], tokens)
        if kind == "catalog":
            return self._catalog_pointer(ids["id"], tokens)
        if kind == "catalog_entry":
            return self._entry_pointer(catalog_entry_entity(ids["catalog"], ids["key"]), tokens)
        if kind == "request_context":
            return self._request_context_pointer(ids["id"], tokens)
        if kind == "request_context_entry":
            entity = request_context_entry_entity(ids["request_context"], ids["key"])
            return self._entry_pointer(entity, tokens)
        return None

    def _workspace_pointer(self, tokens: list[str]) -> Anchor | None:
        if not tokens:
            return self._anchor(WORKSPACE)
        if self.manifest() is None:
            return None
        extends = {"kind": "workspace_extends"}
        head = tokens[0]
        if head == "extends":
            return self._anchor(WORKSPACE, extends)
        if tokens == ["manifest"]:
            return self._anchor(WORKSPACE)
        if head == "manifest" and tokens[1] == "extends":
            return self._anchor(WORKSPACE, extends)
        if len(tokens) >= 2:
            member_id, rest = tokens[1], tokens[2:]
            nested = None
            if head == "qualifiers":
                nested = self._qualifier_pointer(member_id, rest)
            elif head == "variables":
                nested = self._variable_pointer(member_id, rest)
            elif head == "catalogs":
                nested = self._catalog_pointer(member_id, rest)
            elif head == "request_contexts":
                nested = self._request_context_pointer(member_id, rest)
            if nested is not None:
                return nested
        return self._anchor(WORKSPACE)

    def _qualifier_pointer(self, qualifier_id: str, tokens: list[str]) -> Anchor | None:
        if not isinstance(self.members("qualifiers").get(qualifier_id), Mapping):
            return None
        entity = qualifier_entity(qualifier_id)
        if tokens and tokens[0] == "description":
            return self._anchor(entity, {"kind": "description"})
        if tokens and tokens[0] == "when":
            return self._anchor(entity, {"kind": "qualifier_when"})
        return self._anchor(entity)

    def _variable_pointer(self, variable_id: str, tokens: list[str]) -> Anchor | None:
        if not isinstance(self.members("variables").get(variable_id), Mapping):
            return None
        entity = variable_entity(variable_id)

        def field(kind: str) -> Anchor | None:
            return self._anchor(entity, {"kind": kind})

        if not tokens:
            return self._anchor(entity)
        head = tokens[0]
        if head == "description":
            return field("description")
        if head in ("declaration", "type"):
            return field("variable_type")
        if head == "schema":
            return field("variable_schema")
        if head == "values":
            if len(tokens) == 1:
                return field("variable_values")
            return self._value_pointer(variable_id, tokens[1], tokens[2:]) or field(
                "variable_values"
            )
        if head == "resolve":
            if len(tokens) == 1:
                return field("variable_resolve")
            if tokens[1] == "default":
                return field("variable_resolve_default")
            if tokens[1] == "rules":
                if len(tokens) == 2:
                    return field("variable_resolve")
                index = _pointer_index(tokens[2])
                if index is None:
                    return field("variable_resolve")
                return self._rule_pointer(variable_id, index, tokens[3:]) or field(
                    "variable_resolve"
                )
        return self._anchor(entity)

    def _value_pointer(self, variable_id: str, key: str, tokens: list[str]) -> Anchor | None:
        entity = value_entity(variable_id, key)
        if self.entity_location(entity) is None:
            return None
        if tokens == ["value"]:
            return self._anchor(entity, {"kind": "value"})
        if tokens and tokens[0] == "value":
            return self._anchor(entity, {"kind": "value_json_path", "path": tokens[1:]})
        return self._anchor(entity)

    def _rule_pointer(self, variable_id: str, index: int, tokens: list[str]) -> Anchor | None:
        entity = rule_entity(variable_id, index)
        if self.entity_location(entity) is None:
            return None
        fields = {
            "when": "variable_rule_when",
            "query": "variable_rule_query",
            "value": "variable_rule_value",
        }
        if tokens and tokens[0] in fields:
            return self._anchor(entity, {"kind": fields[tokens[0]]})
        return self._anchor(entity)

    def _catalog_pointer(self, catalog_id: str, tokens: list[str]) -> Anchor | None:
        if not isinstance(self.members("catalogs").get(catalog_id), Mapping):
            return None
        entity = catalog_entity(catalog_id)
        nested = self._schema_pointer(entity, tokens)
        if nested is not None:
            return nested
        if len(tokens) >= 2 and tokens[0] == "entries":
            entry = catalog_entry_entity(catalog_id, tokens[1])
            return self._entry_pointer(entry, tokens[2:]) or self._anchor(entity)
        return self._anchor(entity)

    def _request_context_pointer(self, context_id: str, tokens: list[str]) -> Anchor | None:
        if not isinstance(self.members("request_contexts").get(context_id), Mapping):
            return None
        entity = request_context_entity(context_id)
        nested = self._schema_pointer(entity, tokens)
        if nested is not None:
            return nested
        if len(tokens) >= 2 and tokens[0] == "entries":
            entry = request_context_entry_entity(context_id, tokens[1])
            return self._entry_pointer(entry, tokens[2:]) or self._anchor(entity)
        return self._anchor(entity)

    def _schema_pointer(self, entity: Entity, tokens: list[str]) -> Anchor | None:
        if tokens == ["json"]:
            return self._anchor(entity, {"kind": "schema_json"})
        if tokens and tokens[0] == "json":
            return self._anchor(entity, {"kind": "schema_json_path", "path": tokens[1:]})
        return None

    def _entry_pointer(self, entity: Entity, tokens: list[str]) -> Anchor | None:
        if self.entity_location(entity) is None:
            return None
        whole = "catalog_entry" if entity.kind == "catalog_entry" else "request_context_entry"
        if tokens == ["value"]:
            return self._anchor(entity, {"kind": whole})
        if tokens and tokens[0] == "value":
            return self._anchor(entity, {"kind": "value_json_path", "path": tokens[1:]})
        return self._anchor(entity)


def _parse_pointer(pointer: str) -> list[str] | None:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        return None
    tokens: list[str] = []
    for raw in pointer[1:].split("/"):
        decoded: list[str] = []
        chars = iter(raw)
        for char in chars:
            if char != "~":
                decoded.append(char)
                continue
            escape = next(chars, None)
            if escape == "0":
                decoded.append("~")
            elif escape == "1":
                decoded.append("/")
            else:
                return None
        tokens.append("".join(decoded))
    return tokens


def _pointer_index(token: str) -> int | None:
    if not token or not token.isascii() or not token.isdigit():
        return None
    return int(token)


def _location_from_json(value: Mapping[str, Any]) -> diagnostics.Location:
    span = value.get("range")
    if not isinstance(span, Mapping):
        return diagnostics.Location(path=str(value["path"]))
    start, end = span["start"], span["end"]
    return diagnostics.Location(
        path=str(value["path"]),
        range=diagnostics.Range(
            diagnostics.Position(int(start["line"]), int(start["character"])),
            diagnostics.Position(int(end["line"]), int(end["character"])),
        ),
    )
