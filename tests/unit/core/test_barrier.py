"""The AES-GCM barrier: round trips, path binding, tamper detection, terms, sealing."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from warden.core.barrier import (
    KEYRING_PATH,
    SEAL_CONFIG_PATH,
    AlreadyInitialized,
    Barrier,
    BarrierCorrupt,
    InvalidKey,
    ReservedKey,
)
from warden.logical.clock import FrozenClock
from warden.logical.errors import InvalidRequest, NotInitialized, Sealed
from warden.logical.storage import Delete, Put
from warden.storage.memory import MemoryBackend

ROOT_KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))

keys = st.text(min_size=1, max_size=40).filter(lambda k: not k.startswith("core/"))


class RecordingBackend(MemoryBackend):
    """A memory backend that counts the writes it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    async def put(self, key: str, value: bytes) -> None:
        self.writes += 1
        await super().put(key, value)

    async def delete(self, key: str) -> None:
        self.writes += 1
        await super().delete(key)

    async def batch(self, ops: object) -> None:
        self.writes += 1
        await super().batch(ops)  # type: ignore[arg-type]

    def snapshot(self) -> dict[str, bytes]:
        return dict(self._data)


async def unsealed(physical: MemoryBackend | None = None, **kwargs: object) -> Barrier:
    barrier = Barrier(physical or MemoryBackend(), **kwargs)  # type: ignore[arg-type]
    await barrier.initialize(ROOT_KEY)
    await barrier.unseal(ROOT_KEY)
    return barrier


@settings(max_examples=100, deadline=None)
@given(key=keys, value=st.binary(max_size=2048))
async def test_round_trip_stores_only_ciphertext(key: str, value: bytes) -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await barrier.put(key, value)
    assert await barrier.get(key) == value
    stored = await physical.get(key)
    assert stored is not None
    assert stored[:5] == b"\x00\x00\x00\x01\x02"  # term 1, version 2
    assert len(stored) == 5 + 12 + len(value) + 16
    if len(value) >= 8:
        assert value not in stored


@settings(max_examples=50, deadline=None)
@given(source=keys, target=keys, value=st.binary(max_size=64))
async def test_a_ciphertext_moved_to_another_key_fails(source: str, target: str, value: bytes) -> None:
    assume(source != target)
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await barrier.put(source, value)
    stored = await physical.get(source)
    assert stored is not None
    await physical.put(target, stored)
    with pytest.raises(BarrierCorrupt):
        await barrier.get(target)


@settings(max_examples=100, deadline=None)
@given(value=st.binary(min_size=0, max_size=64), data=st.data())
async def test_flipping_any_byte_fails(value: bytes, data: st.DataObject) -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await barrier.put("secret/x", value)
    stored = await physical.get("secret/x")
    assert stored is not None
    index = data.draw(st.integers(min_value=0, max_value=len(stored) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = bytearray(stored)
    tampered[index] ^= flip
    await physical.put("secret/x", bytes(tampered))
    with pytest.raises(BarrierCorrupt):
        await barrier.get("secret/x")


@pytest.mark.parametrize("stored", [b"", b"\x00\x00\x00\x01\x02", b"\x00" * 40])
async def test_truncated_or_foreign_values_fail(stored: bytes) -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await physical.put("k", stored)
    with pytest.raises(BarrierCorrupt):
        await barrier.get("k")


async def test_rotate_keeps_old_terms_readable() -> None:
    physical = MemoryBackend()
    clock = FrozenClock(1000.0)
    barrier = await unsealed(physical, clock=clock)
    assert barrier.key_status().term == 1
    await barrier.put("old", b"written under term 1")
    clock.advance(60)
    assert await barrier.rotate() == 2
    await barrier.put("new", b"written under term 2")
    assert (await physical.get("old") or b"")[:4] == (1).to_bytes(4, "big")
    assert (await physical.get("new") or b"")[:4] == (2).to_bytes(4, "big")
    assert await barrier.get("old") == b"written under term 1"
    assert await barrier.get("new") == b"written under term 2"
    status = barrier.key_status()
    assert (status.term, status.install_time) == (2, 1060.0)

    restarted = Barrier(physical)  # the rotated keyring was persisted
    await restarted.unseal(ROOT_KEY)
    assert restarted.key_status().term == 2
    assert await restarted.get("old") == b"written under term 1"
    assert await restarted.get("new") == b"written under term 2"


async def test_rekey_changes_the_root_key_only() -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await barrier.put("k", b"v")
    await barrier.rekey(OTHER_KEY)
    assert await barrier.get("k") == b"v"

    with pytest.raises(InvalidKey):
        await Barrier(physical).unseal(ROOT_KEY)
    restarted = Barrier(physical)
    await restarted.unseal(OTHER_KEY)
    assert await restarted.get("k") == b"v"
    assert restarted.key_status().term == 1


async def test_every_operation_raises_sealed_while_sealed() -> None:
    barrier = Barrier(MemoryBackend())
    await barrier.initialize(ROOT_KEY)
    assert barrier.sealed
    await _assert_all_sealed(barrier)

    await barrier.unseal(ROOT_KEY)
    await barrier.put("k", b"v")
    barrier.seal()
    assert barrier.sealed
    await _assert_all_sealed(barrier)


async def _assert_all_sealed(barrier: Barrier) -> None:
    operations = [
        barrier.get("k"),
        barrier.put("k", b"v"),
        barrier.delete("k"),
        barrier.list(""),
        barrier.batch([Put("k", b"v")]),
        barrier.batch([Delete("k")]),
        barrier.batch([]),
        barrier.rotate(),
        barrier.rekey(OTHER_KEY),
    ]
    for operation in operations:
        with pytest.raises(Sealed):
            await operation
    with pytest.raises(Sealed):
        barrier.key_status()


async def test_a_wrong_root_key_raises_invalid_key_and_writes_nothing() -> None:
    physical = RecordingBackend()
    barrier = Barrier(physical)
    await barrier.initialize(ROOT_KEY)
    before, writes = physical.snapshot(), physical.writes
    for wrong in (OTHER_KEY, ROOT_KEY[:16], b""):
        with pytest.raises(InvalidKey):
            await barrier.unseal(wrong)
    assert barrier.sealed
    assert physical.snapshot() == before
    assert physical.writes == writes
    await barrier.unseal(ROOT_KEY)
    assert not barrier.sealed


async def test_initialize_once_and_not_before_unseal() -> None:
    barrier = Barrier(MemoryBackend())
    assert not await barrier.initialized()
    with pytest.raises(NotInitialized):
        await barrier.unseal(ROOT_KEY)
    await barrier.initialize(ROOT_KEY)
    assert await barrier.initialized()
    assert barrier.sealed  # initializing does not unseal
    with pytest.raises(AlreadyInitialized) as raised:
        await barrier.initialize(OTHER_KEY)
    assert isinstance(raised.value, InvalidRequest)
    assert await Barrier(barrier._physical).initialized()  # seen by a fresh instance


async def test_keyring_is_encrypted_under_the_root_key() -> None:
    physical = MemoryBackend()
    await unsealed(physical)
    stored = await physical.get(KEYRING_PATH)
    assert stored is not None
    assert stored[:5] == b"\x00\x00\x00\x00\x02"  # term 0: the root key
    assert b"root_key" not in stored and ROOT_KEY not in stored
    with pytest.raises(ValueError):
        orjson.loads(stored)


async def test_reserved_keys_cannot_be_reached_through_the_barrier() -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    keyring = await physical.get(KEYRING_PATH)
    for key in (KEYRING_PATH, SEAL_CONFIG_PATH):
        with pytest.raises(ReservedKey):
            await barrier.put(key, b"overwrite")
        with pytest.raises(ReservedKey):
            await barrier.get(key)
        with pytest.raises(ReservedKey):
            await barrier.delete(key)
        with pytest.raises(ReservedKey):
            await barrier.batch([Put("fine", b"x"), Put(key, b"overwrite")])
    assert await physical.get(KEYRING_PATH) == keyring
    assert await physical.get(SEAL_CONFIG_PATH) is None
    assert await physical.get("fine") is None  # the refused batch wrote nothing


async def test_batch_encrypts_each_value_bound_to_its_key() -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    await barrier.batch([Put("a", b"same"), Put("b", b"same"), Delete("c")])
    a, b = await physical.get("a"), await physical.get("b")
    assert a is not None and b is not None and a != b  # fresh nonce each
    assert await barrier.get("a") == await barrier.get("b") == b"same"


async def test_nonces_come_from_the_injected_source() -> None:
    drawn: list[int] = []

    def randbytes(n: int) -> bytes:
        drawn.append(n)
        return bytes([len(drawn)]) * n

    barrier = await unsealed(randbytes=randbytes)
    await barrier.put("k", b"v")
    assert drawn == [32, 12, 12]  # term key, keyring nonce, value nonce
    assert await barrier.get("k") == b"v"


async def test_keys_are_kept_out_of_reprs() -> None:
    barrier = await unsealed()
    state = barrier._state
    assert state is not None
    assert ROOT_KEY.hex() not in repr(state) and repr(ROOT_KEY) not in repr(state)
    assert repr(state.keyring.keys[0].key) not in repr(state)


PURPOSE = b"batch-token"


async def test_detached_blobs_open_only_here_for_their_purpose() -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    blob = barrier.seal_detached(PURPOSE, b"claims")
    assert b"claims" not in blob
    assert await barrier.open_detached(PURPOSE, blob) == b"claims"
    assert await barrier.open_detached(b"other-purpose", blob) is None
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        assert await barrier.open_detached(PURPOSE, bytes(flipped)) is None
    assert await barrier.open_detached(PURPOSE, blob[:20]) is None
    # a stored value's ciphertext is not a detached blob, and the other way round
    await barrier.put("k", b"claims")
    assert await barrier.open_detached(PURPOSE, await physical.get("k") or b"") is None
    elsewhere = await unsealed()  # another server: another keyring
    assert await elsewhere.open_detached(PURPOSE, blob) is None


async def test_detached_blobs_outlive_rotate_and_rekey_but_not_the_seal() -> None:
    physical = MemoryBackend()
    barrier = await unsealed(physical)
    old = barrier.seal_detached(PURPOSE, b"term 1")
    await barrier.rotate()
    new = barrier.seal_detached(PURPOSE, b"term 2")
    assert new[:4] == (2).to_bytes(4, "big")
    await barrier.rekey(OTHER_KEY)
    assert await barrier.open_detached(PURPOSE, old) == b"term 1"
    assert await barrier.open_detached(PURPOSE, new) == b"term 2"
    barrier.seal()
    with pytest.raises(Sealed):
        await barrier.open_detached(PURPOSE, old)
    with pytest.raises(Sealed):
        barrier.seal_detached(PURPOSE, b"x")
    await barrier.unseal(OTHER_KEY)
    assert await barrier.open_detached(PURPOSE, new) == b"term 2"


async def test_a_blob_of_a_term_another_node_added_is_opened_after_a_reload() -> None:
    physical = MemoryBackend()
    here = await unsealed(physical)
    there = Barrier(physical)
    await there.unseal(ROOT_KEY)
    await there.rotate()
    blob = there.seal_detached(PURPOSE, b"from term 2")
    assert here.key_status().term == 1
    assert await here.open_detached(PURPOSE, blob) == b"from term 2"
    assert here.key_status().term == 2
    forged = (7).to_bytes(4, "big") + blob[4:]
    assert await here.open_detached(PURPOSE, forged) is None
