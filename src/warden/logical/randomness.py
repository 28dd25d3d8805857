"""Randomness as a dependency: os.urandom bytes, drawn in blocks.

Every request needs a few random values (AES-GCM nonces, certificate serials, ids);
os.urandom releases the GIL, and on a busy two-core machine each call can cost a
thread hand-off. Drawing 4 KiB at a time keeps the bytes exactly as random (they are
os.urandom's) at a fraction of the calls. A buffer is never shared across a fork:
bytes read before a fork are dropped in the child, so two processes can never hand
out the same nonce.
"""

from __future__ import annotations

import os

BLOCK = 4096


class BufferedRandom:
    __slots__ = ("_buffer", "_offset", "_pid")

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        self._pid = os.getpid()

    def __call__(self, n: int) -> bytes:
        if n > BLOCK // 4:
            return os.urandom(n)
        pid = os.getpid()
        if pid != self._pid or self._offset + n > len(self._buffer):
            self._buffer, self._offset, self._pid = os.urandom(BLOCK), 0, pid
        start = self._offset
        self._offset += n
        return self._buffer[start:self._offset]
