"""A ConfigMap volume on local disk, laid out and updated the way the kubelet does it.

The kubelet's atomic writer (pkg/volume/util/atomic_writer.go) keeps the real files in a
hidden timestamped directory, points `..data` at it, and exposes each key as a symlink
through `..data`:

    <dir>/..2026_11_25_12_00_00.123456789/workspace.json   the bytes (mode 0644)
    <dir>/..data -> ..2026_11_25_12_00_00.123456789          one symlink, swapped atomically
    <dir>/workspace.json -> ..data/workspace.json            one symlink per key

An update writes a complete new timestamped directory, creates `..data_tmp` pointing at
it, renames `..data_tmp` over `..data` (rename(2) is atomic, so a reader sees the old or
the new set, never a mix), adds symlinks for new keys, removes symlinks of keys that went
away, and finally deletes the previous timestamped directory. A write whose payload equals
what is on disk does nothing, as in the kubelet.

Besides faithful updates, the fault helpers reproduce what a reader may meet when the
writer is not atomic or the payload itself is bad: a truncated file, a `..data` link to a
directory that is gone, a key removed.

Limits: flat keys only (ConfigMap keys cannot contain '/'); no Windows behaviour.
"""

from __future__ import annotations

import datetime
import os
import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"
FILE_MODE = 0o644
DIR_MODE = 0o755


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


class KubeletVolume:
    """A target directory the test updates like the kubelet updates a ConfigMap volume."""

    def __init__(
        self,
        target: Path,
        *,
        clock: Callable[[], datetime.datetime] = _utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.target.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._rng = rng or random.Random(0)

    # -- the kubelet's algorithm ---------------------------------------------------------

    def write(self, payload: Mapping[str, bytes]) -> bool:
        """Project `payload` (key -> bytes) atomically; returns False when nothing changed."""
        for key in payload:
            _validate_key(key)
        old_dir = self.current_dir_name()
        old_keys = set(self.visible_keys())
        removed = old_keys - set(payload)
        if old_dir is not None and not removed and self._matches(old_dir, payload):
            return False

        new_dir = self._new_timestamp_dir()
        for key, data in payload.items():
            path = new_dir / key
            path.write_bytes(data)
            path.chmod(FILE_MODE)

        tmp_link = self.target / DATA_DIR_TMP
        tmp_link.symlink_to(new_dir.name)
        os.rename(tmp_link, self.target / DATA_DIR)

        for key in payload:
            visible = self.target / key
            if not visible.is_symlink():
                visible.symlink_to(f"{DATA_DIR}/{key}")
        for key in sorted(removed, reverse=True):
            (self.target / key).unlink()
        # os.RemoveAll in the kubelet: a previous directory that is already gone is fine.
        if old_dir is not None and (self.target / old_dir).is_dir():
            shutil.rmtree(self.target / old_dir)
        return True

    def current_dir_name(self) -> str | None:
        """The timestamped directory `..data` points at, or None before the first write."""
        try:
            return os.readlink(self.target / DATA_DIR)
        except FileNotFoundError:
            return None

    def visible_keys(self) -> list[str]:
        """The user-visible entries (everything not starting with '..')."""
        return sorted(p.name for p in self.target.iterdir() if not p.name.startswith(".."))

    def timestamped_dirs(self) -> list[str]:
        """Every hidden timestamped directory present (one, between updates)."""
        return sorted(
            p.name
            for p in self.target.iterdir()
            if p.name.startswith("..") and p.name not in (DATA_DIR, DATA_DIR_TMP)
        )

    # -- faults ----------------------------------------------------------------------------

    def truncate_in_place(self, key: str, keep_bytes: int) -> None:
        """Cut the live file short without a swap, as a non-atomic writer caught mid-write."""
        live = self.target / DATA_DIR / key
        live.write_bytes(live.read_bytes()[:keep_bytes])

    def point_data_at_missing_dir(self) -> None:
        """Swap `..data` to a timestamped name that does not exist (a dangling link)."""
        tmp_link = self.target / DATA_DIR_TMP
        tmp_link.symlink_to(self._timestamp_name())
        os.rename(tmp_link, self.target / DATA_DIR)

    # -- helpers ---------------------------------------------------------------------------

    def _matches(self, old_dir: str, payload: Mapping[str, bytes]) -> bool:
        for key, data in payload.items():
            path = self.target / old_dir / key
            if not path.exists() or path.read_bytes() != data:
                return False
        return True

    def _timestamp_name(self) -> str:
        # Go's os.MkdirTemp appends a random decimal number to the UTC time prefix.
        stamp = self._clock().astimezone(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
        return f"{stamp}{self._rng.randrange(10**8, 10**9)}"

    def _new_timestamp_dir(self) -> Path:
        while True:
            path = self.target / self._timestamp_name()
            try:
                path.mkdir()
            except FileExistsError:
                continue
            path.chmod(DIR_MODE)
            return path


def _validate_key(key: str) -> None:
    if not key or "/" in key or key.startswith(".."):
        raise ValueError(f"invalid ConfigMap volume key: {key!r}")
