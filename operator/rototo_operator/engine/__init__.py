"""The rototo workspace engine: documents, lint, expressions, compile, resolution.

Works on a workspace tree already staged on local disk; never touches the network or
Kubernetes, and knows nothing of source strings.
"""
