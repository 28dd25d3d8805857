"""Tables of commands and the dispatcher shared by ``warden`` and its command groups.

A command is named ``"module:function"`` and imported only when run, so adding one is a
line in a table and ``warden status`` does not pay for importing ``kv``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from warden.cli.common import EXIT_OK, EXIT_USAGE, Command, Streams, UsageError

HELP_ARGS = frozenset({"-h", "-help", "--help", "help"})


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    target: str  # "package.module:function"; the function is (argv, streams) -> exit code
    synopsis: str
    section: str = "Commands"

    def load(self) -> Command:
        module, _, function = self.target.partition(":")
        command: Command = getattr(importlib.import_module(module), function)
        return command


@dataclass(frozen=True, slots=True)
class Group:
    prog: str
    description: str
    entries: tuple[Entry, ...]
    noun: str = "subcommand"

    def find(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def help(self) -> str:
        width = max(len(e.name) for e in self.entries) + 4
        lines = [f"Usage: {self.prog} <{self.noun}> [options] [args]", "", self.description]
        sections: list[str] = []
        for entry in self.entries:
            if entry.section not in sections:
                sections.append(entry.section)
        for section in sections:
            lines += ["", f"{section}:"]
            lines += [f"    {e.name.ljust(width)}{e.synopsis}"
                      for e in self.entries if e.section == section]
        lines += ["", f"Run '{self.prog} <{self.noun}> -help' for the {self.noun}'s options."]
        return "\n".join(lines)

    def run(self, argv: Sequence[str], streams: Streams) -> int:
        if not argv:
            streams.err(self.help())
            return EXIT_USAGE
        if argv[0] in HELP_ARGS:
            streams.out(self.help())
            return EXIT_OK
        entry = self.find(argv[0])
        if entry is None:
            raise UsageError(f"Unknown {self.noun} {argv[0]!r}", self.prog)
        return entry.load()(list(argv[1:]), streams)
