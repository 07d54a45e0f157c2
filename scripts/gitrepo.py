"""A throwaway git repository holding a workspace, driven with the system ``git``.

The demo and the packaging tests publish a workspace directory as a branch of a local
repository, then commit changes to it, exactly as a reviewer merging to ``main`` would. The
operator reads it through ``git+file://<path>#main`` (libgit2, like any remote). Only the
test and demo side uses the ``git`` command; the product never does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

_IDENTITY = {
    "GIT_AUTHOR_NAME": "rototo demo",
    "GIT_AUTHOR_EMAIL": "demo@rototo.invalid",
    "GIT_COMMITTER_NAME": "rototo demo",
    "GIT_COMMITTER_EMAIL": "demo@rototo.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


ENTERPRISE_LIMIT_FILE = "catalogs/account-limit-profile-entries/enterprise.toml"
_LIMIT_LINE = re.compile(r"^api_requests_per_minute = (\d+)$", re.MULTILINE)


class GitRepo:
    """A non-bare repository with one branch, ``main``, whose tree is a workspace."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_directory(cls, source: Path, path: Path, message: str) -> GitRepo:
        """Copy ``source`` into a new repository at ``path`` and commit it on ``main``."""
        shutil.copytree(source, path, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        repo = cls(path)
        repo.git("init", "--quiet", "--initial-branch=main")
        repo.commit_all(message)
        return repo

    @property
    def url(self) -> str:
        return f"git+file://{self.path}#main"

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **_IDENTITY},
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit_all(self, message: str) -> str:
        """Commit every change in the work tree; returns the new commit's SHA."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "--message", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def set_enterprise_api_limit(self, value: int) -> None:
        """Edit examples/account-config's enterprise plan limit (api_requests_per_minute)."""
        path = self.path / ENTERPRISE_LIMIT_FILE
        text = path.read_text()
        if not _LIMIT_LINE.search(text):
            raise ValueError(f"{ENTERPRISE_LIMIT_FILE} has no `api_requests_per_minute = N` line")
        path.write_text(_LIMIT_LINE.sub(f"api_requests_per_minute = {value}", text, count=1))

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def write_small_workspace(root: Path, enterprise_limit: int) -> Path:
    """A minimal valid workspace: ``account-limits`` is 100, or ``enterprise_limit`` for
    ``{"account": {"plan": "enterprise"}}``. For tests that need any workspace at all."""
    files = {
        "rototo-workspace.toml": "schema_version = 1\n",
        "request-contexts/request.schema.json": json.dumps(
            {
                "type": "object",
                "properties": {
                    "account": {"type": "object", "properties": {"plan": {"type": "string"}}}
                },
            },
            indent=2,
        )
        + "\n",
        "qualifiers/enterprise-plan.toml": (
            'schema_version = 1\ndescription = "Enterprise accounts"\n'
            "when = '(context.account.plan == \"enterprise\")'\n"
        ),
        "variables/account-limits.toml": (
            "schema_version = 1\n"
            'description = "Requests per minute for an account"\n'
            'type = "int"\n\n'
            "[resolve]\n"
            "default = 100\n\n"
            "[[resolve.rule]]\n"
            "when = 'qualifier[\"enterprise-plan\"]'\n"
            f"value = {enterprise_limit}\n"
        ),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
