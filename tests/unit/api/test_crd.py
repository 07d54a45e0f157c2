"""The CRD is generated from the pydantic models: no drift, structural, documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from rototo_operator.api import crd, models

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "crds" / "workspaces.rototo.dev.yaml"


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == crd.render_yaml(), (
        "crds/workspaces.rototo.dev.yaml drifted from the models: run `make crds`"
    )


def _walk(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _walk(sub, f"{path}.{name}")
    if "items" in node:
        found += _walk(node["items"], f"{path}[]")
    return found


def _schema() -> dict[str, Any]:
    doc = yaml.safe_load(CRD_FILE.read_text())
    schema: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_every_spec_and_status_field_is_typed_and_described() -> None:
    schema = _schema()
    for root in ("spec", "status"):
        for path, node in _walk(schema["properties"][root], root):
            assert "type" in node, f"{path} has no type (not structural)"
            assert node.get("description"), f"{path} has no description for kubectl explain"
            assert not {"anyOf", "allOf", "$ref", "title", "nullable"} & set(node), path


def test_spec_defaults_and_bounds() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    assert spec["periodSeconds"]["default"] == 60
    assert spec["periodSeconds"]["minimum"] == 1
    assert spec["maxStalenessSeconds"]["default"] == 600
    assert spec["suspend"]["default"] is False
    backoff = spec["failureBackoff"]
    assert backoff["default"] == {"initialSeconds": 5, "maxSeconds": 300}
    assert backoff["properties"]["initialSeconds"]["default"] == 5
    assert backoff["properties"]["maxSeconds"]["default"] == 300
    assert "self.maxSeconds >= self.initialSeconds" in str(backoff["x-kubernetes-validations"])
    assert "http://" in str(spec["source"]["x-kubernetes-validations"])
    assert set(spec["secretRef"]["properties"]) == {"name"}, "no cross-namespace secret refs"


def test_status_subresource_and_columns() -> None:
    doc = yaml.safe_load(CRD_FILE.read_text())
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns)[:6] == ["Ready", "Fingerprint", "Stale", "Failures", "Last Success", "Age"]
    assert columns["Last Success"]["type"] == "date"
    conditions = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert doc["spec"]["names"]["shortNames"] == ["rws"]


def test_unions_are_refused_by_the_generator() -> None:
    class Bad(pydantic.BaseModel):
        value: int | str = pydantic.Field(description="either")

    with pytest.raises(crd.SchemaError, match="value"):
        crd.structural_schema(Bad)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"source": "git+https://h/r.git#main", "periodSeconds": 0}, "period_seconds"),
        ({"source": " bad"}, "source"),
        ({"source": "-x"}, "source"),
        ({"source": "x", "secretRef": {"name": "Bad_Name"}}, "secret_ref"),
    ],
)
def test_models_validate_the_same_bounds(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        models.WorkspaceSpec.model_validate(spec)
    assert problem in str(caught.value).replace("periodSeconds", "period_seconds").replace(
        "secretRef", "secret_ref"
    )


def test_live_object_parses_with_defaults() -> None:
    ws = models.Workspace.from_body(
        {
            "metadata": {"name": "cfg", "namespace": "payments", "generation": 2},
            "spec": {"source": "git+https://h/r.git#main"},
        }
    )
    assert ws.config_map_name == "cfg"
    assert ws.spec.failure_backoff.initial_seconds == 5
    assert ws.status.consecutive_failures == 0
