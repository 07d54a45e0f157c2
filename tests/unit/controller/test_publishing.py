"""ConfigMap rendering, the gzip threshold, the size limit and the write decision."""

from __future__ import annotations

import base64
import gzip
import json
import os

import pytest

from rototo_operator.api import models
from rototo_operator.controller import publishing
from tests.unit.controller import fakes


def model_bytes(size: int) -> bytes:
    return json.dumps({"format": "rototo.compiled/v1", "pad": "ab" * (size // 2)}).encode()


def test_small_models_are_plain_json() -> None:
    data = model_bytes(100)
    payload = publishing.encode_payload(data, digest="sha256:engine")
    assert payload.data == {"workspace.json": data.decode()}
    assert payload.binary_data == {}
    assert (payload.compressed, payload.raw_bytes, payload.digest) == (
        False,
        len(data),
        "sha256:engine",
    )


def test_large_models_are_gzip_binary_data_and_deterministic() -> None:
    data = model_bytes(publishing.GZIP_THRESHOLD + 10)
    first = publishing.encode_payload(data)
    second = publishing.encode_payload(data)
    assert first.compressed
    assert first.data == {}
    assert first.binary_data == second.binary_data
    packed = base64.b64decode(first.binary_data["workspace.json.gz"])
    assert gzip.decompress(packed) == data


def test_output_over_the_configmap_limit_is_refused() -> None:
    noise = os.urandom(publishing.CONFIGMAP_LIMIT)  # incompressible
    with pytest.raises(publishing.OutputTooLarge, match="1 MiB limit"):
        publishing.encode_payload(base64.b64encode(noise))


def rendered(data: bytes) -> tuple[models.Workspace, publishing.Payload, publishing.ConfigMapBody]:
    ws = fakes.workspace(output={"configMapName": "out"})
    payload = publishing.encode_payload(data, digest="sha256:d")
    body = publishing.render_configmap(ws, payload, fingerprint="git:abc", source="git+https://h/r")
    return ws, payload, body


def test_rendered_configmap_carries_labels_annotations_and_owner() -> None:
    ws, _, body = rendered(model_bytes(10))
    meta = body["metadata"]
    assert (meta["name"], meta["namespace"]) == ("out", "payments")
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "rototo-operator",
        "rototo.dev/workspace": "cfg",
    }
    assert meta["annotations"]["rototo.dev/fingerprint"] == "git:abc"
    assert meta["annotations"]["rototo.dev/compiled-digest"] == "sha256:d"
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "rototo.dev/v1alpha1",
        "kind": "Workspace",
        "name": "cfg",
        "uid": ws.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_stored_digest_reads_both_encodings_and_rejects_corruption() -> None:
    small = model_bytes(10)
    big = model_bytes(publishing.GZIP_THRESHOLD + 1)
    for data in (small, big):
        _, payload, body = rendered(data)
        assert publishing.stored_digest(body) == payload.content_sha256
    assert publishing.stored_digest({"binaryData": {"workspace.json.gz": "bm90Z3ppcA=="}}) is None
    assert publishing.stored_digest({"data": {}}) is None


def test_write_decisions() -> None:
    ws, payload, desired = rendered(model_bytes(10))

    def decide(existing: dict[str, object] | None) -> str:
        return publishing.decide(
            existing, desired, owner_uid=ws.metadata.uid, content_sha256=payload.content_sha256
        )[0]

    assert decide(None) == "create"
    same = json.loads(json.dumps(desired))
    assert decide(same) == "keep"
    edited = json.loads(json.dumps(desired))
    edited["data"]["workspace.json"] = "{}"
    assert decide(edited) == "replace"
    relabelled = json.loads(json.dumps(desired))
    relabelled["metadata"]["annotations"]["rototo.dev/fingerprint"] = "git:other"
    assert decide(relabelled) == "replace"
    extra = json.loads(json.dumps(desired))
    extra["data"]["other"] = "x"
    assert decide(extra) == "replace"
    orphan = json.loads(json.dumps(desired))
    orphan["metadata"]["ownerReferences"] = []
    assert decide(orphan) == "replace"


def test_foreign_controllers_are_never_taken_over() -> None:
    ws, _, desired = rendered(model_bytes(10))
    theirs = json.loads(json.dumps(desired))
    theirs["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    theirs["metadata"]["ownerReferences"][0]["kind"] = "HelmRelease"
    assert publishing.foreign_controller(theirs, ws.metadata.uid) == "HelmRelease/cfg"
    assert publishing.foreign_controller(desired, ws.metadata.uid) is None
    assert publishing.foreign_controller(None, ws.metadata.uid) is None


def test_replace_keeps_foreign_metadata_and_the_resource_version() -> None:
    _, _, desired = rendered(model_bytes(10))
    existing = {
        "metadata": {
            "name": "out",
            "resourceVersion": "42",
            "labels": {"team": "payments"},
            "annotations": {"note": "kept"},
        },
        "data": {"workspace.json": "{}", "stray": "x"},
    }
    body = publishing.merged_for_replace(existing, desired)
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["metadata"]["labels"]["team"] == "payments"
    assert body["metadata"]["annotations"]["note"] == "kept"
    assert body["data"] == desired["data"]
