"""Typed workspace documents (pydantic), for workspaces that passed lint.

Lint works on the raw parsed files so it can report every problem with its location
(`documents`); once a workspace is lint-clean, the compiler reads each file through these
models, so the shapes it relies on are declared in one place and re-checked. Unknown keys
are allowed, as the reference ignores them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class QualifierDocument(_Document):
    """`qualifiers/<id>.toml`."""

    schema_version: Literal[1]
    # The reference does not check `description`; keep whatever the file says.
    description: Any = None
    when: str


class RuleDocument(_Document):
    """One `[[resolve.rule]]`: a condition (or catalog query) and the value it selects."""

    when: str | None = None
    query: str | None = None
    value: Any = None


class ResolveDocument(_Document):
    default: Any
    rule: list[RuleDocument] = Field(default_factory=list)


class VariableDocument(_Document):
    """`variables/<id>.toml`."""

    schema_version: Literal[1]
    description: Any = None
    type: str
    resolve: ResolveDocument

    @property
    def description_text(self) -> str | None:
        return self.description if isinstance(self.description, str) else None
