"""Where sandbox tasks run: a killable worker process (default) or this process.

The Lua hook bounds instructions and wall time only while the VM executes bytecode; one C
call (a pathological string pattern, `table.move` over 2^40 slots) never returns to it.
The process executor therefore gives every task a deadline and kills the worker when it
passes, then starts a fresh one for the remaining tasks. The inline executor exists for
fast unit tests and for hosts that cannot spawn processes; it has no such backstop.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from rototo_operator.engine.lua_lint import _sandbox

Isolation = Literal["process", "inline"]

# The worker's own hook stops Lua code at TIME_LIMIT_SECONDS; the margin covers copying the
# workspace into the VM and the round trip, so the kill only catches stuck C calls.
TASK_DEADLINE_SECONDS = _sandbox.TIME_LIMIT_SECONDS + 2.0
STARTUP_DEADLINE_SECONDS = 30.0
_SANDBOX_SCRIPT = Path(_sandbox.__file__).resolve()


class Executor(Protocol):
    def run(self, job: Mapping[str, Any], *, label: str) -> Any:
        """Run one job; raises `_sandbox.TaskFailure`."""

    def close(self) -> None: ...


class InlineExecutor:
    def __init__(self, workspace: Mapping[str, Any], scripts: Mapping[str, str]) -> None:
        self._workspace = workspace
        self._scripts = scripts

    def run(self, job: Mapping[str, Any], *, label: str) -> Any:
        return _sandbox.execute(job, self._scripts, self._workspace)

    def close(self) -> None:
        return None


class ProcessExecutor:
    """Runs jobs in a `python -I _sandbox.py` worker; restarts it after a kill or crash."""

    def __init__(
        self,
        workspace: Mapping[str, Any],
        scripts: Mapping[str, str],
        *,
        deadline_seconds: float | None = None,
    ) -> None:
        # Serialised once; every (re)started worker receives the same state.
        self._preamble = [json.dumps({"op": "workspace", "workspace": workspace})] + [
            json.dumps({"op": "script", "path": path, "text": text})
            for path, text in scripts.items()
        ]
        # Read at construction, not import, so tests can shorten the module default.
        self._deadline_seconds = (
            TASK_DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(self, job: Mapping[str, Any], *, label: str) -> Any:
        process = self._ensure_started()
        try:
            self._send(process, json.dumps(job))
            line = self._read_line(process, self._deadline_seconds)
        except TimeoutError:
            self._kill()
            raise _sandbox.TaskFailure(f"{label} exceeded execution timeout") from None
        except (OSError, EOFError):
            self._kill()
            raise _sandbox.TaskFailure(f"{label} task failed: the Lua worker exited") from None
        answer = json.loads(line)
        if "error" in answer:
            raise _sandbox.TaskFailure(str(answer["error"]))
        return answer["ok"]

    def close(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is not None:
            return self._process
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", str(_SANDBOX_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
            )
        except OSError as error:
            raise _sandbox.TaskFailure(f"failed to start the Lua worker: {error}") from None
        self._process = process
        self._buffer = b""
        try:
            ready = json.loads(self._read_line(process, STARTUP_DEADLINE_SECONDS))
            if ready != {"ready": True}:
                raise EOFError
            for line in self._preamble:
                self._send(process, line)
        except (TimeoutError, OSError, EOFError, ValueError):
            self._kill()
            raise _sandbox.TaskFailure("failed to start the Lua worker") from None
        return process

    @staticmethod
    def _send(process: subprocess.Popen[bytes], line: str) -> None:
        assert process.stdin is not None
        process.stdin.write(line.encode() + b"\n")
        process.stdin.flush()

    def _read_line(self, process: subprocess.Popen[bytes], seconds: float) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if not selector.select(remaining):
                    continue
                chunk = os.read(process.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise EOFError
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def _kill(self) -> None:
        process = self._process
        self._process = None
        self._buffer = b""
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def make_executor(
    isolation: Isolation, workspace: Mapping[str, Any], scripts: Mapping[str, str]
) -> Executor:
    if isolation == "inline":
        return InlineExecutor(workspace, scripts)
    return ProcessExecutor(workspace, scripts)
