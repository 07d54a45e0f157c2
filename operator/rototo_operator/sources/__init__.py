"""Workspace sources: parse rototo source strings and stage them onto local disk.

Git through pygit2, https archives with limits, local paths, layering, fingerprints and
immutability. Knows nothing about lint or Kubernetes.
"""
