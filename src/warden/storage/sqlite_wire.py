"""The frames between a server process and the SQLite writer process (``sqlite_writer.py``).

Each frame is a 4-byte big-endian length and a body. A request body is a 64-bit id chosen
by the sender, the number of checks and of operations, then each check (key, version) and
each operation (put: key and value; delete: key). A reply body is the id, an outcome
(applied, a check failed, or an error with its message). Keys are UTF-8; values are the
bytes the barrier produced. Nothing here trusts a frame more than its length says.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from warden.logical.storage import BatchOp, Check, Delete, Put

_LEN: Final = struct.Struct(">I")
_REQUEST: Final = struct.Struct(">QHI")  # id, checks, ops
_CHECK: Final = struct.Struct(">IQ")  # key length, version
_OP: Final = struct.Struct(">BII")  # kind, key length, value length
_REPLY: Final = struct.Struct(">QBI")  # id, outcome, message length
_PUT, _DELETE = 1, 2
APPLIED, CHECK_FAILED, FAILED = 0, 1, 2
MAX_FRAME: Final = 1 << 30


class FrameError(ValueError):
    """A frame that cannot be what the other side sent (the stream is out of step)."""


def request(request_id: int, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bytes:
    parts: list[bytes] = [b"", _REQUEST.pack(request_id, len(checks), len(ops))]
    for check in checks:
        key = check.key.encode()
        parts += (_CHECK.pack(len(key), check.version), key)
    for op in ops:
        key = op.key.encode()
        if isinstance(op, Put):
            parts += (_OP.pack(_PUT, len(key), len(op.value)), key, op.value)
        else:
            parts += (_OP.pack(_DELETE, len(key), 0), key)
    parts[0] = _LEN.pack(sum(len(p) for p in parts))
    return b"".join(parts)


def reply(request_id: int, outcome: int, message: str = "") -> bytes:
    text = message.encode()
    body = _REPLY.pack(request_id, outcome, len(text)) + text
    return _LEN.pack(len(body)) + body


def frames(buffer: bytearray) -> list[bytes]:
    """The complete frames at the start of ``buffer``, removed from it."""
    offset, found = 0, []
    while len(buffer) - offset >= _LEN.size:
        (size,) = _LEN.unpack_from(buffer, offset)
        if size > MAX_FRAME:
            raise FrameError(f"a frame of {size} bytes")
        start = offset + _LEN.size
        if len(buffer) - start < size:
            break
        found.append(bytes(buffer[start:start + size]))
        offset = start + size
    del buffer[:offset]
    return found


def parse_request(body: bytes) -> tuple[int, tuple[Check, ...], tuple[BatchOp, ...]]:
    try:
        request_id, n_checks, n_ops = _REQUEST.unpack_from(body, 0)
        pos = _REQUEST.size
        checks = []
        for _ in range(n_checks):
            size, version = _CHECK.unpack_from(body, pos)
            pos += _CHECK.size
            checks.append(Check(_text(body, pos, size), version))
            pos += size
        ops: list[BatchOp] = []
        for _ in range(n_ops):
            kind, size, value_size = _OP.unpack_from(body, pos)
            pos += _OP.size
            key = _text(body, pos, size)
            pos += size
            if kind == _PUT:
                ops.append(Put(key, bytes(body[pos:pos + value_size])))
                pos += value_size
            elif kind == _DELETE:
                ops.append(Delete(key))
            else:
                raise FrameError(f"unknown operation {kind}")
    except (struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed request: {exc}") from None
    if pos != len(body):
        raise FrameError("a request frame longer than its contents")
    return request_id, tuple(checks), tuple(ops)


def parse_reply(body: bytes) -> tuple[int, int, str]:
    try:
        request_id, outcome, size = _REPLY.unpack_from(body, 0)
        message = _text(body, _REPLY.size, size)
    except (struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed reply: {exc}") from None
    return request_id, outcome, message


def _text(body: bytes, pos: int, size: int) -> str:
    if pos + size > len(body):
        raise FrameError("a field runs past the end of its frame")
    return bytes(body[pos:pos + size]).decode()
