"""Credentials for remote sources; their text representation never shows a secret.

Kubernetes Secret keys map onto the fields (Flux-compatible): `username` + `password`
(HTTPS git), `bearerToken` (HTTPS archives, and git over HTTPS as an Authorization
header), `identity` + `known_hosts` (SSH), `ca.crt` (a private certificate authority).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

TOKEN_ENV = "ROTOTO_WORKSPACE_TOKEN"
"""The environment variable the reference CLI and SDK read a bearer token from."""


@dataclasses.dataclass(frozen=True, repr=False)
class Credentials:
    """Secrets and trust material for one workspace source (and its same-host layers)."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ssh_identity: str | None = None
    """An OpenSSH or PEM private key (text), not a path."""
    ssh_identity_passphrase: str | None = None
    ssh_known_hosts: str | None = None
    """known_hosts text; SSH host keys not listed here are refused."""
    ca_bundle: str | None = None
    """PEM certificates trusted for HTTPS instead of the system store."""

    def __repr__(self) -> str:
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if field.name == "username":
                shown.append(f"username={value!r}")
            elif field.name in ("ssh_known_hosts", "ca_bundle"):
                shown.append(f"{field.name}=<{len(value.splitlines())} lines>")
            else:
                shown.append(f"{field.name}=<redacted>")
        return f"Credentials({', '.join(shown)})"

    __str__ = __repr__

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> Credentials:
        """Build from decoded Kubernetes Secret data using the Flux-compatible key names."""
        return cls(
            username=data.get("username"),
            password=data.get("password"),
            bearer_token=data.get("bearerToken"),
            ssh_identity=data.get("identity"),
            ssh_identity_passphrase=data.get("identity.passphrase") or data.get("passphrase"),
            ssh_known_hosts=data.get("known_hosts"),
            ca_bundle=data.get("ca.crt"),
        )

    @classmethod
    def for_workspace_token(
        cls, workspace_token: str | None, environ: Mapping[str, str] | None = None
    ) -> Credentials | None:
        """The SDK's `workspace_token=` argument, else `ROTOTO_WORKSPACE_TOKEN`, else None.

        Only for application processes: the operator must not read its own environment
        on behalf of a Workspace, which would hand one tenant's token to another.
        """
        env = os.environ if environ is None else environ
        token = workspace_token or env.get(TOKEN_ENV) or None
        return None if token is None else cls(bearer_token=token)
