"""`RefreshingWorkspace.load(<mounted ConfigMap>)` with real compiled models from the engine.

The models are compiled from small workspaces by `engine.compiled.compile_tree`, written
into a kubelet-style volume (tests/support/kubelet_volume.py) and swapped the way the
kubelet swaps `..data`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

import rototo_operator as rototo
from rototo_operator.engine import compiled
from tests.support.kubelet_volume import KubeletVolume

FP_1 = "git:" + "1" * 40
FP_2 = "git:" + "2" * 40


def compile_model(tmp_path: Path, fingerprint: str, rate_limit: int) -> bytes:
    root = tmp_path / f"ws-{fingerprint[-6:]}-{rate_limit}"
    (root / "variables").mkdir(parents=True)
    (root / "rototo-workspace.toml").write_text("schema_version = 1\n")
    (root / "variables" / "rate-limit.toml").write_text(
        "schema_version = 1\n\n"
        'description = "Requests per second"\n'
        'type = "int"\n\n'
        f"[resolve]\ndefault = {rate_limit}\n"
    )
    model = compiled.compile_tree(
        root, source="git+https://git.example.test/config.git#main", fingerprint=fingerprint
    )
    return model.to_bytes()


def replace_value(node: Any, old: object, new: object) -> Any:
    if isinstance(node, dict):
        return {key: replace_value(value, old, new) for key, value in node.items()}
    if isinstance(node, list):
        return [replace_value(value, old, new) for value in node]
    return new if node == old and type(node) is type(old) else node


@pytest.fixture
def volume(tmp_path: Path) -> KubeletVolume:
    return KubeletVolume(tmp_path / "etc-rototo" / "account-config")


async def test_a_mounted_configmap_is_served_and_hot_read_on_swap(
    tmp_path: Path, volume: KubeletVolume
) -> None:
    volume.write({"workspace.json": compile_model(tmp_path, FP_1, 100)})
    async with await rototo.RefreshingWorkspace.load(volume.target) as workspace:
        before = await workspace.resolve_variable("rate-limit", {})
        assert before.value == 100
        status = await workspace.status()
        assert status.current_fingerprint == FP_1
        assert not status.immutable
        assert await workspace.refresh_now() == "unchanged"

        volume.write({"workspace.json": compile_model(tmp_path, FP_2, 250)})
        assert await workspace.refresh_now() == "refreshed"

        assert (await workspace.status()).current_fingerprint == FP_2
        assert (await workspace.resolve_variable("rate-limit", {})).value == 250
        assert before.value == 100


@pytest.mark.parametrize("fault", ["tampered", "truncated-gzip", "missing", "not-json"])
async def test_a_bad_published_model_keeps_the_old_one(
    tmp_path: Path, volume: KubeletVolume, fault: str
) -> None:
    volume.write({"workspace.json": compile_model(tmp_path, FP_1, 100)})
    async with await rototo.RefreshingWorkspace.load(volume.target) as workspace:
        good = compile_model(tmp_path, FP_2, 250)
        if fault == "tampered":
            # Edited by hand after compiling: the recorded digest no longer fits the content.
            document = replace_value(json.loads(good), 250, 999)
            volume.write({"workspace.json": json.dumps(document).encode()})
            expected = "digest mismatch"
        elif fault == "truncated-gzip":
            packed = gzip.compress(good)
            volume.write({"workspace.json.gz": packed[: len(packed) // 2]})
            expected = "truncated"
        elif fault == "missing":
            volume.write({"unrelated": b"x"})
            expected = "not found"
        else:
            volume.write({"workspace.json": good[: len(good) // 2]})
            expected = "not valid JSON"

        with pytest.raises(rototo.RototoError, match=expected):
            await workspace.refresh_now()
        status = await workspace.status()
        assert status.consecutive_failures == 1
        assert status.current_fingerprint == FP_1
        assert expected in (status.last_error or "")
        assert (await workspace.resolve_variable("rate-limit", {})).value == 100

        volume.write({"workspace.json.gz": gzip.compress(good)})
        assert await workspace.refresh_now() == "refreshed"
        assert (await workspace.resolve_variable("rate-limit", {})).value == 250


async def test_the_background_loop_hot_reads_a_swap(tmp_path: Path, volume: KubeletVolume) -> None:
    volume.write({"workspace.json": compile_model(tmp_path, FP_1, 100)})
    async with await rototo.RefreshingWorkspace.load(
        volume.target, period_seconds=0.02
    ) as workspace:
        volume.write({"workspace.json": compile_model(tmp_path, FP_2, 175)})
        # Status is a snapshot with no change notification, so the test polls it.
        async with asyncio.timeout(30):
            while (await workspace.status()).current_fingerprint != FP_2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert (await workspace.resolve_variable("rate-limit", {})).value == 175


async def test_an_unpublished_configmap_fails_the_initial_load(tmp_path: Path) -> None:
    empty = KubeletVolume(tmp_path / "account-config")
    empty.write({"other-key": b"{}"})
    with pytest.raises(rototo.RototoError):
        await rototo.RefreshingWorkspace.load(empty.target)
