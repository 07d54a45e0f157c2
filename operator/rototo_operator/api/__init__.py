"""The `Workspace` custom resource (`rototo.dev/v1alpha1`) as pydantic models.

The CRD YAML in `crds/` is generated from these models; a test fails on drift.
"""
