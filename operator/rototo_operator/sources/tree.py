"""Reading and writing staged trees safely: bounded walks, copies, hashes and projection.

Symbolic links inside a local tree are followed only when they resolve inside the tree's
root; a link that escapes it, dangles, or loops is refused, as are sockets, devices and
FIFOs. Every walk counts entries and bytes against `Limits` so a hostile tree fails with a
clear error instead of filling the disk.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from rototo_operator.errors import SourceError
from rototo_operator.sources import fingerprint as fingerprints
from rototo_operator.sources.limits import Limits, exceeded
from rototo_operator.sources.spec import SourceSpec

MANIFEST = "rototo-workspace.toml"
_CHUNK = 1 << 16


class RemoteTree(Protocol):
    """A remote tree staged once per session (a git commit or an extracted archive)."""

    spec: SourceSpec
    fingerprint: str
    immutable: bool

    def directory(self, subdir: str | None) -> Path:
        """The materialized directory at `subdir` of the tree (None: the tree root)."""

    def default_subdir(self) -> str | None:
        """Where the workspace is when the source names no subdirectory (None: the root)."""


class Budget:
    """Entries and bytes written so far into one staged tree, checked against the limits."""

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.entries = 0
        self.bytes = 0

    def entry(self, path: str) -> None:
        self.entries += 1
        if self.entries > self.limits.archive_entries:
            raise exceeded(
                "archive_entries",
                self.limits.archive_entries,
                f"{self.what} has more than {self.limits.archive_entries} entries (at {path})",
            )

    def add_bytes(self, count: int, path: str) -> None:
        self.bytes += count
        if self.bytes > self.limits.decompressed_bytes:
            raise exceeded(
                "decompressed_bytes",
                self.limits.decompressed_bytes,
                f"{self.what} holds more than {self.limits.decompressed_bytes} bytes (at {path})",
            )


def local_files(root: Path, budget: Budget) -> list[tuple[str, Path]]:
    """Every regular file under `root` as (relative POSIX path, real path), sorted by path."""
    try:
        real_root = root.resolve(strict=True)
    except OSError as error:
        raise SourceError(f"workspace directory {root} cannot be read: {error}") from None
    if not real_root.is_dir():
        raise SourceError(f"workspace source is not a directory: {root}")
    found: list[tuple[str, Path]] = []
    _walk(real_root, real_root, "", frozenset({real_root}), budget, found, root)
    found.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))
    return found


def _walk(  # noqa: PLR0917 - a private recursive helper carrying its walk state
    real_root: Path,
    directory: Path,
    prefix: str,
    ancestors: frozenset[Path],
    budget: Budget,
    found: list[tuple[str, Path]],
    shown_root: Path,
) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as error:
        raise SourceError(f"cannot read directory {directory}: {error}") from None
    for entry in entries:
        relative = f"{prefix}{entry.name}"
        path = Path(entry.path)
        if entry.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(real_root):
                raise SourceError(
                    f"symbolic link {relative} in {shown_root} points outside the workspace "
                    f"({os.readlink(path)}); links must stay inside the staged tree"
                )
            if not target.exists():
                raise SourceError(f"symbolic link {relative} in {shown_root} is dangling")
            path = target
        mode = path.stat().st_mode
        budget.entry(relative)
        if stat.S_ISDIR(mode):
            if path in ancestors:
                raise SourceError(f"symbolic link {relative} in {shown_root} forms a loop")
            _walk(real_root, path, relative + "/", ancestors | {path}, budget, found, shown_root)
        elif stat.S_ISREG(mode):
            budget.add_bytes(path.stat().st_size, relative)
            found.append((relative, path))
        else:
            raise SourceError(
                f"{relative} in {shown_root} is not a regular file or directory "
                "(sockets, devices and FIFOs are refused)"
            )


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def hash_local(root: Path, limits: Limits) -> str:
    """The `sha256:` tree fingerprint of a local directory, read without copying it."""
    hasher = fingerprints.TreeHasher()
    for relative, path in local_files(root, Budget(limits, f"workspace {root}")):
        hasher.add(relative, _chunks(path), path.stat().st_size)
    return hasher.fingerprint()


def snapshot_local(root: Path, dest: Path, limits: Limits) -> str:
    """Copy a local directory into `dest` (created) and return the tree fingerprint of the copy.

    The hash is computed over the bytes written, so the fingerprint always describes exactly
    what lint and compile will read, even if the source directory changes meanwhile.
    """
    hasher = fingerprints.TreeHasher()
    dest.mkdir(parents=True, exist_ok=True)
    for relative, path in local_files(root, Budget(limits, f"workspace {root}")):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        target.write_bytes(data)
        hasher.add(relative, [data], len(data))
    return hasher.fingerprint()


def hash_staged(root: Path, limits: Limits) -> str:
    """Tree fingerprint of a tree we staged ourselves (no links inside)."""
    return hash_local(root, limits)


def project(layer_root: Path, target: Path, *, include_manifest: bool) -> None:
    """Copy one layer over `target`: a later file replaces whatever is at its path.

    A file replaces an earlier directory at the same path and vice versa, so the result is
    exactly the union with later layers winning. The layer's root manifest is skipped for
    parent layers: the child's manifest stays the projection's manifest.
    """
    for dirpath, dirnames, filenames in os.walk(layer_root):
        dirnames.sort()
        relative_dir = Path(dirpath).relative_to(layer_root)
        target_dir = target / relative_dir
        _ensure_directory(target, target_dir)
        for name in sorted(filenames):
            if not include_manifest and relative_dir == Path(".") and name == MANIFEST:
                continue
            destination = target_dir / name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            shutil.copyfile(Path(dirpath) / name, destination)


def _ensure_directory(target_root: Path, directory: Path) -> None:
    """Make `directory` a directory, replacing files an earlier layer left on its path."""
    current = target_root
    for part in directory.relative_to(target_root).parts:
        current = current / part
        if current.exists() and not current.is_dir():
            current.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def select_subdir(tree_root: Path, subdir: str | None, shown: str) -> Path:
    """The workspace directory inside a staged tree; refuses missing or escaping subdirs."""
    if subdir is None:
        return tree_root
    real_root = tree_root.resolve()
    target = tree_root / subdir
    if not target.exists():
        raise SourceError(f"workspace source subdir `{subdir}` was not found in `{shown}`")
    if not target.is_dir():
        raise SourceError(f"workspace source subdir `{subdir}` is not a directory in `{shown}`")
    if not target.resolve().is_relative_to(real_root):
        raise SourceError(
            f"workspace source subdir `{subdir}` escapes the staged tree of `{shown}`"
        )
    return target
