"""The application-facing SDK: `Workspace`, `RefreshingWorkspace` and their value types.

Composes sources and the engine; never imports kopf or a Kubernetes client, so it is what
pods import to hot-read a mounted ConfigMap.
"""
