"""Generate the `workspaces.rototo.dev` CustomResourceDefinition from the pydantic models.

Pydantic emits JSON Schema 2020-12 with `$defs`/`$ref` and `anyOf: [X, null]` for optional
fields; Kubernetes wants a *structural* OpenAPI v3 schema: every node typed, references
inlined, no `title`, no `anyOf` at the type level. `structural_schema` does that
translation, and `workspace_crd` adds what JSON Schema cannot say: CEL rules, list-map keys,
printer columns, the status subresource.

Limits: only the constructs our models use are translated (objects, arrays, scalars,
enums, optionals); an unknown construct raises so the generator never emits a schema the
API server would reject or silently widen.
"""

from __future__ import annotations

import copy
from typing import Any

import pydantic

from rototo_operator.api import models

_KEEP = frozenset(
    {
        "type",
        "format",
        "description",
        "default",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "properties",
        "required",
    }
)

# CEL rules the API server enforces, keyed by the JSON path of the node that holds them.
_VALIDATIONS: dict[tuple[str, ...], list[dict[str, str]]] = {
    ("spec", "failureBackoff"): [
        {
            "rule": "self.maxSeconds >= self.initialSeconds",
            "message": "failureBackoff.maxSeconds must be >= failureBackoff.initialSeconds",
        }
    ],
    ("spec", "source"): [
        {
            "rule": "!self.startsWith('http://') && !self.startsWith('git+http://')",
            "message": "plain http:// and git+http:// sources are not allowed; use https",
        },
        {
            "rule": "!self.contains('#-')",
            "message": "a git ref must not start with '-'",
        },
    ],
}

# Object defaults pydantic does not emit (they come from factories). Written out in full:
# the API server checks a default against the CEL rules without defaulting inside it.
_OBJECT_DEFAULTS: dict[tuple[str, ...], dict[str, Any]] = {
    ("spec", "failureBackoff"): models.FailureBackoff().model_dump(by_alias=True),
    ("spec", "output"): {},
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether the latest reviewed version is published.",
    },
    {
        "name": "Fingerprint",
        "type": "string",
        "jsonPath": ".status.shortFingerprint",
        "description": "Short fingerprint of the version being served.",
    },
    {
        "name": "Stale",
        "type": "boolean",
        "jsonPath": ".status.stale",
        "description": "Last success older than spec.maxStalenessSeconds.",
    },
    {
        "name": "Failures",
        "type": "integer",
        "jsonPath": ".status.consecutiveFailures",
        "description": "Failed refresh attempts since the last success.",
    },
    {
        "name": "Last Success",
        "type": "date",
        "jsonPath": ".status.lastSuccess",
        "description": "Time of the last successful refresh.",
    },
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    },
    {
        "name": "Source",
        "type": "string",
        "jsonPath": ".spec.source",
        "priority": 1,
        "description": "The workspace source.",
    },
    {
        "name": "Outcome",
        "type": "string",
        "jsonPath": ".status.lastRefreshOutcome",
        "priority": 1,
        "description": "Outcome of the last refresh attempt.",
    },
    {
        "name": "Message",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        "priority": 1,
        "description": "Why the Workspace is or is not ready.",
    },
]


class SchemaError(ValueError):
    """The models use a JSON Schema construct the generator does not translate."""


def structural_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (by alias) as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _translate(raw, defs, path=())
    return schema


def _translate(node: dict[str, Any], defs: dict[str, Any], path: tuple[str, ...]) -> Any:
    node = copy.deepcopy(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # A field's own description wins over the referenced model's docstring.
        merged = {**copy.deepcopy(target), **node}
        return _translate(merged, defs, path)
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise SchemaError(f"{'.'.join(path) or '<root>'}: unions are not structural")
        # An optional field: absence means "not set"; the operator never writes null.
        merged = {**branches[0], **node}
        if merged.get("default", ...) is None:
            merged.pop("default")
        return _translate(merged, defs, path)
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{'.'.join(path)}: allOf is not supported")
        return _translate({**parts[0], **node}, defs, path)
    if node.get("const") is not None:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    unknown = set(node) - _KEEP - {"title", "additionalProperties"}
    if unknown:
        raise SchemaError(f"{'.'.join(path) or '<root>'}: cannot translate {sorted(unknown)}")
    if "type" not in node:
        raise SchemaError(f"{'.'.join(path) or '<root>'}: untyped node")
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _KEEP}
    if "properties" in out:
        out["properties"] = {
            name: _translate(sub, defs, (*path, name)) for name, sub in out["properties"].items()
        }
    if "items" in out:
        out["items"] = _translate(out["items"], defs, (*path, "[]"))
    return out


def workspace_schema() -> dict[str, Any]:
    """The OpenAPI v3 schema of the whole Workspace object."""
    spec = structural_schema(models.WorkspaceSpec)
    spec = _reroot_rules(spec, "spec")
    spec["description"] = (
        "Desired state: which reviewed rototo workspace to serve, how often to look for a new "
        "version, and where to publish it."
    )
    status = structural_schema(models.WorkspaceStatus)
    status["description"] = (
        "Observed state, written by the operator: what is served, when it was last refreshed, "
        "and why the last attempt failed."
    )
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    required = {"type", "status", "reason", "message", "lastTransitionTime"}
    conditions["items"]["required"] = sorted(
        set(conditions["items"].get("required", [])) | required
    )
    return {
        "type": "object",
        "description": (
            "A rototo workspace served to pods: the operator stages the source, lints and "
            "compiles it, and publishes the compiled model in a ConfigMap, keeping the last "
            "known good version when a refresh fails."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "rototo.dev/v1alpha1"},
            "kind": {"type": "string", "description": "Workspace"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def _reroot_rules(schema: dict[str, Any], root: str) -> dict[str, Any]:
    """Attach CEL rules declared under `root` (the model is translated from its own root)."""

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        default = _OBJECT_DEFAULTS.get((root, *path))
        if default is not None:
            node["default"] = copy.deepcopy(default)
        rules = _VALIDATIONS.get((root, *path))
        if rules:
            node["x-kubernetes-validations"] = copy.deepcopy(rules)
        for name, sub in node.get("properties", {}).items():
            walk(sub, (*path, name))

    walk(schema, ())
    return schema


def workspace_crd() -> dict[str, Any]:
    """The CustomResourceDefinition document."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": models.CRD_NAME,
            "labels": {"app.kubernetes.io/name": "rototo-operator"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": list(models.SHORT_NAMES),
                "categories": ["rototo"],
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": workspace_schema()},
                }
            ],
        },
    }


def render_yaml() -> str:
    """The CRD as the YAML text committed in `crds/workspaces.rototo.dev.yaml`."""
    import yaml

    header = (
        "# Generated by `python -m rototo_operator.api` from operator/rototo_operator/api/.\n"
        "# Do not edit by hand: change the pydantic models and run `make crds`.\n"
    )
    body = yaml.safe_dump(workspace_crd(), sort_keys=False, width=100, allow_unicode=True)
    return header + "---\n" + body
