"""A ``SQLiteBackend``'s writes sent to the writer process (``sqlite_writer.py``).

The writes of one event-loop tick leave in one socket write; the answers come back on the
same loop (no thread, so nothing here competes for the interpreter lock). If the writer
process goes away, every write waiting and every later one fails with a StorageError.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from warden.logical.storage import BatchOp, Check
from warden.storage import sqlite_wire as wire
from warden.storage.base import BackendClosed, StorageError
from warden.storage.sqlite_commit import WriterStats

READY_TIMEOUT_S = 60.0


class WriterGone(StorageError):
    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "the storage writer process stopped; writes may or may not have been applied"


class RemoteWriter:
    def __init__(self, sock: socket.socket) -> None:
        """Wait for the writer process to say the store is open (raises StorageError if not)."""
        self._sock = sock
        _await_ready(sock)
        self._pending: dict[int, asyncio.Future[bool]] = {}
        self._next_id = 1
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._failure: StorageError | None = None
        self._writes = 0
        self._drained: asyncio.Event | None = None

    @property
    def stats(self) -> WriterStats:
        return WriterStats(commits=0, writes=self._writes)

    async def write(self, ops: Sequence[BatchOp], checks: Sequence[Check]) -> bool:
        transport = self._transport or await self._connect()
        if self._failure is not None:
            raise type(self._failure)(str(self._failure))
        loop = asyncio.get_running_loop()
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[bool] = loop.create_future()
        self._pending[request_id] = future
        if not self._outgoing:
            loop.call_soon(self._flush, transport)
        self._outgoing.append(wire.request(request_id, checks, ops))
        self._writes += 1
        return await future

    async def _connect(self) -> asyncio.Transport:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        await asyncio.shield(self._connecting)
        if self._transport is None:
            raise self._failure or WriterGone()
        return self._transport

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(lambda: _Replies(self), sock=self._sock)
        self._transport = transport

    def _flush(self, transport: asyncio.Transport) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        if not transport.is_closing():
            transport.write(data)

    def settle(self, request_id: int, outcome: int, message: str) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            if outcome == wire.APPLIED:
                future.set_result(True)
            elif outcome == wire.CHECK_FAILED:
                future.set_result(False)
            else:
                future.set_exception(StorageError(f"storage write failed: {message}"))
        if not self._pending and self._drained is not None:
            self._drained.set()

    def lost(self, failure: StorageError) -> None:
        self._failure = self._failure or failure
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(type(failure)(str(failure)))
        if self._drained is not None:
            self._drained.set()

    async def close(self) -> None:
        """Wait for the answers to every write sent, then hang up (the writer process
        commits what it has and exits once all its clients have)."""
        if self._pending:
            self._drained = asyncio.Event()
            await self._drained.wait()
        self._failure = self._failure or BackendClosed()
        if self._transport is not None:
            self._transport.close()
        else:
            self._sock.close()


class _Replies(asyncio.Protocol):
    def __init__(self, writer: RemoteWriter) -> None:
        self._writer = writer
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for body in wire.frames(self._buffer):
                self._writer.settle(*wire.parse_reply(body))
        except wire.FrameError as exc:
            self._writer.lost(StorageError(f"the storage writer process answered nonsense: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._writer.lost(WriterGone())


def _await_ready(sock: socket.socket) -> None:
    sock.settimeout(READY_TIMEOUT_S)
    buffer = bytearray()
    try:
        while not (found := wire.frames(buffer)):
            chunk = sock.recv(65536)
            if not chunk:
                raise StorageError("the storage writer process exited before opening the store")
            buffer += chunk
    except TimeoutError:
        raise StorageError("the storage writer process did not open the store in time") from None
    finally:
        sock.settimeout(None)
    _, outcome, message = wire.parse_reply(found[0])
    if outcome != wire.APPLIED:
        raise StorageError(message or "the storage writer process could not open the store")
    if buffer:
        raise StorageError("the storage writer process sent more than it was asked")
