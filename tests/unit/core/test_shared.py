"""The state a server's worker processes share: change counters and the seal."""

from __future__ import annotations

import os

import pytest

from warden.core.shared import (
    EPOCH_BYTES,
    MAX_SHARES,
    Epochs,
    Family,
    SealState,
    SharedMemory,
    SharedSeal,
    mount_slot,
)


def test_a_worker_sees_what_others_bumped_and_never_its_own() -> None:
    memory = SharedMemory.create()
    first, second, third = (Epochs(memory.buffer, i, 3) for i in range(3))
    first.bump(Family.TOKENS)
    first.bump_mount("uuid-a")
    assert not first.pending() and not first.changed()  # its caches were updated by the write
    assert second.pending()
    changes = second.changed()
    assert changes.families == {Family.TOKENS} and changes.mount_slots == {mount_slot("uuid-a")}
    assert not second.pending() and not second.changed()  # remembered
    third.bump(Family.POLICIES)
    second.bump(Family.MOUNTS)
    assert first.changed().families == {Family.POLICIES, Family.MOUNTS}
    assert third.changed().families == {Family.TOKENS, Family.MOUNTS}


def test_counters_are_shared_across_a_fork() -> None:
    memory = SharedMemory.create()
    mine = Epochs(memory.buffer, 0, 2)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        Epochs(memory.buffer, 1, 2).bump(Family.AUDIT)
        os._exit(0)
    os.waitpid(pid, 0)
    assert mine.changed().families == {Family.AUDIT}


def test_one_process_has_nothing_to_watch() -> None:
    alone = Epochs(bytearray(EPOCH_BYTES), 0, 1)
    alone.bump(Family.SEAL)
    assert not alone.pending()


def test_bad_worker_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        Epochs(bytearray(EPOCH_BYTES), 2, 2)


def test_the_seal_state_round_trips_and_forgets_shares() -> None:
    seal = SharedSeal(SharedMemory.create())
    assert seal.read() == SealState(False, b"", "", ())
    with seal.locked():
        seal.write(SealState(False, b"", "nonce-1", (b"a" * 33, b"b" * 33)))
    assert seal.read().shares == (b"a" * 33, b"b" * 33) and seal.read().nonce == "nonce-1"
    with seal.locked():
        seal.write(SealState(True, b"k" * 32, "", ()))
    state = seal.read()
    assert state.unsealed and state.root_key == b"k" * 32 and state.shares == ()
    assert b"a" * 33 not in bytes(seal._view)  # no share outlives its use
    with pytest.raises(ValueError):
        seal.write(SealState(False, b"", "", (b"x",) * (MAX_SHARES + 1)))
