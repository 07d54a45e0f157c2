"""Pydantic models of the `Workspace` resource: spec (what the user declares), status (what
the operator observed), and the condition vocabulary.

These models are the single source of the API: the CRD's OpenAPI schema is generated from
them (`rototo_operator.api.crd`), and the controller parses live objects with them. Field
descriptions become `kubectl explain` text, so they are written for the person applying a
Workspace. Limits: the models validate shape only; rules the API server must enforce
(cross-field bounds, forbidden source schemes) are declared as CEL rules in `crd.py`.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any, Literal

import pydantic
from pydantic.alias_generators import to_camel

GROUP = "rototo.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Workspace"
PLURAL = "workspaces"
SINGULAR = "workspace"
SHORT_NAMES = ("rws",)
CRD_NAME = f"{PLURAL}.{GROUP}"

# Annotations and labels the operator reads or writes (one place, shared with the CLI).
REFRESH_REQUESTED_ANNOTATION = f"{GROUP}/refresh-requested-at"
FINGERPRINT_ANNOTATION = f"{GROUP}/fingerprint"
DIGEST_ANNOTATION = f"{GROUP}/compiled-digest"
SOURCE_ANNOTATION = f"{GROUP}/source"
WORKSPACE_LABEL = f"{GROUP}/workspace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "rototo-operator"

# DNS-1123 subdomain: the name shape of Secrets and ConfigMaps.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# One token, no whitespace, not an option-like leading dash. Scheme rules are CEL in crd.py
# because the API server's `pattern` is RE2 (no look-ahead).
SOURCE_PATTERN = r"^[^\s-]\S*$"

Outcome = Literal["unchanged", "refreshed", "immutable", "failed"]


class _Model(pydantic.BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored when parsing
    live objects (the API server prunes them anyway)."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class FailureBackoff(_Model):
    """Delay between attempts after a failed refresh: doubles from `initialSeconds` up to
    `maxSeconds`, and resets after a success."""

    initial_seconds: int = pydantic.Field(
        default=5,
        ge=1,
        description="Delay in seconds before the first retry after a failed refresh. "
        "Doubles after each further failure. Must be at least 1.",
    )
    max_seconds: int = pydantic.Field(
        default=300,
        ge=1,
        description="Upper bound in seconds for the retry delay after repeated failures. "
        "Must be at least initialSeconds.",
    )


class SecretReference(_Model):
    """A Secret in the Workspace's own namespace holding source credentials."""

    name: str = pydantic.Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of a Secret in the same namespace as the Workspace (there is no "
        "namespace field: credentials never cross namespaces). Keys read: `username` and "
        "`password` (git over HTTPS), `bearerToken` (HTTPS archives), `identity` and "
        "`known_hosts` (git over SSH), `ca.crt` (private certificate authority).",
    )


class OutputSpec(_Model):
    """Where the compiled workspace is published."""

    config_map_name: str | None = pydantic.Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of the ConfigMap, in the Workspace's namespace, that receives the "
        "compiled workspace (key `workspace.json`, or `workspace.json.gz` in binaryData when "
        "large). Defaults to the Workspace's name. The operator owns this ConfigMap: hand "
        "edits are reverted and it is deleted with the Workspace.",
    )


class WorkspaceSpec(_Model):
    """Desired state: which reviewed workspace to serve and how often to look for a new one."""

    source: str = pydantic.Field(
        min_length=1,
        max_length=2048,
        pattern=SOURCE_PATTERN,
        description="A rototo workspace source: `git+https://host/repo.git#ref:subdir`, "
        "`git+ssh://git@host/repo.git#ref`, an HTTPS archive `https://host/config.tar.gz#:dir`, "
        "or (only when the operator runs with --allow-local-sources) `git+file://`, `file://` "
        "and plain paths. A ref that is a full 40-character commit SHA makes the source "
        "immutable: it is loaded once and never polled. Plain http:// and git+http:// are "
        "rejected.",
    )
    period_seconds: int = pydantic.Field(
        default=60,
        ge=1,
        description="Seconds between checks for a new version of the source (one cheap "
        "ls-remote for git). Ignored for immutable sources. Must be at least 1.",
    )
    failure_backoff: FailureBackoff = pydantic.Field(
        default_factory=FailureBackoff,
        description="Retry delays after a failed refresh; the last known good version keeps "
        "being served meanwhile.",
    )
    max_staleness_seconds: int = pydantic.Field(
        default=600,
        ge=1,
        description="status.stale becomes true, and the Stale condition True, when the last "
        "successful refresh (an unchanged check counts) is older than this many seconds. "
        "Immutable sources are never stale. Must be at least 1.",
    )
    secret_ref: SecretReference | None = pydantic.Field(
        default=None,
        description="Credentials for the source, from a Secret in the Workspace's namespace.",
    )
    suspend: bool = pydantic.Field(
        default=False,
        description="When true the operator stops refreshing (including manual refresh "
        "requests); the published ConfigMap stays as it is.",
    )
    output: OutputSpec = pydantic.Field(
        default_factory=OutputSpec,
        description="Where the compiled workspace is published.",
    )


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(_Model):
    """The standard Kubernetes condition shape (metav1.Condition)."""

    type: str = pydantic.Field(
        max_length=316,
        description="Condition type: Ready, Stale or Refreshing (see docs/api.md).",
    )
    status: ConditionStatus = pydantic.Field(description="True, False or Unknown.")
    reason: str = pydantic.Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="A CamelCase machine-readable reason for the condition's last transition.",
    )
    message: str = pydantic.Field(
        default="",
        max_length=32768,
        description="A human-readable explanation of the condition.",
    )
    last_transition_time: datetime.datetime = pydantic.Field(
        description="When the condition last changed status.",
    )
    observed_generation: int | None = pydantic.Field(
        default=None,
        ge=0,
        description="metadata.generation of the Workspace when the condition was set.",
    )


class OutputStatus(_Model):
    """What is currently published."""

    config_map_name: str | None = pydantic.Field(
        default=None, description="Name of the ConfigMap holding the compiled workspace."
    )
    compiled_digest: str | None = pydantic.Field(
        default=None,
        description="sha256 digest of the published compiled model (`sha256:<hex>`), equal to "
        "the ConfigMap's rototo.dev/compiled-digest annotation.",
    )
    bytes: int | None = pydantic.Field(
        default=None,
        ge=0,
        description="Size of the compiled model in bytes, before compression.",
    )
    compressed: bool | None = pydantic.Field(
        default=None,
        description="True when the model is stored gzip-compressed as binaryData "
        "`workspace.json.gz` because it is large.",
    )


class WorkspaceStatus(_Model):
    """Observed state, written only by the operator (status subresource)."""

    current_fingerprint: str | None = pydantic.Field(
        default=None,
        description="Source fingerprint of the version being served (published in the "
        "ConfigMap), e.g. `git:<sha>`.",
    )
    short_fingerprint: str | None = pydantic.Field(
        default=None,
        description="First 8 characters of the fingerprint's hash, for `kubectl get`.",
    )
    last_success: datetime.datetime | None = pydantic.Field(
        default=None,
        description="Time of the last successful load or refresh (including refreshes that "
        "found the source unchanged).",
    )
    last_attempt: datetime.datetime | None = pydantic.Field(
        default=None, description="Time of the last refresh attempt, successful or not."
    )
    consecutive_failures: int = pydantic.Field(
        default=0, ge=0, description="Failed refresh attempts since the last success."
    )
    last_error: str | None = pydantic.Field(
        default=None,
        description="Why the last attempt failed (absent after a success). Never contains "
        "credentials.",
    )
    refreshing: bool = pydantic.Field(
        default=False, description="True while a refresh attempt is fetching or compiling."
    )
    immutable: bool = pydantic.Field(
        default=False,
        description="True when the source is pinned to a commit SHA: loaded once, never polled.",
    )
    stale: bool = pydantic.Field(
        default=False,
        description="True when a version is served and the last success is older than "
        "spec.maxStalenessSeconds (never for immutable sources; a Workspace that never loaded "
        "is not stale, its Ready condition says why). Re-evaluated on a timer even when "
        "nothing else changes.",
    )
    last_refresh_outcome: Outcome | None = pydantic.Field(
        default=None,
        description="Outcome of the last attempt: unchanged (same fingerprint), refreshed (a "
        "new version was loaded and published), immutable (pinned source, loaded once) or "
        "failed (the last known good version is still served).",
    )
    last_handled_refresh_request: str | None = pydantic.Field(
        default=None,
        description="Value of the rototo.dev/refresh-requested-at annotation that the last "
        "manual refresh answered.",
    )
    next_refresh_at: datetime.datetime | None = pydantic.Field(
        default=None,
        description="When the next attempt is due (absent for immutable or suspended sources).",
    )
    observed_generation: int | None = pydantic.Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec that the last attempt used.",
    )
    output: OutputStatus | None = pydantic.Field(
        default=None, description="What is currently published."
    )
    conditions: list[Condition] = pydantic.Field(
        default_factory=list,
        description="Ready, Stale and Refreshing, in the standard Kubernetes condition shape.",
    )


class Metadata(_Model):
    """The parts of ObjectMeta the controller reads."""

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)
    deletion_timestamp: datetime.datetime | None = None


class Workspace(_Model):
    """A live Workspace object as the controller sees it."""

    api_version: str = API_VERSION
    kind: str = KIND
    metadata: Metadata
    spec: WorkspaceSpec
    status: WorkspaceStatus = pydantic.Field(default_factory=WorkspaceStatus)

    @classmethod
    def from_body(cls, body: Any) -> Workspace:
        """Parse a raw object (dict or kopf body); raises pydantic.ValidationError."""
        return cls.model_validate(dict(body))

    @property
    def config_map_name(self) -> str:
        return self.spec.output.config_map_name or self.metadata.name

    @property
    def refresh_request(self) -> str | None:
        return self.metadata.annotations.get(REFRESH_REQUESTED_ANNOTATION)
