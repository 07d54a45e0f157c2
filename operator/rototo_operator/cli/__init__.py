"""The `rototo-operator` command line: run | lint | compile | resolve | refresh | status.

Each command group lives in its own module and registers its sub-commands here; the
commands are thin and call into the layers below.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rototo_operator.cli import operator_commands, workspace_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rototo-operator",
        description="Keep reviewed rototo workspaces flowing from git into running pods.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    workspace_commands.register(commands)
    operator_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
