"""The tamper-evident chain: every line carries a sequence number and its predecessor's hash.

``seq`` starts at 1 in a new file; ``prev_hash`` is the SHA-256 (hex) of the previous
line's exact bytes (without the newline), or ``GENESIS`` for the first line of a file.
A deleted, inserted, reordered or edited line breaks the chain at the line after it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import orjson

GENESIS = "0" * 64


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass(slots=True)
class ChainState:
    seq: int = 0
    prev_hash: str = GENESIS

    def seal(self, entry: dict[str, object]) -> bytes:
        """Add the chain fields to ``entry`` and return its line; advances the state."""
        entry["seq"] = self.seq + 1
        entry["prev_hash"] = self.prev_hash
        line = orjson.dumps(entry)
        self.seq += 1
        self.prev_hash = line_hash(line)
        return line


def resume_from_file(path: str, *, prefix: bytes = b"") -> ChainState:
    """Continue the chain of an existing log file (read its last line only)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return ChainState()
    if size == 0:
        return ChainState()
    with open(path, "rb") as fh:
        block = 1 << 16
        fh.seek(max(0, size - block))
        tail = fh.read()
        while tail.count(b"\n") < 2 and fh.tell() > len(tail):
            block *= 2
            fh.seek(max(0, size - block))
            tail = fh.read()
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    body = last[len(prefix):] if prefix and last.startswith(prefix) else last
    try:
        seq = int(orjson.loads(body).get("seq", 0))
    except (orjson.JSONDecodeError, AttributeError, ValueError, TypeError):
        seq = 0
    return ChainState(seq=seq, prev_hash=line_hash(body))
