"""``K=V`` arguments as Vault's CLI reads them (its ``kvbuilder``).

* ``key=value``        a string
* ``key=@file``        the file's contents (``key=\\@x`` is the literal ``@x``)
* ``key=-``            all of stdin
* ``-``                a JSON object from stdin, merged in (its keys win)
* ``@file``            a JSON object from the file, merged in (its keys win)
* a repeated key       becomes a list of its values, in order

Stdin can be used once per command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


class KvArgsError(ValueError):
    """An argument could not be used; the message says which and why."""


def read_text_file(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise KvArgsError(f"error reading file {path!r}: {exc.strerror or exc}") from None


@dataclass
class KvBuilder:
    """Accumulates arguments; ``stdin`` is None where reading it is not supported."""

    stdin: TextIO | None = None
    read_file: Callable[[str], str] = read_text_file
    result: dict[str, Any] = field(default_factory=dict)
    _stdin_used: bool = False

    def add_all(self, args: Sequence[str]) -> dict[str, Any]:
        for arg in args:
            self.add(arg)
        return self.result

    def add(self, raw: str) -> None:
        if raw == "":
            return
        key, sep, value = raw.partition("=")
        if not sep:
            if raw == "-":
                self._merge_json(self._read_stdin(), "stdin")
                return
            if raw.startswith("@"):
                self._merge_json(self.read_file(raw[1:]), raw[1:])
                return
            raise KvArgsError(f"format must be key=value, got {raw!r}")
        if not key:
            raise KvArgsError(f"missing key in {raw!r}")
        self._put(key, self._value(value))

    def _value(self, value: str) -> str:
        if value.startswith("@"):
            return self.read_file(value[1:])
        if value.startswith("\\@"):
            return value[1:]
        if value == "-":
            return self._read_stdin()
        return value

    def _read_stdin(self) -> str:
        if self.stdin is None:
            raise KvArgsError("reading from stdin is not supported here")
        if self._stdin_used:
            raise KvArgsError("stdin already consumed: '-' can be used only once")
        self._stdin_used = True
        return self.stdin.read()

    def _merge_json(self, text: str, source: str) -> None:
        try:
            parsed = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise KvArgsError(f"invalid JSON from {source}: {exc}") from None
        if not isinstance(parsed, dict):
            raise KvArgsError(f"JSON from {source} must be an object")
        self.result.update(parsed)  # as Go's json.Decode into the map: later keys win

    def _put(self, key: str, value: Any) -> None:
        if key not in self.result:
            self.result[key] = value
            return
        existing = self.result[key]
        values = list(existing) if isinstance(existing, list) else [existing]
        values.append(value)
        self.result[key] = values


def parse_kv_args(
    args: Sequence[str],
    *,
    stdin: TextIO | None = None,
    read_file: Callable[[str], str] = read_text_file,
) -> dict[str, Any]:
    return KvBuilder(stdin=stdin, read_file=read_file).add_all(args)
