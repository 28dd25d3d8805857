"""The SQLite writer process: one write connection for every process of a server.

A server's processes (its workers) read the database through their own connections, but
send every write here, over a socket pair each (frames of ``sqlite_wire``). This process
commits whatever its clients sent meanwhile as one group (``sqlite_commit.Committer``: one
transaction, one fsync) and answers each caller once the group is durable. Writes from all
workers share fsyncs, check-and-set is serialised in one place, and no event loop shares
its interpreter lock with a thread that runs SQLite.

It knows nothing of what it stores (keys and ciphertext). It exits once every client has
closed its socket, after committing what they sent; so a server that dies takes it along.

``python -m warden.storage.sqlite_writer DB FD...`` (started by ``WriterProcess.start``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from warden.storage import sqlite_wire as wire
from warden.storage.base import StorageError
from warden.storage.sqlite_commit import Committer, GroupSize, Outcome, Write, open_checkpointer, open_writer

READY_ID = 0  # the first frame on every socket: the store is open (or why it is not)
_RECV_BYTES = 1 << 20
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class _Queued:
    client: socket.socket
    request_id: int
    write: Write


class _Server:
    def __init__(self, committer: Committer, clients: list[socket.socket]) -> None:
        self._committer = committer
        self._selector = selectors.DefaultSelector()
        self._buffers: dict[socket.socket, bytearray] = {}
        for client in clients:
            self._selector.register(client, selectors.EVENT_READ)
            self._buffers[client] = bytearray()
        self._queued: list[_Queued] = []
        self._sizes = GroupSize()

    def run(self) -> None:
        while self._buffers or self._queued:
            if not self._queued:
                self._receive(None)
                continue
            target, deadline = self._sizes.target(), self._sizes.deadline()
            while len(self._queued) < target and self._buffers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._receive(remaining)
            self._commit()

    def _receive(self, timeout: float | None) -> None:
        for key, _ in self._selector.select(timeout):
            client = key.fileobj
            assert isinstance(client, socket.socket)
            try:
                data = client.recv(_RECV_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._drop(client)
                continue
            buffer = self._buffers[client]
            buffer += data
            try:
                for body in wire.frames(buffer):
                    request_id, checks, ops = wire.parse_request(body)
                    self._queued.append(_Queued(client, request_id, Write(ops, checks)))
            except wire.FrameError as exc:
                print(f"warden sqlite writer: dropping a client: {exc}", file=sys.stderr)
                self._drop(client)

    def _drop(self, client: socket.socket) -> None:
        """A closed client: what it sent is still committed; it gets no answers."""
        self._selector.unregister(client)
        self._buffers.pop(client, None)
        client.close()

    def _commit(self) -> None:
        group, self._queued = self._queued, []
        outcomes = self._committer.commit([q.write for q in group])
        self._sizes.record(len(group))
        replies: dict[socket.socket, list[bytes]] = {}
        for queued, outcome in zip(group, outcomes, strict=True):
            replies.setdefault(queued.client, []).append(_reply(queued.request_id, outcome))
        for client, frames in replies.items():
            if client in self._buffers:
                try:
                    client.sendall(b"".join(frames))
                except OSError:
                    self._drop(client)
        self._committer.tend()


def _reply(request_id: int, outcome: Outcome) -> bytes:
    if outcome is True:
        return wire.reply(request_id, wire.APPLIED)
    if outcome is False:
        return wire.reply(request_id, wire.CHECK_FAILED)
    return wire.reply(request_id, wire.FAILED, str(outcome))


def serve(path: str, clients: list[socket.socket]) -> int:
    try:
        committer = Committer(open_writer(path), open_checkpointer(path))
    except StorageError as exc:
        for client in clients:
            with contextlib.suppress(OSError):
                client.sendall(wire.reply(READY_ID, wire.FAILED, str(exc)))
        return 1
    for client in clients:
        client.sendall(wire.reply(READY_ID, wire.APPLIED))
    try:
        _Server(committer, clients).run()
    finally:
        committer.close()
    return 0


class WriterProcess:
    """The running writer process, as its parent sees it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    def start(cls, path: str, clients: int) -> tuple[WriterProcess, list[socket.socket]]:
        """Start it for ``clients`` client sockets (one per process that will write)."""
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(clients)]
        theirs = [b.fileno() for _, b in pairs]
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "warden.storage.sqlite_writer", str(os.getpid()), path,
                 *map(str, theirs)],
                pass_fds=theirs, stdin=subprocess.DEVNULL)
        except OSError:
            for a, b in pairs:
                a.close()
                b.close()
            raise
        for _, b in pairs:
            b.close()
        return cls(process), [a for a, _ in pairs]

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status, once every client closed its socket and it finished."""
        return self._process.wait(timeout)

    def poll(self) -> int | None:
        return self._process.poll()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()


def _die_with(parent: int) -> None:
    """Killed when the server is: a server that crashes leaves the store as a crash does
    (SQLite recovers), rather than a writer that finishes on its own after it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def main(argv: list[str]) -> int:
    # The server decides when to stop: Ctrl-C in a terminal reaches this process too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with(int(argv[0]))
    path, fds = argv[1], [int(fd) for fd in argv[2:]]
    return serve(path, [socket.socket(fileno=fd) for fd in fds])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
