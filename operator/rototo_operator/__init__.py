"""rototo-operator: reviewed runtime configuration from git into running pods.

The public face re-exports the SDK, with the same names as the reference rototo Python
SDK, so an application can switch with `import rototo_operator as rototo`.
"""

from __future__ import annotations

from rototo_operator.errors import RototoError

__all__ = ["RototoError"]
