"""Workspace sources: parse rototo source strings and stage them onto local disk.

Git through pygit2, https archives with limits, local paths, layering, fingerprints and
immutability. Knows nothing about lint or Kubernetes. Everything here blocks; async callers
run it in a thread (`asyncio.to_thread`).
"""

from rototo_operator.sources.credentials import TOKEN_ENV, Credentials
from rototo_operator.sources.fingerprint import combine_layers, short
from rototo_operator.sources.limits import Limits
from rototo_operator.sources.spec import SourceSpec, parse_source, redact
from rototo_operator.sources.stager import SourceLayer, StagedWorkspace, Stager

__all__ = [
    "TOKEN_ENV",
    "Credentials",
    "Limits",
    "SourceLayer",
    "SourceSpec",
    "StagedWorkspace",
    "Stager",
    "combine_layers",
    "parse_source",
    "redact",
    "short",
]
