"""Print the generated CRD: `python -m rototo_operator.api > crds/workspaces.rototo.dev.yaml`."""

from __future__ import annotations

import sys

from rototo_operator.api.crd import render_yaml

if __name__ == "__main__":
    sys.stdout.write(render_yaml())
