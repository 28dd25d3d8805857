"""What the worker processes of one server share: change counters and the seal.

A server started with ``workers = N`` runs N processes on one listener and one store. Each
keeps caches (tokens, policies, the mount table, audit devices, every mount's roles and
issuers); a change made by one must hold in all of them for every request that starts
after it returns. So the writer of a change, after its write is committed and before its
request returns, bumps a counter of that *family*; every process compares the counters
when a request starts (``Epochs.changed``) and drops or reloads what changed first. Each
process bumps only its own row of counters (no locks; an aligned 8-byte store is atomic),
and a process never reacts to its own bumps: its caches were updated by the write itself.

The seal is shared too: unseal key shares given to any process collect in one place
(under a file lock), and the root key they recover is kept here for the other processes
to unseal with; sealing any process seals them all.

The memory is a memfd mapped shared, created by the server before it forks its workers
(``SharedMemory.create``); a single-process server uses the same classes on private
memory, where nothing else ever bumps a counter.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final


class Family(enum.IntEnum):
    SEAL = 0
    TOKENS = 1
    POLICIES = 2
    MOUNTS = 3
    AUDIT = 4
    KEYRING = 5
    LEASES = 6


MOUNT_SLOTS: Final = 64  # mounts hash into these; a collision only costs a spurious reload
_FIXED: Final = len(Family)
SLOTS: Final = _FIXED + MOUNT_SLOTS
MAX_WORKERS: Final = 64
_COUNTER: Final = 8
EPOCH_BYTES: Final = MAX_WORKERS * SLOTS * _COUNTER

# The seal area, after the counters: state, share count, nonce, root key, shares.
_SEAL: Final = struct.Struct(">BB36s32s")
MAX_SHARES: Final = 255
_SHARE: Final = 34  # a length byte and up to 33 bytes of share
_SEAL_OFFSET: Final = EPOCH_BYTES
SIZE: Final = _SEAL_OFFSET + _SEAL.size + MAX_SHARES * _SHARE


@dataclass(frozen=True, slots=True)
class Changes:
    families: frozenset[Family]
    mount_slots: frozenset[int]

    def __bool__(self) -> bool:
        return bool(self.families or self.mount_slots)


def mount_slot(mount_uuid: str) -> int:
    return int.from_bytes(hashlib.blake2b(mount_uuid.encode(), digest_size=4).digest(), "big") % MOUNT_SLOTS


class SharedMemory:
    """The mapped region and the file behind it (for its lock)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._lock_fd = -1

    @classmethod
    def create(cls) -> SharedMemory:
        fd = os.memfd_create("warden-shared", os.MFD_CLOEXEC)
        os.ftruncate(fd, SIZE)
        return cls(fd)

    @classmethod
    def private(cls) -> SharedMemory:
        """The same layout for a server of one process (nobody else maps it)."""
        return cls.create()

    def after_fork(self) -> None:
        """Each process needs its own open file for ``flock`` to exclude the others."""
        self._lock_fd = -1

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if self._lock_fd < 0:
            self._lock_fd = os.open(f"/proc/self/fd/{self.fd}", os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


class Epochs:
    """The change counters: ``bump`` after a committed change, ``changed`` on request entry."""

    def __init__(self, buffer: mmap.mmap | bytearray, worker: int, workers: int) -> None:
        """``buffer``: the shared memory's (or, for one process, any of EPOCH_BYTES)."""
        if not 0 <= worker < workers <= MAX_WORKERS:
            raise ValueError(f"worker {worker} of {workers} (at most {MAX_WORKERS})")
        self._counters = memoryview(buffer)[:EPOCH_BYTES].cast("Q")
        self._row = worker * SLOTS
        self._workers = workers
        self._raw = memoryview(buffer)[:workers * SLOTS * _COUNTER]
        own = self._row * _COUNTER
        self._before, self._after = slice(0, own), slice(own + SLOTS * _COUNTER, None)
        self._seen = self._others()
        self._previous = self._seen

    def _others(self) -> bytes:
        return bytes(self._raw[self._before]) + bytes(self._raw[self._after])

    def bump(self, family: Family) -> None:
        self._counters[self._row + family] += 1

    def bump_mount(self, mount_uuid: str) -> None:
        self._counters[self._row + _FIXED + mount_slot(mount_uuid)] += 1

    def pending(self) -> bool:
        """Whether another process changed anything since the last ``changed`` (cheap)."""
        return self._others() != self._seen

    def changed(self) -> Changes:
        """What other processes changed since the last call (and remember this point)."""
        now = self._others()
        if now == self._seen:
            return Changes(frozenset(), frozenset())
        before, after = self._totals(self._seen), self._totals(now)
        self._previous, self._seen = self._seen, now
        moved = {slot for slot in range(SLOTS) if before[slot] != after[slot]}
        return Changes(frozenset(Family(s) for s in moved if s < _FIXED),
                       frozenset(s - _FIXED for s in moved if s >= _FIXED))

    def unapplied(self) -> None:
        """The changes the last ``changed`` returned could not all be applied: the next
        ``changed`` returns them again (with whatever came since)."""
        self._seen = self._previous

    def _totals(self, others: bytes) -> list[int]:
        counts = memoryview(others).cast("Q")
        return [sum(counts[row * SLOTS + slot] for row in range(self._workers - 1))
                for slot in range(SLOTS)]


@dataclass(frozen=True, slots=True)
class SealState:
    unsealed: bool
    root_key: bytes
    nonce: str
    shares: tuple[bytes, ...]


class SharedSeal:
    """The seal of every process: unseal progress and, once unsealed, the root key."""

    def __init__(self, memory: SharedMemory) -> None:
        self._memory = memory
        self._view = memoryview(memory.buffer)[_SEAL_OFFSET:SIZE]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._memory.locked():
            yield

    def read(self) -> SealState:
        state, count, nonce, root = _SEAL.unpack_from(self._view, 0)
        shares = []
        for i in range(min(count, MAX_SHARES)):
            at = _SEAL.size + i * _SHARE
            size = self._view[at]
            shares.append(bytes(self._view[at + 1:at + 1 + size]))
        return SealState(unsealed=state == 1, root_key=bytes(root) if state == 1 else b"",
                         nonce=nonce.rstrip(b"\0").decode(), shares=tuple(shares))

    def write(self, state: SealState) -> None:
        """Call under ``locked``."""
        if len(state.shares) > MAX_SHARES or any(len(s) > _SHARE - 1 for s in state.shares):
            raise ValueError("too many or too long unseal key shares")
        root = state.root_key if state.unsealed else b""
        _SEAL.pack_into(self._view, 0, 1 if state.unsealed else 0, len(state.shares),
                        state.nonce.encode(), root.ljust(32, b"\0"))
        for i, share in enumerate(state.shares):
            at = _SEAL.size + i * _SHARE
            self._view[at] = len(share)
            self._view[at + 1:at + 1 + len(share)] = share
        end = _SEAL.size + len(state.shares) * _SHARE
        self._view[end:] = bytes(len(self._view) - end)  # no share outlives its use
