"""Project the engine's workspace index into the view custom Lua lint runs against.

`build_view(index)` produces `{"workspace": ..., "locations": ...}`: the semantic workspace
in the reference's shape (what scripts see) and the source location of every entity and
field a diagnostic can attach to (what the runner reports). Keeping the projection here
keeps the script-facing data model next to the code that hands it to scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rototo_operator.engine import diagnostics

if TYPE_CHECKING:
    from rototo_operator.engine.documents import (
        EntryNode,
        Field,
        QualifierNode,
        RuleNode,
        SchemaNode,
        SourceDocument,
        VariableNode,
    )
    from rototo_operator.engine.lint import WorkspaceIndex


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/.-_~:")


def _uri(root: Path, relative: str) -> str:
    """A file URI, percent-encoding every byte outside the reference's safe set."""
    raw = str(root / relative).encode("utf-8", "surrogateescape")
    return "file://" + "".join(chr(byte) if byte in _URI_SAFE else f"%{byte:02X}" for byte in raw)


def _table(document: SourceDocument) -> dict[str, Any]:
    return document.data if document.parsed and isinstance(document.data, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _value(field: Field | None) -> Any:
    """A projected field's value, or None (JSON null) when it is missing or invalid."""
    return field.value if field is not None and field.present else None


class _Projector:
    def __init__(self, index: WorkspaceIndex) -> None:
        self.index = index
        self.root = Path(index.sources.root)
        self.locations: dict[str, diagnostics.Location] = {}

    def workspace(self) -> dict[str, Any]:
        index = self.index
        return {
            "version": 1,
            "root": str(self.root),
            "manifest": self.manifest(),
            "qualifiers": {
                qualifier_id: self.qualifier(node)
                for qualifier_id, node in sorted(index.qualifiers.items())
            },
            "variables": {
                variable_id: self.variable(node)
                for variable_id, node in sorted(index.variables.items())
            },
            "catalogs": {
                catalog_id: self.schema(
                    "catalog", f"/catalogs/{catalog_id}", node, index.catalog_entries
                )
                for catalog_id, node in sorted(index.catalogs.items())
            },
            "request_contexts": {
                context_id: self.schema(
                    "request_context",
                    f"/request-contexts/{context_id}",
                    node,
                    index.request_context_entries,
                )
                for context_id, node in sorted(index.request_contexts.items())
            },
        }

    def manifest(self) -> dict[str, Any] | None:
        document = self.index.manifest
        if document is None:
            return None
        table = _table(document)
        self.locations["/"] = document.document_location()
        if "extends" in table:
            self.locations["/#workspace_extends"] = document.location_of(("extends",))
        extends = table.get("extends")
        sources: list[str] = []
        # Like the reference, an invalid `extends` projects as no sources at all.
        if isinstance(extends, list) and all(
            isinstance(item, str) and item.strip() == item and item for item in extends
        ):
            sources = list(extends)
        return {
            "kind": "workspace",
            "uri": _uri(self.root, document.path),
            "path": document.path,
            "toml": document.data if document.parsed else None,
            "extends": sources,
        }

    def qualifier(self, node: QualifierNode) -> dict[str, Any]:
        document = node.document
        table = _table(document)
        key = f"/qualifiers/{node.id}"
        self.locations[key] = node.location
        for name, field_kind in (("description", "description"), ("when", "qualifier_when")):
            if name in table:
                self.locations[f"{key}#{field_kind}"] = document.location_of((name,))
        return {
            "kind": "qualifier",
            "id": node.id,
            "uri": _uri(self.root, document.path),
            "path": document.path,
            "description": _text(table.get("description")),
            "when": _text(table.get("when")) if node.when.present else None,
            "toml": document.data if document.parsed else None,
        }

    def variable(self, node: VariableNode) -> dict[str, Any]:
        document = node.document
        table = _table(document)
        key = f"/variables/{node.id}"
        self.locations[key] = node.location
        if "description" in table:
            self.locations[f"{key}#description"] = document.location_of(("description",))
        if node.type_kind in ("primitive", "catalog"):
            self.locations[f"{key}#variable_type"] = node.type_location
        if node.type_kind == "schema":
            self.locations[f"{key}#variable_schema"] = node.type_location
        self.locations[f"{key}#variable_values"] = node.values_location
        self.locations[f"{key}#variable_resolve"] = node.resolve_location
        if node.resolve_kind == "resolve" and node.default is not None:
            self.locations[f"{key}#variable_resolve_default"] = node.default.location
        else:
            self.locations[f"{key}#variable_resolve_default"] = node.resolve_location

        declaration: dict[str, Any] = {"kind": node.type_kind}
        if node.type_kind in ("primitive", "catalog"):
            declaration["value"] = node.type_value
        elif node.type_kind == "schema":
            declaration["value"] = table.get("schema")

        raw_values = table.get("values")
        inline = raw_values if isinstance(raw_values, dict) else {}
        position = next(
            (i for i, item in enumerate(self.index.sources.documents) if item is document), 0
        )
        values: dict[str, Any] = {}
        for value_key, value in sorted(inline.items()):
            self.locations[f"{key}/values/{value_key}"] = document.location_of(
                ("values", value_key)
            )
            values[value_key] = {
                "kind": "value",
                "variable": node.id,
                "key": value_key,
                "value": value,
                "origin": {"kind": "inline", "doc": position},
            }

        resolve: dict[str, Any] = {"kind": node.resolve_kind}
        if node.resolve_kind == "resolve":
            resolve["default"] = _value(node.default)
            raw_resolve = table.get("resolve")
            raw_rules = raw_resolve.get("rule") if isinstance(raw_resolve, dict) else None
            resolve["rules"] = [self.rule(node.id, rule, raw_rules) for rule in (node.rules or [])]

        toml: dict[str, Any] = dict(table) if document.parsed else {}
        toml["values"] = dict(inline)
        return {
            "kind": "variable",
            "id": node.id,
            "uri": _uri(self.root, document.path),
            "path": document.path,
            "description": _value(node.description),
            "declaration": declaration,
            "values": values,
            "resolve": resolve,
            "toml": toml,
        }

    def rule(self, variable_id: str, rule: RuleNode, raw_rules: Any) -> dict[str, Any]:
        key = f"/variables/{variable_id}/rules/{rule.index}"
        self.locations[key] = rule.location
        self.locations[f"{key}#variable_rule_value"] = rule.value.location
        if rule.when is not None:
            self.locations[f"{key}#variable_rule_when"] = rule.when.location
        if rule.query is not None:
            self.locations[f"{key}#variable_rule_query"] = rule.query.location
        raw: Any = None
        if isinstance(raw_rules, list) and rule.index < len(raw_rules):
            raw = raw_rules[rule.index]
        raw_table = raw if isinstance(raw, dict) else {}
        return {
            "kind": "rule",
            "variable": variable_id,
            "index": rule.index,
            # Expressions as their source text, as the reference shows them to scripts.
            "when": _text(raw_table.get("when")) if _value(rule.when) is not None else None,
            "query": _text(raw_table.get("query")) if _value(rule.query) is not None else None,
            "value": rule.value.value if rule.value.present else None,
        }

    def schema(
        self,
        kind: str,
        key: str,
        node: SchemaNode,
        all_entries: dict[str, dict[str, EntryNode]],
    ) -> dict[str, Any]:
        self.locations[key] = node.location
        owner_field = "catalog" if kind == "catalog" else "request_context"
        found: dict[str, tuple[SourceDocument, Any]] = {
            entry_key: (entry.document, entry.value)
            for entry_key, entry in all_entries.get(node.id, {}).items()
        }
        if kind == "request_context":
            # The reference keeps a sample that failed to parse, with a null value.
            for document in self.index.sources.of_kind("request_context_entry"):
                if document.ids.get("request_context") == node.id:
                    found.setdefault(document.ids["key"], (document, None))
        entries: dict[str, Any] = {}
        for entry_key, (document, value) in sorted(found.items()):
            self.locations[f"{key}/entries/{entry_key}"] = (
                document.location_of(()) if kind == "catalog" else document.document_location()
            )
            entries[entry_key] = {
                "kind": f"{kind}_entry",
                owner_field: node.id,
                "key": entry_key,
                "path": document.path,
                "value": value,
            }
        return {
            "kind": kind,
            "id": node.id,
            "path": node.document.path,
            "json": node.json,
            "entries": entries,
        }


def build_view(index: WorkspaceIndex) -> dict[str, Any]:
    """The `view` argument of `run_custom_lint` for a projected workspace index."""
    projector = _Projector(index)
    workspace = projector.workspace()
    return {"workspace": workspace, "locations": projector.locations}
