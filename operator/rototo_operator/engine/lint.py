"""Workspace lint: every built-in rule, staged as the reference stages them.

`lint_tree(root)` runs discover → parse → project → reference → value → graph over one
projected workspace directory, then the custom Lua rules (`lint/*.lua`: register and
policy stages, through `engine.lua_lint.run_custom_lint` over the view
`lua_lint.build_view` makes from the projected index, see docs/custom-lint.md), and
returns the diagnostics sorted as the reference sorts them (workspace-level first, then
by path, position, rule, message). It never raises for bad input. `lint_snapshot(root)`
returns the same diagnostics together with the projected index, which `compile` turns
into the runtime model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rototo_operator.engine import catalogs, documents, manifest
from rototo_operator.engine.diagnostics import Diagnostic, Location, Stage
from rototo_operator.engine.documents import (
    EntryNode,
    QualifierNode,
    SchemaNode,
    SourceSet,
    TypeKind,
    VariableNode,
    variable_type,
)
from rototo_operator.engine.expressions import Expression
from rototo_operator.engine.rules import make_diagnostic

PRIMITIVES = ("bool", "int", "number", "string", "list")


@dataclass
class Edge:
    """A reference from a document to a named thing, and whether that thing exists."""

    source: str  # qualifier_when_qualifier | qualifier_when_context | variable_catalog | ...
    owner: str  # qualifier or variable id
    rule_index: int | None
    target_kind: str  # qualifier | context | catalog | catalog_entry
    target: tuple[str, ...]
    location: Location
    entity: dict[str, Any]
    field: str
    resolved: bool


@dataclass
class WorkspaceIndex:
    """The projected workspace: every node the rules and the compiler read."""

    sources: SourceSet
    manifest: documents.SourceDocument | None = None
    qualifiers: dict[str, QualifierNode] = field(default_factory=dict)
    variables: dict[str, VariableNode] = field(default_factory=dict)
    catalogs: dict[str, SchemaNode] = field(default_factory=dict)
    catalog_entries: dict[str, dict[str, EntryNode]] = field(default_factory=dict)
    request_contexts: dict[str, SchemaNode] = field(default_factory=dict)
    request_context_entries: dict[str, dict[str, EntryNode]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def entry_values(self) -> dict[str, dict[str, Any]]:
        return {
            catalog: {key: entry.value for key, entry in entries.items()}
            for catalog, entries in self.catalog_entries.items()
        }


@dataclass
class LintSnapshot:
    root: Path
    diagnostics: list[Diagnostic]
    index: WorkspaceIndex

    @property
    def has_errors(self) -> bool:
        return any(diagnostic.is_error for diagnostic in self.diagnostics)


def lint_tree(root: Path) -> list[Diagnostic]:
    """All diagnostics for the workspace at `root`; never raises for bad input."""
    return lint_snapshot(root).diagnostics


def lint_snapshot(root: Path) -> LintSnapshot:
    sources = documents.discover(Path(root))
    index = WorkspaceIndex(sources)
    diagnostics = list(sources.diagnostics)
    if sources.manifest_found:
        diagnostics.extend(documents.parse_documents(sources))
        _project(index)
        linter = _Linter(index, diagnostics)
        linter.run()
    diagnostics.sort(key=_sort_key)
    return LintSnapshot(sources.root, diagnostics, index)


def _sort_key(diagnostic: Diagnostic) -> tuple[Any, ...]:
    location = diagnostic.location
    # Discovery failures are about the workspace root itself and sort first.
    workspace_level = diagnostic.stage == "discover"
    if location.range is None:
        position: tuple[int, int, int] = (0, 0, 1)
    else:
        position = (location.range.start.line, location.range.start.character, 0)
    return (
        0 if workspace_level else 1,
        location.path,
        *position,
        diagnostic.rule,
        diagnostic.message,
    )


# -- projection ----------------------------------------------------------------------------


def _project(index: WorkspaceIndex) -> None:
    schemas: dict[str, Any] = {}
    for document in index.sources.documents:
        if document.kind == "manifest" and document.parsed:
            index.manifest = document
        elif document.kind == "qualifier" and document.parsed:
            index.qualifiers[document.ids["id"]] = documents.project_qualifier(document)
        elif document.kind == "variable" and document.parsed:
            index.variables[document.ids["id"]] = documents.project_variable(document)
        elif document.kind == "catalog":
            node = SchemaNode(
                document.ids["id"], document, document.data if document.parsed else None
            )
            index.catalogs[node.id] = node
            if document.parsed:
                schemas[node.id] = document.data
        elif document.kind == "catalog_entry" and document.parsed:
            catalog, key = document.ids["catalog"], document.ids["key"]
            index.catalog_entries.setdefault(catalog, {})[key] = EntryNode(
                catalog, key, document, document.data
            )
        elif document.kind == "request_context":
            node = SchemaNode(
                document.ids["id"], document, document.data if document.parsed else None
            )
            if document.parsed:
                node.validator, node.invalid_message = catalogs.compile_plain_schema(document.data)
            index.request_contexts[node.id] = node
        elif document.kind == "request_context_entry" and document.parsed:
            owner, key = document.ids["request_context"], document.ids["key"]
            index.request_context_entries.setdefault(owner, {})[key] = EntryNode(
                owner, key, document, document.data
            )
    for catalog, (validator, message) in catalogs.compile_catalog_schemas(schemas).items():
        index.catalogs[catalog].validator = validator
        index.catalogs[catalog].invalid_message = message


def _context_path_text(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _sorted_refs(expression: Expression) -> tuple[list[str], list[str]]:
    qualifiers = sorted(expression.qualifier_refs())
    paths = sorted(_context_path_text(path) for path in expression.context_paths())
    return qualifiers, paths


def schema_has_path(schema: Any, attribute: str) -> bool:
    """Does a request context schema declare `attribute` through nested `properties`?"""
    if not attribute:
        return False
    current = schema
    for segment in attribute.split("."):
        properties = current.get("properties") if isinstance(current, dict) else None
        if not isinstance(properties, dict) or segment not in properties:
            return False
        current = properties[segment]
    return True


@dataclass
class Compatibility:
    qualifiers: dict[str, set[str]]
    variables: dict[str, set[str]]


def compatibility(index: WorkspaceIndex) -> Compatibility:
    """Which request contexts can satisfy each qualifier and each variable."""
    cache: dict[str, set[str]] = {}
    visiting: set[str] = set()

    def expression_contexts(expression: Expression) -> set[str]:
        contexts: set[str] | None = None
        qualifiers, paths = _sorted_refs(expression)
        for qualifier in qualifiers:
            nested = qualifier_contexts(qualifier)
            contexts = nested if contexts is None else contexts & nested
        for path in paths:
            if not path:
                continue
            declaring = {
                context.id
                for context in index.request_contexts.values()
                if context.json is not None and schema_has_path(context.json, path)
            }
            contexts = declaring if contexts is None else contexts & declaring
        return contexts or set()

    def qualifier_contexts(qualifier_id: str) -> set[str]:
        if qualifier_id in cache:
            return set(cache[qualifier_id])
        if qualifier_id in visiting:
            return set()
        visiting.add(qualifier_id)
        node = index.qualifiers.get(qualifier_id)
        result: set[str] = set()
        if node is not None and node.expression is not None:
            result = expression_contexts(node.expression)
        visiting.discard(qualifier_id)
        cache[qualifier_id] = result
        return set(result)

    qualifiers = {
        qualifier_id: qualifier_contexts(qualifier_id) for qualifier_id in index.qualifiers
    }
    variables: dict[str, set[str]] = {}
    for variable_id, variable in index.variables.items():
        contexts: set[str] | None = None
        for rule in variable.rules or []:
            rule_contexts: set[str] | None = None
            for selector in (rule.when, rule.query):
                if selector is None or not selector.present:
                    continue
                found = expression_contexts(selector.value)
                rule_contexts = found if rule_contexts is None else rule_contexts & found
            if rule_contexts is None:
                continue
            contexts = rule_contexts if contexts is None else contexts & rule_contexts
        variables[variable_id] = contexts or set()
    return Compatibility(qualifiers, variables)


# -- rules ---------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _primitive_matches(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, list)


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality (booleans are not numbers; 1 and 1.0 differ as serde_json sees them)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(
            json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


class _Linter:
    def __init__(self, index: WorkspaceIndex, diagnostics: list[Diagnostic]) -> None:
        self.index = index
        self.diagnostics = diagnostics

    def emit(
        self,
        rule: str,
        stage: Stage,
        entity: dict[str, Any],
        location: Location,
        message: str,
        *,
        field: str | None = None,
        related: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.diagnostics.append(
            make_diagnostic(
                rule, stage, entity, location, message, field=field, related=tuple(related)
            )
        )

    def run(self) -> None:
        self.project_stage()
        self.build_edges()
        self.reference_stage()
        self.value_stage()
        self.graph_stage()
        # Custom rules register and run last: their handlers report in the policy stage,
        # after the built-in graph rules, so a custom error never hides a built-in one
        # (the graph rules skip entities that already have errors).
        self.custom_stage()

    # -- project ------------------------------------------------------------------------
    def project_stage(self) -> None:
        index = self.index
        if index.manifest is not None:
            problem = manifest.manifest_problem(index.manifest.data)
            if problem is not None:
                self.emit(
                    "rototo/workspace-manifest-schema-failed",
                    "project",
                    {"kind": "manifest"},
                    index.manifest.document_location(),
                    problem,
                )
        for context in index.request_contexts.values():
            entity = {"kind": "request_context", "id": context.id}
            if context.invalid_message is not None:
                self.emit(
                    "rototo/request-context-schema-invalid",
                    "project",
                    entity,
                    context.location,
                    f"request context schema is invalid: {context.invalid_message}",
                    field="schema_json",
                )
        for context in index.request_contexts.values():
            properties = context.json.get("properties") if isinstance(context.json, dict) else None
            if isinstance(properties, dict) and "qualifier" in properties:
                self.emit(
                    "rototo/request-context-reserved-field",
                    "project",
                    {"kind": "request_context", "id": context.id},
                    context.location,
                    "request context schema declares reserved top-level field: qualifier",
                    field="schema_json",
                )
        for qualifier in index.qualifiers.values():
            self.qualifier_shape(qualifier)
        for catalog in index.catalogs.values():
            self.catalog_shape(catalog)
        for variable in index.variables.values():
            self.variable_shape(variable)

    def qualifier_shape(self, qualifier: QualifierNode) -> None:
        entity = {"kind": "qualifier", "id": qualifier.id}
        version = qualifier.schema_version
        if not (version.present and version.value == 1):
            self.emit(
                "rototo/qualifier-schema-version",
                "project",
                entity,
                version.location,
                "qualifier must declare schema_version = 1",
                field="schema_version",
            )
        if qualifier.when.state == "invalid":
            self.emit(
                "rototo/qualifier-when-shape",
                "project",
                entity,
                qualifier.when.location,
                "qualifier when expression is invalid",
                field="qualifier_when",
            )
        elif qualifier.when.state == "missing":
            self.emit(
                "rototo/qualifier-when-missing",
                "project",
                entity,
                qualifier.when.location,
                "qualifier must declare when",
                field="qualifier_when",
            )
        if qualifier.predicate is not None:
            self.emit(
                "rototo/qualifier-when-shape",
                "project",
                entity,
                qualifier.predicate,
                '[[predicate]] is no longer supported; use when = "..."',
                field="qualifier_when",
            )

    def catalog_shape(self, catalog: SchemaNode) -> None:
        entity = {"kind": "catalog", "id": catalog.id}

        def schema_invalid(message: str) -> None:
            self.emit(
                "rototo/catalog-schema-invalid",
                "project",
                entity,
                catalog.location,
                message,
                field="schema_json",
            )

        if catalog.invalid_message is not None:
            schema_invalid(f"catalog schema is invalid: {catalog.invalid_message}")
        if catalog.json is None:
            return

        def ui_report(rule: str, message: str) -> None:
            self.emit(rule, "project", entity, catalog.location, message, field="schema_json")

        catalogs.check_ui_hints(catalog.json, ui_report)
        catalogs.check_ref_annotations(catalog.json, self.index.catalogs, schema_invalid)

    def variable_shape(self, variable: VariableNode) -> None:
        entity = {"kind": "variable", "id": variable.id}
        version = variable.schema_version
        if not (version.present and version.value == 1):
            self.emit(
                "rototo/variable-schema-version",
                "project",
                entity,
                version.location,
                "variable must declare schema_version = 1",
                field="schema_version",
            )
        kind = variable.type_kind
        if kind == "schema":
            self.emit(
                "rototo/variable-type-source",
                "project",
                entity,
                variable.type_location,
                "variable schemas are no longer supported; declare type instead",
                field="variable_schema",
            )
        elif kind in ("missing", "conflict"):
            self.emit(
                "rototo/variable-type-source",
                "project",
                entity,
                variable.type_location,
                "variable must declare type",
                field="variable_type",
            )
        elif kind == "invalid":
            self.emit(
                "rototo/variable-type-source",
                "project",
                entity,
                variable.type_location,
                "variable type must be a string",
                field="variable_type",
            )
        if variable.values_invalid or variable.values_count:
            self.emit(
                "rototo/variable-values-disallowed",
                "project",
                entity,
                variable.values_location,
                "variables must not contain [values]; put literal values directly under [resolve]",
                field="variable_values",
            )
        if variable.resolve_kind == "missing":
            self.emit(
                "rototo/variable-resolve-missing-default",
                "project",
                entity,
                variable.resolve_location,
                "variable must contain [resolve]",
                field="variable_resolve",
            )
            return
        if variable.resolve_kind == "invalid":
            self.emit(
                "rototo/variable-resolve-shape",
                "project",
                entity,
                variable.resolve_location,
                "resolve must be a table",
                field="variable_resolve",
            )
            return
        default = variable.default
        if default is not None and not default.present:
            self.emit(
                "rototo/variable-resolve-missing-default",
                "project",
                entity,
                default.location,
                "resolve must reference a default value",
                field="variable_resolve_default",
            )
        if variable.rules_invalid is not None:
            self.emit(
                "rototo/variable-rule-shape",
                "project",
                entity,
                variable.rules_invalid,
                "rule must use [[resolve.rule]] tables",
                field="variable_resolve",
            )
            return
        type_kind = variable_type(variable)
        for rule in variable.rules or []:
            rule_entity = {"kind": "rule", "variable": variable.id, "index": rule.index}

            def shape(location: Location, message: str, field: str | None) -> None:
                self.emit(
                    "rototo/variable-rule-shape",
                    "project",
                    rule_entity,  # noqa: B023 - used immediately, inside this iteration
                    location,
                    message,
                    field=field,
                )

            if rule.invalid_shape:
                shape(rule.location, "rule must be a table", None)
                continue
            if rule.legacy_qualifier is not None:
                shape(
                    rule.legacy_qualifier,
                    "rule qualifier is no longer supported; use when = 'qualifier[\"<id>\"]'",
                    None,
                )
            if rule.when is not None and not rule.when.present:
                shape(rule.when.location, "rule when expression is invalid", "variable_rule_when")
            if rule.query is not None and not rule.query.present:
                shape(
                    rule.query.location, "rule query expression is invalid", "variable_rule_query"
                )
            if (
                rule.query is not None
                and rule.query.present
                and (type_kind is None or type_kind.list_catalog() is None)
            ):
                shape(
                    rule.query.location,
                    "rule query is only valid for list<catalog:...> variables",
                    "variable_rule_query",
                )
            has_selector = (
                (rule.when is not None and rule.when.present)
                or (rule.query is not None and rule.query.present)
                or rule.legacy_qualifier is not None
            )
            if not has_selector:
                shape(rule.location, "rule must declare when or query", "variable_rule_when")
            if rule.query is None and not rule.value.present:
                shape(rule.value.location, "rule must reference a value", "variable_rule_value")

    # -- register + policy (custom Lua lint) ----------------------------------------------
    def custom_stage(self) -> None:
        if not self.index.sources.of_kind("custom_lint"):
            return
        try:
            from rototo_operator.engine import lua_lint
        except ImportError:
            return
        # Custom rules are optional: without the Lua runtime they are skipped, not fatal.
        run_custom_lint = getattr(lua_lint, "run_custom_lint", None)
        build_view = getattr(lua_lint, "build_view", None)
        if run_custom_lint is None or build_view is None:
            return
        found: list[Diagnostic] = run_custom_lint(self.index.sources.root, build_view(self.index))
        self.diagnostics.extend(found)

    # -- references ---------------------------------------------------------------------
    def build_edges(self) -> None:
        index = self.index
        declared_entries = {
            (catalog, key) for catalog, entries in index.catalog_entries.items() for key in entries
        }

        def add(  # noqa: PLR0917 - one call per reference kind reads best positionally
            source: str,
            owner: str,
            rule_index: int | None,
            target_kind: str,
            target: tuple[str, ...],
            location: Location,
            entity: dict[str, Any],
            field: str,
        ) -> None:
            if target_kind == "qualifier":
                resolved = target[0] in index.qualifiers
            elif target_kind == "catalog":
                resolved = target[0] in index.catalogs
            elif target_kind == "catalog_entry":
                resolved = (target[0], target[1]) in declared_entries
            else:
                resolved = False
            index.edges.append(
                Edge(
                    source,
                    owner,
                    rule_index,
                    target_kind,
                    target,
                    location,
                    entity,
                    field,
                    resolved,
                )
            )

        for qualifier in index.qualifiers.values():
            expression = qualifier.expression
            if expression is None:
                continue
            entity = {"kind": "qualifier", "id": qualifier.id}
            qualifiers, paths = _sorted_refs(expression)
            for target in qualifiers:
                add(
                    "qualifier_when_qualifier",
                    qualifier.id,
                    None,
                    "qualifier",
                    (target,),
                    qualifier.when.location,
                    entity,
                    "qualifier_when",
                )
            for path in paths:
                if path:
                    add(
                        "qualifier_when_context",
                        qualifier.id,
                        None,
                        "context",
                        (path,),
                        qualifier.when.location,
                        entity,
                        "qualifier_when",
                    )
        for variable in index.variables.values():
            entity = {"kind": "variable", "id": variable.id}
            type_kind = variable_type(variable)
            if type_kind is not None:
                for catalog in type_kind.catalog_ids():
                    add(
                        "variable_catalog",
                        variable.id,
                        None,
                        "catalog",
                        (catalog,),
                        variable.type_location,
                        entity,
                        "variable_type",
                    )
            if variable.resolve_kind != "resolve":
                continue
            catalog_id = (
                type_kind.name if type_kind is not None and type_kind.kind == "catalog" else None
            )
            default = variable.default
            if (
                default is not None
                and default.present
                and catalog_id
                and isinstance(default.value, str)
            ):
                add(
                    "variable_default",
                    variable.id,
                    None,
                    "catalog_entry",
                    (catalog_id, default.value),
                    default.location,
                    entity,
                    "variable_resolve_default",
                )
            if variable.rules is None:
                continue
            for rule in variable.rules:
                if rule.invalid_shape:
                    continue
                rule_entity = {"kind": "rule", "variable": variable.id, "index": rule.index}
                for selector, field_name in (
                    (rule.when, "variable_rule_when"),
                    (rule.query, "variable_rule_query"),
                ):
                    if selector is None or not selector.present:
                        continue
                    for target in sorted(selector.value.qualifier_refs()):
                        add(
                            "variable_rule_qualifier",
                            variable.id,
                            rule.index,
                            "qualifier",
                            (target,),
                            selector.location,
                            rule_entity,
                            field_name,
                        )
                if rule.value.present and catalog_id and isinstance(rule.value.value, str):
                    add(
                        "variable_rule_value",
                        variable.id,
                        rule.index,
                        "catalog_entry",
                        (catalog_id, rule.value.value),
                        rule.value.location,
                        rule_entity,
                        "variable_rule_value",
                    )

    def reference_stage(self) -> None:
        index = self.index
        for edge in index.edges:
            if edge.resolved or edge.source != "qualifier_when_qualifier":
                continue
            self.emit(
                "rototo/qualifier-when-unknown-qualifier",
                "reference",
                edge.entity,
                edge.location,
                f"when expression references unknown qualifier: {edge.target[0]}",
                field=edge.field,
            )
        for edge in index.edges:
            if edge.resolved:
                continue
            if edge.source == "variable_catalog":
                message = f"variable references unknown catalog: {edge.target[0]}"
                rule = "rototo/variable-unknown-catalog"
            elif edge.source in ("variable_default", "variable_rule_value"):
                catalog = edge.target[0]
                if catalog not in index.catalogs:
                    continue
                label = "resolve default" if edge.source == "variable_default" else "rule"
                message = f"{label} references unknown catalog value: {edge.target[1]}"
                rule = "rototo/variable-unknown-value"
            elif edge.source == "variable_rule_qualifier":
                message = f"rule references unknown qualifier: {edge.target[0]}"
                rule = "rototo/variable-rule-unknown-qualifier"
            else:
                continue
            self.emit(rule, "reference", edge.entity, edge.location, message, field=edge.field)

    # -- values -------------------------------------------------------------------------
    def value_stage(self) -> None:
        index = self.index
        for owner, entries in index.request_context_entries.items():
            context = index.request_contexts.get(owner)
            for entry in entries.values():
                entity = {
                    "kind": "request_context_entry",
                    "request_context": owner,
                    "key": entry.key,
                }
                if not isinstance(entry.value, dict):
                    self.emit(
                        "rototo/request-context-entry-shape",
                        "value",
                        entity,
                        entry.location,
                        f"request context sample {entry.key} must be a JSON object",
                        field="request_context_entry",
                    )
                    continue
                if context is None or context.validator is None:
                    continue
                error = catalogs.validation_error(context.validator, entry.value)
                if error is not None:
                    self.emit(
                        "rototo/request-context-entry-schema-mismatch",
                        "value",
                        entity,
                        entry.location,
                        f"request context sample {entry.key} does not match {owner} schema: "
                        f"{error}",
                        field="request_context_entry",
                    )
        schemas = {cid: node.json for cid, node in index.catalogs.items() if node.json is not None}
        entry_values = index.entry_values()
        resolver = catalogs.SchemaResolver(schemas)
        for catalog in index.catalogs.values():
            if catalog.validator is None or catalog.json is None:
                continue
            for entry in index.catalog_entries.get(catalog.id, {}).values():
                entity = {"kind": "catalog_entry", "catalog": catalog.id, "key": entry.key}
                location = entry.location
                error = catalogs.validation_error(catalog.validator, entry.value)
                if error is not None:
                    self.emit(
                        "rototo/catalog-entry-schema-mismatch",
                        "value",
                        entity,
                        location,
                        f"catalog value {entry.key} does not match schema: {error}",
                        field="catalog_entry",
                    )

                def report(
                    message: str, entity: dict[str, Any] = entity, location: Location = location
                ) -> None:
                    self.emit(
                        "rototo/catalog-entry-unknown-reference",
                        "value",
                        entity,
                        location,
                        message,
                        field="catalog_entry",
                    )

                checker = catalogs.EntryReferenceChecker(schemas, entry_values, resolver, report)
                checker.check(catalog.json, catalogs.catalog_uri(catalog.id), entry.value, "$")
        for variable in index.variables.values():
            self.variable_values(variable)

    def variable_values(self, variable: VariableNode) -> None:
        type_kind = variable_type(variable)
        if type_kind is None:
            return
        entity = {"kind": "variable", "id": variable.id}
        if type_kind.kind == "primitive":
            if type_kind.name not in PRIMITIVES:
                self.unknown_type(variable, f"variable declares unknown type: {type_kind.name}")
                return
            self.each_value(
                variable,
                lambda value: _primitive_matches(type_kind.name, value),
                lambda label, value: (
                    f"{label} does not match type {type_kind.name}: {_json_text(value)}"
                ),
                entity,
            )
        elif type_kind.kind == "catalog":
            self.each_value(
                variable,
                lambda value: isinstance(value, str),
                lambda label, _: f"{label} for catalog-backed variable must be a string",
                entity,
            )
        else:
            self.list_values(variable, type_kind, entity)

    def unknown_type(self, variable: VariableNode, message: str) -> None:
        self.emit(
            "rototo/variable-unknown-type",
            "value",
            {"kind": "variable", "id": variable.id},
            variable.type_location,
            message,
            field="variable_type",
        )

    def list_values(
        self, variable: VariableNode, type_kind: TypeKind, entity: dict[str, Any]
    ) -> None:
        item = type_kind.item
        assert item is not None
        if item.kind == "list":
            self.unknown_type(variable, "nested list variable types are not supported")
            return
        if item.kind == "catalog":

            def mismatch(label: str, value: Any) -> str:
                if not isinstance(value, list):
                    return f"{label} for list<catalog> variable must be a list"
                return f"{label} for list<catalog> variable must contain only strings"

            self.each_value(
                variable,
                lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
                mismatch,
                entity,
                skip_query=True,
            )
            return
        if item.name not in PRIMITIVES:
            self.unknown_type(variable, f"variable declares unknown type: {item.name}")
            return

        def list_mismatch(label: str, value: Any) -> str:
            if not isinstance(value, list):
                return f"{label} does not match list<{item.name}>"
            return f"{label} contains values that do not match {item.name}"

        self.each_value(
            variable,
            lambda value: (
                isinstance(value, list) and all(_primitive_matches(item.name, v) for v in value)
            ),
            list_mismatch,
            entity,
            skip_query=True,
        )

    def each_value(
        self,
        variable: VariableNode,
        ok: Any,
        message: Any,
        entity: dict[str, Any],
        *,
        skip_query: bool = False,
    ) -> None:
        if variable.resolve_kind != "resolve":
            return
        default = variable.default
        if default is not None and default.present and not ok(default.value):
            self.emit(
                "rototo/variable-value-type-mismatch",
                "value",
                entity,
                default.location,
                message("resolve default", default.value),
                field="variable_resolve_default",
            )
        if variable.rules is None:
            return
        for rule in variable.rules:
            if rule.invalid_shape or (skip_query and rule.query is not None):
                continue
            if rule.value.present and not ok(rule.value.value):
                self.emit(
                    "rototo/variable-value-type-mismatch",
                    "value",
                    {"kind": "rule", "variable": variable.id, "index": rule.index},
                    rule.value.location,
                    message("rule value", rule.value.value),
                    field="variable_rule_value",
                )

    # -- graph --------------------------------------------------------------------------
    def qualifier_graph(self) -> dict[str, list[Edge]]:
        graph: dict[str, list[Edge]] = {
            qualifier: [] for qualifier in sorted(self.index.qualifiers)
        }
        for edge in self.index.edges:
            if edge.source == "qualifier_when_qualifier" and edge.resolved:
                graph.setdefault(edge.owner, []).append(edge)
        return graph

    def referenced_qualifiers(self, graph: dict[str, list[Edge]]) -> set[str]:
        referenced = {
            edge.target[0]
            for edges in graph.values()
            for edge in edges
            if edge.owner != edge.target[0]
        }
        referenced |= {
            edge.target[0]
            for edge in self.index.edges
            if edge.source == "variable_rule_qualifier" and edge.resolved
        }
        return referenced

    def graph_stage(self) -> None:
        graph = self.qualifier_graph()
        self.qualifier_cycles(graph)
        referenced = self.referenced_qualifiers(graph)
        for qualifier in self.index.qualifiers.values():
            self_loop = any(edge.target[0] == qualifier.id for edge in graph.get(qualifier.id, []))
            if qualifier.id in referenced or self_loop:
                continue
            self.emit(
                "rototo/qualifier-unreferenced",
                "graph",
                {"kind": "qualifier", "id": qualifier.id},
                qualifier.location,
                f"qualifier is not referenced: {qualifier.id}",
            )
        reachable: set[str] = set()
        stack: list[str] = []
        for edge in self.index.edges:
            if (
                edge.source == "variable_rule_qualifier"
                and edge.resolved
                and edge.target[0] not in reachable
            ):
                reachable.add(edge.target[0])
                stack.append(edge.target[0])
        while stack:
            for edge in graph.get(stack.pop(), []):
                if edge.target[0] not in reachable:
                    reachable.add(edge.target[0])
                    stack.append(edge.target[0])
        with_errors = self.entities_with_errors("qualifier")
        for qualifier in self.index.qualifiers.values():
            if (
                qualifier.id in reachable
                or qualifier.id not in referenced
                or qualifier.id in with_errors
            ):
                continue
            self.emit(
                "rototo/qualifier-unreachable",
                "graph",
                {"kind": "qualifier", "id": qualifier.id},
                qualifier.location,
                f"qualifier cannot affect resolution: {qualifier.id}",
            )
        self.shadowed_rules()
        self.rules_selecting_default()
        self.request_context_compatibility()

    def qualifier_cycles(self, graph: dict[str, list[Edge]]) -> None:
        for component in _strongly_connected(graph):
            members = set(component)
            cycle_edges = [
                edge
                for qualifier in component
                for edge in graph.get(qualifier, [])
                if edge.target[0] in members
            ]
            is_cycle = len(component) > 1 or any(
                edge.owner == edge.target[0] for edge in cycle_edges
            )
            if not is_cycle:
                continue
            for qualifier_id in component:
                qualifier = self.index.qualifiers.get(qualifier_id)
                if qualifier is None:
                    continue
                primary_edge = next((e for e in cycle_edges if e.owner == qualifier_id), None)
                primary = primary_edge.location if primary_edge is not None else qualifier.location
                related = [
                    {
                        "location": edge.location.to_json(),
                        "message": f"cycle reference: {edge.owner} -> {edge.target[0]}",
                    }
                    for edge in cycle_edges
                    if edge.owner != qualifier_id or edge.location != primary
                ]
                if len(component) == 1:
                    message = f"qualifier references itself: {qualifier_id}"
                else:
                    message = "qualifier participates in a reference cycle with: " + ", ".join(
                        component
                    )
                self.emit(
                    "rototo/qualifier-cycle",
                    "graph",
                    {"kind": "qualifier", "id": qualifier_id},
                    primary,
                    message,
                    related=related,
                )

    def shadowed_rules(self) -> None:
        for variable in self.index.variables.values():
            if variable.resolve_kind != "resolve" or variable.rules is None:
                continue
            seen: dict[str, Location] = {}
            for rule in variable.rules:
                if rule.invalid_shape or rule.when is None or not rule.when.present:
                    continue
                condition = rule.when.value.source
                if condition in seen:
                    self.emit(
                        "rototo/variable-rule-shadowed",
                        "graph",
                        {"kind": "rule", "variable": variable.id, "index": rule.index},
                        rule.when.location,
                        f"rule is shadowed by an earlier rule with condition: {condition}",
                        field="variable_rule_when",
                        related=[
                            {
                                "location": seen[condition].to_json(),
                                "message": f"first rule using condition: {condition}",
                            }
                        ],
                    )
                else:
                    seen[condition] = rule.when.location

    def rules_selecting_default(self) -> None:
        for variable in self.index.variables.values():
            default = variable.default
            if variable.resolve_kind != "resolve" or default is None or not default.present:
                continue
            for rule in variable.rules or []:
                if rule.invalid_shape or not rule.value.present:
                    continue
                if not json_equal(rule.value.value, default.value):
                    continue
                text = _json_text(rule.value.value)
                self.emit(
                    "rototo/variable-rule-selects-default-value",
                    "graph",
                    {"kind": "rule", "variable": variable.id, "index": rule.index},
                    rule.value.location,
                    f"rule selects the same value as the resolve default: {text}",
                    field="variable_rule_value",
                    related=[
                        {
                            "location": default.location.to_json(),
                            "message": f"resolve default value: {_json_text(default.value)}",
                        }
                    ],
                )

    def entities_with_errors(self, kind: str) -> set[str]:
        found: set[str] = set()
        for diagnostic in self.diagnostics:
            if not diagnostic.is_error or diagnostic.target is None:
                continue
            entity = diagnostic.target.get("entity", {})
            if kind == "qualifier":
                if entity.get("kind") == "qualifier":
                    found.add(entity["id"])
                elif entity.get("kind") == "predicate":
                    found.add(entity["qualifier"])
            elif entity.get("kind") == "variable":
                found.add(entity["id"])
            elif entity.get("kind") in ("value", "rule"):
                found.add(entity["variable"])
        return found

    def request_context_compatibility(self) -> None:
        index = self.index
        compat = compatibility(index)
        qualifier_errors = self.entities_with_errors("qualifier")
        variable_errors = self.entities_with_errors("variable")
        without_context: set[str] = set()
        reads_context = {e.owner for e in index.edges if e.source == "qualifier_when_context"}
        rule_qualifiers: dict[str, set[str]] = {}
        for edge in index.edges:
            if edge.source == "variable_rule_qualifier":
                rule_qualifiers.setdefault(edge.owner, set()).add(edge.target[0])
        for qualifier in index.qualifiers.values():
            if qualifier.id in qualifier_errors:
                continue
            if not compat.qualifiers.get(qualifier.id) and qualifier.id in reads_context:
                without_context.add(qualifier.id)
                self.emit(
                    "rototo/qualifier-no-compatible-request-context",
                    "graph",
                    {"kind": "qualifier", "id": qualifier.id},
                    qualifier.location,
                    f"qualifier {qualifier.id} has no compatible request context",
                )
        for variable in index.variables.values():
            rule_targets = rule_qualifiers.get(variable.id, set())
            if (
                variable.id in variable_errors
                or rule_targets & qualifier_errors
                or rule_targets & without_context
            ):
                continue
            if _condition_reference_count(variable) == 0:
                continue
            if not compat.variables.get(variable.id):
                self.emit(
                    "rototo/variable-request-context-conflict",
                    "graph",
                    {"kind": "variable", "id": variable.id},
                    variable.location,
                    f"variable {variable.id} has no request context shared by all rule conditions",
                )


def _condition_reference_count(variable: VariableNode) -> int:
    count = 0
    for rule in variable.rules or []:
        for selector in (rule.when, rule.query):
            if (
                selector is not None
                and selector.present
                and (selector.value.qualifier_refs() or selector.value.context_paths())
            ):
                count += 1
                break
    return count


def _strongly_connected(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's algorithm over qualifier ids, in sorted id order; members sorted."""
    counter = 0
    indices: dict[str, int] = {}
    lowlinks: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        nonlocal counter
        indices[node] = lowlinks[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for edge in graph.get(node, []):
            target = edge.target[0]
            if target not in indices:
                connect(target)
                lowlinks[node] = min(lowlinks[node], lowlinks[target])
            elif target in on_stack:
                lowlinks[node] = min(lowlinks[node], indices[target])
        if lowlinks[node] == indices[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in indices:
            connect(node)
    return components
