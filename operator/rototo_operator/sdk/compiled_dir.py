"""Reading a compiled model from a directory, above all a mounted ConfigMap, and noticing swaps.

The operator publishes each workspace as a ConfigMap holding the compiled model under the
key `workspace.json` (or gzip-compressed `workspace.json.gz` when large). Mounted as a
volume, the kubelet lays the keys out as symlinks through `..data`, a link to a hidden
timestamped directory that it replaces atomically on every update (see
tests/support/kubelet_volume.py). So:

* the change token (`probe`) is the `..data` link target plus the model file's identity
  (device, inode, size, mtime): one readlink and one stat, no read of the model;
* `load` resolves `..data` once and reads the file through that directory, so it reads one
  complete version even if the kubelet swaps meanwhile;
* a missing, truncated or corrupt file is a WorkspaceLoadError naming the path; the
  refresh core then keeps serving the previous model and counts a failure.

The same loader also works for a plain directory or a single model file (no `..data`):
then the token is just the file identity.

Limits: a ConfigMap mounted with `subPath` is a copy the kubelet never updates; the loader
cannot tell, it simply never sees a change. Decompressed models are capped (see
MAX_MODEL_BYTES) so a hostile gzip cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from rototo_operator.errors import WorkspaceLoadError

MODEL_KEY = "workspace.json"
MODEL_KEY_GZIP = "workspace.json.gz"
DATA_LINK = "..data"
MAX_MODEL_BYTES = 200 * 1024 * 1024
"""Cap on a model's (decompressed) size; ConfigMaps hold at most 1 MiB compressed."""

T = TypeVar("T")


def find_compiled_model(path: str | os.PathLike[str]) -> Path | None:
    """The model file a path designates, or None when it is not a compiled-model location.

    A directory qualifies when it holds `workspace.json` or `workspace.json.gz` and is not
    itself a workspace (no `rototo-workspace.toml`); a file qualifies by those names. The
    model file may be a (possibly dangling, mid-swap) symlink.
    """
    candidate = Path(path)
    if candidate.is_dir():
        if (candidate / "rototo-workspace.toml").exists():
            return None
        for key in (MODEL_KEY, MODEL_KEY_GZIP):
            model = candidate / key
            if model.exists() or model.is_symlink():
                return model
        return None
    if candidate.name in (MODEL_KEY, MODEL_KEY_GZIP) and candidate.is_file():
        return candidate
    return None


@dataclasses.dataclass(frozen=True)
class ModelBytes:
    """One complete read of a compiled model: its JSON bytes and the file they came from."""

    data: bytes
    path: Path


def model_token(model: Path) -> str | None:
    """The change token for a model file: `..data` target and file identity; None if absent."""
    directory = model.parent
    try:
        link = os.readlink(directory / DATA_LINK)
    except OSError:
        link = ""
    try:
        info = os.stat(_choose(model))
    except OSError:
        return None
    return f"{link}|{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def read_model(model: Path, *, max_bytes: int = MAX_MODEL_BYTES) -> ModelBytes:
    """Read one consistent version of the model; WorkspaceLoadError names the path if bad."""
    model = _choose(model)
    directory = model.parent
    try:
        link: str | None = os.readlink(directory / DATA_LINK)
    except OSError:
        link = None
    # Read through the resolved timestamped directory, not through the per-key symlink, so
    # a swap between here and the read cannot hand us a newer file than the token says.
    physical = directory / link / model.name if link is not None else model
    try:
        with open(physical, "rb") as handle:
            # Size the read by the file, not by the cap: `read(n)` allocates n bytes up
            # front, and 200 MiB per load costs more than reading a small model.
            size = os.fstat(handle.fileno()).st_size
            raw = handle.read(min(size, max_bytes) + 1)
    except FileNotFoundError:
        raise WorkspaceLoadError(
            f"{model}: compiled model not found (is the ConfigMap mounted and published?)"
        ) from None
    except OSError as error:
        raise WorkspaceLoadError(f"{model}: cannot read compiled model: {error}") from None
    if len(raw) > max_bytes:
        raise WorkspaceLoadError(f"{model}: compiled model exceeds {max_bytes} bytes")
    if not raw:
        raise WorkspaceLoadError(f"{model}: compiled model is empty (half-written?)")
    data = _gunzip(raw, model, max_bytes) if model.name.endswith(".gz") else raw
    return ModelBytes(data=data, path=model)


def _choose(model: Path) -> Path:
    """Follow a model that moved between its plain and gzip keys across an update."""
    if model.exists() or not model.name.startswith(MODEL_KEY):
        return model
    other = MODEL_KEY_GZIP if model.name == MODEL_KEY else MODEL_KEY
    sibling = model.with_name(other)
    return sibling if sibling.exists() else model


def _gunzip(raw: bytes, model: Path, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as error:
        raise WorkspaceLoadError(f"{model}: corrupt gzip data: {error}") from None
    if len(data) > max_bytes:
        raise WorkspaceLoadError(f"{model}: compiled model exceeds {max_bytes} bytes unpacked")
    if not inflater.eof:
        raise WorkspaceLoadError(f"{model}: gzip data is truncated (half-written?)")
    if inflater.unused_data:
        # A second gzip member is legal but the operator never writes one; reject rather than
        # silently ignore trailing bytes.
        raise WorkspaceLoadError(f"{model}: unexpected data after the gzip stream")
    return data


class ModelFileLoader(Generic[T]):
    """A refresh-core loader over a compiled-model directory (a mounted ConfigMap) or file.

    `decode(data, origin)` turns the model's JSON bytes into a workspace and raises
    WorkspaceLoadError for a corrupt or unknown format; `origin` names the file for
    messages. `loaders.CompiledDirLoader` is this loader producing SDK Workspaces; the
    decoder is a parameter so the file handling is tested without the engine.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        decode: Callable[[bytes, str], T],
        *,
        max_bytes: int = MAX_MODEL_BYTES,
    ) -> None:
        model = find_compiled_model(path)
        if model is None:
            base = Path(path)
            model = base / MODEL_KEY if base.is_dir() or not base.suffix else base
        self.model_path = model
        self._decode = decode
        self._max_bytes = max_bytes

    @property
    def immutable(self) -> bool:
        # The ConfigMap can always be republished, whatever the source behind it.
        return False

    async def probe(self) -> str | None:
        return await asyncio.to_thread(model_token, self.model_path)

    async def load(self) -> T:
        return await asyncio.to_thread(self.load_blocking)

    def load_blocking(self) -> T:
        """Read and decode the model now (for synchronous callers such as the CLI)."""
        model = read_model(self.model_path, max_bytes=self._max_bytes)
        return self._decode(model.data, str(model.path))
