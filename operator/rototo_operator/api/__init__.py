"""The `Workspace` custom resource (`rototo.dev/v1alpha1`) as pydantic models.

The CRD YAML in `crds/` is generated from these models (`python -m rototo_operator.api`);
a unit test fails on drift.
"""

from __future__ import annotations

from rototo_operator.api.crd import render_yaml, workspace_crd
from rototo_operator.api.models import (
    Condition,
    ConditionStatus,
    FailureBackoff,
    Outcome,
    OutputSpec,
    OutputStatus,
    SecretReference,
    Workspace,
    WorkspaceSpec,
    WorkspaceStatus,
)

__all__ = [
    "Condition",
    "ConditionStatus",
    "FailureBackoff",
    "Outcome",
    "OutputSpec",
    "OutputStatus",
    "SecretReference",
    "Workspace",
    "WorkspaceSpec",
    "WorkspaceStatus",
    "render_yaml",
    "workspace_crd",
]
