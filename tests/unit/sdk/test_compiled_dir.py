"""Hot-reading a compiled model from a kubelet-style ConfigMap volume.

The decoder here is a small JSON stand-in for the engine's CompiledModel so these tests
pin the file handling (tokens, swaps, faults); test_compiled_dir_engine.py repeats the key
cases with the real compiled model.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.errors import RototoError, WorkspaceLoadError
from rototo_operator.sdk import compiled_dir
from rototo_operator.sdk.refresher import Refresher
from tests.support.kubelet_volume import KubeletVolume
from tests.support.refresh_fakes import FakeClock, FakeWorkspace

TIMESTAMPED = re.compile(r"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$")
FP_1 = "git:" + "1" * 40
FP_2 = "git:" + "2" * 40


def model(fingerprint: str, values: dict[str, Any]) -> bytes:
    return json.dumps(
        {"format": "test/v1", "fingerprint": fingerprint, "values": values}, sort_keys=True
    ).encode()


def decode(data: bytes, origin: str) -> FakeWorkspace:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise WorkspaceLoadError(f"{origin}: not a compiled model: {error}") from None
    if not isinstance(document, dict) or document.get("format") != "test/v1":
        raise WorkspaceLoadError(f"{origin}: unknown compiled model format")
    return FakeWorkspace(document["fingerprint"], document["values"])


def volume_at(tmp_path: Path) -> KubeletVolume:
    ticks = iter(range(10_000))
    start = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
    return KubeletVolume(
        tmp_path / "account-config",
        clock=lambda: start + datetime.timedelta(seconds=next(ticks)),
    )


async def refresher_over(
    volume: KubeletVolume,
) -> tuple[Refresher[FakeWorkspace], compiled_dir.ModelFileLoader[FakeWorkspace]]:
    loader = compiled_dir.ModelFileLoader(volume.target, decode)
    refresher = Refresher(loader, clock=FakeClock())
    assert await refresher.refresh() == "refreshed"
    return refresher, loader


# -- the kubelet volume helper reproduces the atomic writer's layout ------------------------


def test_volume_layout_matches_the_kubelet(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": b"{}"})
    data_target = os.readlink(volume.target / "..data")
    assert TIMESTAMPED.match(data_target), data_target
    assert data_target.startswith("..2026_11_25_12_00_00.")
    assert os.readlink(volume.target / "workspace.json") == "..data/workspace.json"
    assert volume.timestamped_dirs() == [data_target]
    assert (volume.target / data_target / "workspace.json").stat().st_mode & 0o777 == 0o644
    assert (volume.target / data_target).stat().st_mode & 0o777 == 0o755
    assert volume.visible_keys() == ["workspace.json"]


def test_volume_update_swaps_data_and_removes_the_old_directory(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": b"one"})
    first = volume.current_dir_name()
    assert volume.write({"workspace.json": b"two"})
    second = volume.current_dir_name()
    assert second != first
    assert volume.timestamped_dirs() == [second]
    assert not (volume.target / "..data_tmp").exists()
    assert (volume.target / "workspace.json").read_bytes() == b"two"


def test_volume_write_of_identical_content_is_a_no_op(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": b"same"})
    before = volume.current_dir_name()
    assert not volume.write({"workspace.json": b"same"})
    assert volume.current_dir_name() == before


def test_volume_removes_the_symlink_of_a_dropped_key(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": b"x", "extra": b"y"})
    volume.write({"workspace.json.gz": gzip.compress(b"x")})
    assert volume.visible_keys() == ["workspace.json.gz"]


# -- detection and tokens -----------------------------------------------------------------


def test_find_compiled_model_accepts_volume_dirs_and_model_files(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {})})
    assert compiled_dir.find_compiled_model(volume.target) == volume.target / "workspace.json"
    assert compiled_dir.find_compiled_model(str(volume.target / "workspace.json")) is not None
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "rototo-workspace.toml").write_text("")
    (workspace / "workspace.json").write_text("{}")
    assert compiled_dir.find_compiled_model(workspace) is None
    assert compiled_dir.find_compiled_model(tmp_path / "missing") is None


def test_the_token_changes_on_swap_and_only_then(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {})})
    path = volume.target / "workspace.json"
    first = compiled_dir.model_token(path)
    assert first is not None
    assert compiled_dir.model_token(path) == first
    volume.write({"workspace.json": model(FP_2, {})})
    assert compiled_dir.model_token(path) not in (None, first)


def test_the_token_is_none_while_the_model_is_missing(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": b"{}"})
    volume.point_data_at_missing_dir()
    assert compiled_dir.model_token(volume.target / "workspace.json") is None


# -- hot reading through the refresh core -------------------------------------------------


async def test_a_swap_is_refreshed_with_the_recorded_fingerprint(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {"limit": 1})})
    refresher, _ = await refresher_over(volume)
    assert refresher.status().current_fingerprint == FP_1

    volume.write({"workspace.json": model(FP_2, {"limit": 2})})
    assert await refresher.refresh() == "refreshed"

    assert refresher.status().current_fingerprint == FP_2
    assert refresher.current is not None
    assert refresher.current.values == {"limit": 2}


async def test_no_swap_is_unchanged_without_reading_the_model(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {"limit": 1})})
    reads: list[str] = []

    def counting_decode(data: bytes, origin: str) -> FakeWorkspace:
        reads.append(origin)
        return decode(data, origin)

    refresher = Refresher(compiled_dir.ModelFileLoader(volume.target, counting_decode))
    await refresher.refresh()
    assert await refresher.refresh() == "unchanged"
    assert await refresher.refresh() == "unchanged"
    assert len(reads) == 1


async def test_a_republished_identical_model_is_unchanged(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {"limit": 1})})
    refresher, _ = await refresher_over(volume)
    # The bytes differ (key order) but the model is the same commit: a new ..data target
    # forces a read, the equal fingerprint makes it "unchanged".
    volume.write({"workspace.json": model(FP_1, {"limit": 1}) + b"\n"})
    assert await refresher.refresh() == "unchanged"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("corrupt", "not a compiled model"),
        ("empty", "empty"),
        ("truncated-in-place", "not a compiled model"),
        ("dangling-data-link", "not found"),
        ("key-removed", "not found"),
        ("wrong-format", "unknown compiled model format"),
    ],
)
async def test_a_bad_model_keeps_the_old_one_and_counts_a_failure(
    tmp_path: Path, fault: str, message: str
) -> None:
    volume = volume_at(tmp_path)
    good = model(FP_1, {"limit": 1})
    volume.write({"workspace.json": good})
    refresher, _ = await refresher_over(volume)
    served = refresher.current
    assert served is not None
    before = await served.resolve_variable("limit", {})

    if fault == "corrupt":
        volume.write({"workspace.json": b'{"format": "test/v1", "fingerp'})
    elif fault == "empty":
        volume.write({"workspace.json": b""})
    elif fault == "truncated-in-place":
        volume.truncate_in_place("workspace.json", len(good) // 2)
    elif fault == "dangling-data-link":
        volume.point_data_at_missing_dir()
    elif fault == "key-removed":
        volume.write({"other": b"x"})
    elif fault == "wrong-format":
        volume.write({"workspace.json": b'{"format": "rototo.compiled/v999"}'})

    for attempt in (1, 2):
        with pytest.raises(RototoError, match=message):
            await refresher.refresh()
        assert refresher.status().consecutive_failures == attempt

    assert refresher.current is served
    assert refresher.status().current_fingerprint == FP_1
    assert await served.resolve_variable("limit", {}) == before

    volume.write({"workspace.json": model(FP_2, {"limit": 2})})
    assert await refresher.refresh() == "refreshed"
    assert refresher.status().consecutive_failures == 0


async def test_gzip_models_are_read_and_truncated_gzip_is_a_failure(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json.gz": gzip.compress(model(FP_1, {"limit": 1}), mtime=0)})
    refresher, _ = await refresher_over(volume)
    assert refresher.status().current_fingerprint == FP_1

    packed = gzip.compress(model(FP_2, {"limit": 2}), mtime=0)
    volume.write({"workspace.json.gz": packed[: len(packed) - 6]})
    with pytest.raises(WorkspaceLoadError, match="truncated"):
        await refresher.refresh()

    volume.write({"workspace.json.gz": b"not gzip at all"})
    with pytest.raises(WorkspaceLoadError, match="corrupt gzip"):
        await refresher.refresh()
    assert refresher.status().current_fingerprint == FP_1


async def test_a_model_moving_between_plain_and_gzip_keys_is_followed(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {"limit": 1})})
    refresher, _ = await refresher_over(volume)
    volume.write({"workspace.json.gz": gzip.compress(model(FP_2, {"limit": 2}))})
    assert await refresher.refresh() == "refreshed"
    assert refresher.status().current_fingerprint == FP_2


def test_oversized_models_are_refused(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json.gz": gzip.compress(b" " * 10_000)})
    loader = compiled_dir.ModelFileLoader(volume.target, decode, max_bytes=1_000)
    with pytest.raises(WorkspaceLoadError, match="exceeds 1000 bytes unpacked"):
        loader.load_blocking()
    volume.write({"workspace.json": b" " * 10_000})
    with pytest.raises(WorkspaceLoadError, match="exceeds 1000 bytes"):
        loader.load_blocking()


async def test_a_plain_directory_and_a_model_file_also_work(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "workspace.json").write_bytes(model(FP_1, {"limit": 1}))
    for location in (plain, plain / "workspace.json"):
        refresher = Refresher(compiled_dir.ModelFileLoader(location, decode))
        assert await refresher.refresh() == "refreshed"
        assert refresher.status().current_fingerprint == FP_1
    refresher = Refresher(compiled_dir.ModelFileLoader(plain, decode))
    await refresher.refresh()
    replacement = plain / "workspace.json.tmp"
    replacement.write_bytes(model(FP_2, {"limit": 2}))
    replacement.replace(plain / "workspace.json")
    assert await refresher.refresh() == "refreshed"


async def test_a_resolution_returned_before_a_refresh_is_not_mutated(tmp_path: Path) -> None:
    volume = volume_at(tmp_path)
    volume.write({"workspace.json": model(FP_1, {"limits": {"rps": 10, "tags": ["a"]}})})
    refresher, _ = await refresher_over(volume)
    assert refresher.current is not None
    kept = await refresher.current.resolve_variable("limits", {})

    volume.write({"workspace.json": model(FP_2, {"limits": {"rps": 99, "tags": ["b"]}})})
    assert await refresher.refresh() == "refreshed"
    fresh = await refresher.current.resolve_variable("limits", {})

    assert kept.value == {"rps": 10, "tags": ["a"]}
    assert fresh.value == {"rps": 99, "tags": ["b"]}
