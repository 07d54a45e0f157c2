"""`python -m rototo_operator` is the `rototo-operator` command."""

import sys

from rototo_operator.cli import main

sys.exit(main())
