"""The published ConfigMap: rendering, verification and the write decision.

A Workspace's compiled model is published as one ConfigMap in its namespace:

- `data["workspace.json"]`: the canonical compiled model, when it is small;
- `binaryData["workspace.json.gz"]`: the same bytes gzip-compressed (mtime 0, so the
  output is deterministic), when the model is larger than `GZIP_THRESHOLD`;
- labels `app.kubernetes.io/managed-by: rototo-operator` and `rototo.dev/workspace`,
  annotations `rototo.dev/fingerprint`, `rototo.dev/compiled-digest`, `rototo.dev/source`;
- an ownerReference to the Workspace (controller: true) so it is garbage-collected with it.

The write decision compares what *is* in the ConfigMap (the digest of its actual payload,
not just its annotation) with what should be, so a ConfigMap edited or deleted by hand is
restored, and an unchanged model is never rewritten.

Limits: one ConfigMap per Workspace; a model over `CONFIGMAP_LIMIT` after gzip is refused
(`OutputTooLarge`) until sharding exists. Pure functions except `apply`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from rototo_operator.api import models

JSON_KEY = "workspace.json"
GZIP_KEY = "workspace.json.gz"
# Past this size the model is stored gzip-compressed: smaller etcd objects and watch events,
# and room under the 1 MiB limit for models that compress well (JSON does).
GZIP_THRESHOLD = 256 * 1024
# The API server refuses ConfigMaps whose data and binaryData exceed 1 MiB in total; the
# margin leaves room for the object's metadata in etcd's request limit.
CONFIGMAP_LIMIT = 1024 * 1024
_MARGIN = 16 * 1024


class OutputTooLarge(ValueError):
    """The compiled model does not fit in one ConfigMap even compressed."""


class ConfigMapBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    data: dict[str, str]
    binaryData: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Payload:
    """The model's bytes as they will be stored.

    `digest` is the compiled model's own digest (the engine's, carried in the document and
    the annotation); `content_sha256` hashes the exact bytes, to detect edits of the data.
    """

    digest: str
    content_sha256: str
    raw_bytes: int
    compressed: bool
    data: dict[str, str]
    binary_data: dict[str, str]


def digest_of(model_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(model_bytes).hexdigest()


def encode_payload(model_bytes: bytes, *, digest: str | None = None) -> Payload:
    """Plain JSON when small, gzip when large; OutputTooLarge when it cannot fit."""
    content = digest_of(model_bytes)
    digest = digest or content
    if len(model_bytes) <= GZIP_THRESHOLD:
        return Payload(
            digest=digest,
            content_sha256=content,
            raw_bytes=len(model_bytes),
            compressed=False,
            data={JSON_KEY: model_bytes.decode("utf-8")},
            binary_data={},
        )
    packed = gzip.compress(model_bytes, compresslevel=9, mtime=0)
    if len(packed) > CONFIGMAP_LIMIT - _MARGIN:
        raise OutputTooLarge(
            f"the compiled model is {len(model_bytes)} bytes ({len(packed)} bytes gzip), over "
            f"the {CONFIGMAP_LIMIT - _MARGIN} byte budget of one ConfigMap (1 MiB limit); "
            "split the workspace or reduce catalog sizes"
        )
    return Payload(
        digest=digest,
        content_sha256=content,
        raw_bytes=len(model_bytes),
        compressed=True,
        data={},
        binary_data={GZIP_KEY: base64.b64encode(packed).decode("ascii")},
    )


def labels_for(workspace_name: str) -> dict[str, str]:
    return {
        models.MANAGED_BY_LABEL: models.MANAGED_BY_VALUE,
        models.WORKSPACE_LABEL: workspace_name,
    }


def owner_reference(workspace: models.Workspace) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "name": workspace.metadata.name,
        "uid": workspace.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_configmap(
    workspace: models.Workspace, payload: Payload, *, fingerprint: str, source: str
) -> ConfigMapBody:
    """The desired ConfigMap for a published model."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": workspace.config_map_name,
            "namespace": workspace.metadata.namespace,
            "labels": labels_for(workspace.metadata.name),
            "annotations": {
                models.FINGERPRINT_ANNOTATION: fingerprint,
                models.DIGEST_ANNOTATION: payload.digest,
                models.SOURCE_ANNOTATION: source,
            },
            "ownerReferences": [owner_reference(workspace)],
        },
        "data": dict(payload.data),
        "binaryData": dict(payload.binary_data),
    }


def stored_digest(body: Mapping[str, Any]) -> str | None:
    """sha256 of the model bytes actually stored in a ConfigMap (None: absent or corrupt)."""
    data = body.get("data") or {}
    binary = body.get("binaryData") or {}
    if JSON_KEY in data and GZIP_KEY not in binary:
        return digest_of(str(data[JSON_KEY]).encode("utf-8"))
    if GZIP_KEY in binary and JSON_KEY not in data:
        try:
            return digest_of(gzip.decompress(base64.b64decode(binary[GZIP_KEY], validate=True)))
        except (OSError, EOFError, binascii.Error, ValueError):
            return None
    return None


def foreign_controller(existing: Mapping[str, Any] | None, owner_uid: str) -> str | None:
    """ "Kind/name" of another object controlling the ConfigMap, None when free or ours.

    A ConfigMap without a controller (made by hand, or one whose ownerReference was edited
    away) is adopted; one controlled by something else is never taken over.
    """
    if existing is None:
        return None
    for ref in (existing.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") != owner_uid:
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


Decision = Literal["create", "replace", "keep"]


def decide(
    existing: Mapping[str, Any] | None,
    desired: ConfigMapBody,
    *,
    owner_uid: str,
    content_sha256: str,
) -> tuple[Decision, str]:
    """Whether to write the ConfigMap, and why (for logs and events)."""
    if existing is None:
        return "create", "the ConfigMap does not exist"
    meta = existing.get("metadata") or {}
    want_meta = desired["metadata"]
    refs = meta.get("ownerReferences") or []
    if not any(r.get("uid") == owner_uid and r.get("controller") for r in refs):
        return "replace", "the ConfigMap is not owned by this Workspace"
    if stored_digest(existing) != content_sha256:
        return "replace", "the ConfigMap's content differs from the compiled model"
    annotations = meta.get("annotations") or {}
    for key, value in want_meta["annotations"].items():
        if annotations.get(key) != value:
            return "replace", f"annotation {key} differs"
    labels = meta.get("labels") or {}
    for key, value in want_meta["labels"].items():
        if labels.get(key) != value:
            return "replace", f"label {key} differs"
    extra_keys = (set(existing.get("data") or {}) | set(existing.get("binaryData") or {})) - (
        set(desired["data"]) | set(desired["binaryData"])
    )
    if extra_keys:
        return "replace", f"unexpected keys {sorted(extra_keys)}"
    return "keep", "the ConfigMap holds the compiled model"


def merged_for_replace(existing: Mapping[str, Any], desired: ConfigMapBody) -> ConfigMapBody:
    """The replacement body: ours, keeping foreign labels/annotations and resourceVersion."""
    meta = dict(existing.get("metadata") or {})
    body: ConfigMapBody = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": desired["metadata"]["name"],
            "namespace": desired["metadata"]["namespace"],
            "resourceVersion": meta.get("resourceVersion"),
            "labels": {**(meta.get("labels") or {}), **desired["metadata"]["labels"]},
            "annotations": {
                **(meta.get("annotations") or {}),
                **desired["metadata"]["annotations"],
            },
            "ownerReferences": desired["metadata"]["ownerReferences"],
        },
        "data": dict(desired["data"]),
        "binaryData": dict(desired["binaryData"]),
    }
    return body
