"""The built-in lint rule catalog: ids, severities and help, and a diagnostic factory.

Rule ids and severities are the reference's (`rototo/<id>`); tools filter on them, so they
are a compatibility contract. The help texts are ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rototo_operator.engine.diagnostics import Diagnostic, Location, Severity, Stage


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    help: str


def _rules(*items: tuple[str, Severity, str]) -> dict[str, Rule]:
    return {
        f"rototo/{name}": Rule(f"rototo/{name}", severity, text) for name, severity, text in items
    }


RULES: dict[str, Rule] = _rules(
    ("workspace-not-found", "error", "Point rototo at an existing workspace directory."),
    ("workspace-manifest-missing", "error", "Add rototo-workspace.toml at the workspace root."),
    ("workspace-manifest-parse-failed", "error", "Fix the TOML syntax of rototo-workspace.toml."),
    (
        "workspace-manifest-schema-failed",
        "error",
        "The manifest needs schema_version = 1 and, optionally, an extends array of sources.",
    ),
    (
        "request-context-schema-invalid",
        "error",
        "Make request-contexts/<id>.schema.json a JSON Schema that compiles.",
    ),
    (
        "request-context-reserved-field",
        "error",
        "Rename the top-level field: `qualifier` is reserved for qualifier references.",
    ),
    (
        "request-context-entry-schema-mismatch",
        "error",
        "Change the sample so its owning request context schema accepts it.",
    ),
    ("request-context-entry-shape", "error", "A request context sample must be a JSON object."),
    ("request-context-parse-failed", "error", "Fix the JSON syntax of the request context schema."),
    (
        "request-context-entry-parse-failed",
        "error",
        "Fix the JSON syntax of the request context sample.",
    ),
    ("qualifier-parse-failed", "error", "Fix the TOML syntax of the qualifier file."),
    ("qualifier-schema-version", "error", "Set schema_version = 1 in the qualifier file."),
    ("qualifier-when-missing", "error", 'Give the qualifier a condition: when = "...".'),
    ("qualifier-when-shape", "error", "Write `when` as a string holding a valid expression."),
    (
        "qualifier-when-unknown-qualifier",
        "error",
        "Add the qualifier the condition names, or fix the name in the expression.",
    ),
    (
        "qualifier-no-compatible-request-context",
        "error",
        "Declare the context attributes the qualifier reads in a request context schema, "
        "or change the condition.",
    ),
    ("qualifier-cycle", "error", "Break the cycle of qualifier references so evaluation ends."),
    (
        "qualifier-unreferenced",
        "warning",
        "Use the qualifier from a variable rule or another qualifier, or delete it.",
    ),
    (
        "qualifier-unreachable",
        "warning",
        "Reach the qualifier from a variable rule, or delete it: nothing can evaluate it.",
    ),
    ("variable-parse-failed", "error", "Fix the TOML syntax of the variable file."),
    ("variable-schema-version", "error", "Set schema_version = 1 in the variable file."),
    (
        "variable-type-source",
        "error",
        "Declare `type` as bool, int, number, string, list or catalog:<catalog-id>.",
    ),
    (
        "variable-unknown-type",
        "error",
        "Pick bool, int, number, string, list or catalog:<catalog-id> as the type.",
    ),
    ("variable-unknown-catalog", "error", "Add the catalog the type names, or fix the type."),
    (
        "variable-values-disallowed",
        "error",
        "Drop [values]; write literal values directly in [resolve].",
    ),
    (
        "variable-unknown-value",
        "error",
        "Add the catalog entry the variable selects, or fix the name.",
    ),
    (
        "variable-value-type-mismatch",
        "error",
        "Change the value so it has the variable's declared type.",
    ),
    (
        "variable-resolve-missing-default",
        "error",
        "Add a [resolve] table with a default value.",
    ),
    ("variable-resolve-shape", "error", "Write resolve as a table: [resolve]."),
    (
        "variable-rule-shape",
        "error",
        "Write each rule as a [[resolve.rule]] table with when and value.",
    ),
    (
        "variable-rule-unknown-qualifier",
        "error",
        "Add the qualifier the rule names, or fix the name in its condition.",
    ),
    (
        "variable-rule-shadowed",
        "warning",
        "Remove the later rule or change its condition: the earlier rule always wins.",
    ),
    (
        "variable-rule-selects-default-value",
        "warning",
        "Remove the rule or pick a different value: it changes nothing.",
    ),
    (
        "variable-request-context-conflict",
        "error",
        "Make the rule conditions read attributes one request context declares together.",
    ),
    ("catalog-parse-failed", "error", "Fix the JSON syntax of the catalog schema."),
    ("catalog-entry-parse-failed", "error", "Fix the TOML syntax of the catalog entry."),
    (
        "catalog-schema-invalid",
        "error",
        "Make the catalog schema a JSON Schema that compiles, with valid catalog references.",
    ),
    (
        "catalog-entry-schema-mismatch",
        "error",
        "Change the entry so its catalog schema accepts it.",
    ),
    (
        "catalog-entry-unknown-reference",
        "error",
        "Point the reference at an existing catalog entry (and path inside it).",
    ),
    ("custom-lint-failed", "error", "Fix the Lua lint script so it loads and runs."),
    ("custom-lint-registration-invalid", "error", "Fix the rule registration in the Lua script."),
    ("custom-lint-rule-conflict", "error", "Register each custom rule id with one definition."),
    ("custom-lint-file-unregistered", "warning", "Register at least one rule in the Lua file."),
    (
        "custom-lint-registration-duplicate",
        "warning",
        "Remove the duplicate registration from the Lua script.",
    ),
    (
        "schema-ui-unknown-widget",
        "warning",
        "Use a widget from the x-rototo-ui vocabulary; editors ignore unknown ones.",
    ),
    (
        "schema-ui-widget-type-mismatch",
        "warning",
        "Pick a widget that suits the property's declared type.",
    ),
    (
        "schema-ui-widget-params",
        "warning",
        "Give x-rototo-ui a widget string and only the parameters that widget takes.",
    ),
)


def make_diagnostic(
    rule: str,
    stage: Stage,
    entity: dict[str, Any],
    location: Location,
    message: str,
    *,
    field: str | None = None,
    related: tuple[dict[str, Any], ...] = (),
) -> Diagnostic:
    """A built-in diagnostic with the rule's catalog severity and help."""
    meta = RULES[rule]
    target: dict[str, Any] = {"entity": entity}
    if field is not None:
        target["field"] = {"kind": field}
    return Diagnostic(
        rule=rule,
        severity=meta.severity,
        stage=stage,
        message=message,
        help=meta.help,
        location=location,
        target=target,
        related=related,
    )
