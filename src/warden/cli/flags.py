"""Vault's flag spelling on top of argparse.

Vault (Go's flag package) spells long flags with one dash: ``-format=json``,
``-dev-root-token-id=x``. argparse wants ``--format``. Rewriting known
single-dash long flags before parsing keeps argparse's complete ``--help``
while letting people paste Vault commands unchanged.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def long_option_names(parser: argparse.ArgumentParser) -> set[str]:
    names: set[str] = set()
    for action in parser._actions:  # argparse exposes no public accessor for this
        for option in action.option_strings:
            if option.startswith("--"):
                names.add(option[2:])
    return names


def vault_style(argv: Sequence[str], known: set[str]) -> list[str]:
    """Turn ``-name[=value]`` into ``--name[=value]`` for every known long option."""
    out: list[str] = []
    passthrough = False
    for arg in argv:
        if passthrough or arg == "--":
            passthrough = True
            out.append(arg)
            continue
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            name = arg[1:].split("=", 1)[0]
            if name in known:
                arg = "-" + arg
        out.append(arg)
    return out


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    return parser.parse_args(vault_style(argv, long_option_names(parser)))
