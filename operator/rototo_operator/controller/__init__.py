"""The kopf operator: one refresh loop per Workspace, publishing ConfigMaps and status."""
