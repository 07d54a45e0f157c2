"""The chart's files, read without helm: CRD copies in step, values and schema agree.

The CRD is generated into ``crds/`` by the API package; the chart and the kustomize base
carry copies (Helm installs ``charts/*/crds/`` before templates; kustomize may not read
files outside its root). ``make helm-sync`` refreshes both copies.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "rototo-operator"
CRD = REPO / "crds" / "workspaces.rototo.dev.yaml"


@pytest.mark.parametrize(
    "copy_path",
    [CHART / "crds" / CRD.name, REPO / "manifests" / "crds" / CRD.name],
    ids=["chart", "manifests"],
)
def test_crd_copies_equal_the_generated_crd(copy_path: Path) -> None:
    assert copy_path.is_file(), f"{copy_path} is missing: run `make helm-sync`"
    assert copy_path.read_bytes() == CRD.read_bytes(), (
        f"{copy_path.relative_to(REPO)} drifted from crds/{CRD.name}: run `make helm-sync`"
    )


def test_rbac_rules_copy_equals_the_operators_rules() -> None:
    source = REPO / "docs" / "rbac-rules.yaml"
    copy_path = CHART / "files" / "rbac-rules.yaml"
    assert copy_path.is_file(), f"{copy_path} is missing: run `make helm-sync`"
    assert copy_path.read_bytes() == source.read_bytes(), (
        "charts/rototo-operator/files/rbac-rules.yaml drifted from docs/rbac-rules.yaml: "
        "run `make helm-sync`"
    )


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_default_values_satisfy_the_schema(schema: dict[str, Any], values: dict[str, Any]) -> None:
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(values)]
    assert errors == []


def test_every_default_key_is_described_by_the_schema(
    schema: dict[str, Any], values: dict[str, Any]
) -> None:
    def walk(node: dict[str, Any], sub: dict[str, Any], path: str) -> list[str]:
        missing = []
        props = sub.get("properties")
        if props is None:
            return []  # a free-form object (resources, affinity, ...)
        for key, value in node.items():
            if key not in props:
                missing.append(f"{path}{key}")
            elif isinstance(value, dict):
                missing += walk(value, props[key], f"{path}{key}.")
        return missing

    assert walk(values, schema, "") == []


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"replicaCount": 0}, "replicaCount"),
        ({"watchNamespaces": ["UPPER"]}, "watchNamespaces"),
        ({"unknownKey": True}, ""),
        ({"image": {"repository": "x", "digest": "latest"}}, "image"),
        ({"cache": {"sizeLimit": "a lot"}}, "cache"),
    ],
)
def test_schema_rejects_bad_values(
    schema: dict[str, Any], values: dict[str, Any], patch: dict[str, Any], path: str
) -> None:
    candidate = copy.deepcopy(values)
    candidate.update(patch)
    errors = list(jsonschema_rs.validator_for(schema).iter_errors(candidate))
    assert errors, f"{patch} passed the schema"


def test_restricted_security_defaults(values: dict[str, Any]) -> None:
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532, "the image's uid"
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert container["seccompProfile"]["type"] == "RuntimeDefault"


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject, "image tag default must exist"
