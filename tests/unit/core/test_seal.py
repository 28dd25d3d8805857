"""The Shamir seal: initialization rules, unseal progress, wrong keys, persistence."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import orjson
import pytest

from warden.core.barrier import SEAL_CONFIG_PATH, Barrier
from warden.core.seal import SealStatus, ShamirSeal
from warden.logical.errors import InvalidRequest, NotInitialized
from warden.storage.memory import MemoryBackend
from warden.storage.sqlite import SQLiteBackend


def make_seal(physical: MemoryBackend | SQLiteBackend | None = None) -> ShamirSeal:
    physical = physical or MemoryBackend()
    return ShamirSeal(physical, Barrier(physical))


async def test_five_shares_threshold_three_every_subset_unseals() -> None:
    seal = make_seal()
    shares = await seal.initialize(5, 3)
    assert len(shares) == 5 and all(len(s) == 33 for s in shares)
    assert len(set(shares)) == 5
    for subset in itertools.permutations(shares, 3):
        seal.seal()
        first = await seal.submit_key(subset[0])
        assert (first.sealed, first.progress, first.t, first.n) == (True, 1, 3, 5)
        assert uuid.UUID(first.nonce).version == 4
        second = await seal.submit_key(subset[1])
        assert (second.sealed, second.progress, second.nonce) == (True, 2, first.nonce)
        final = await seal.submit_key(subset[2])
        assert (final.sealed, final.progress, final.nonce) == (False, 0, "")


async def test_initialize_leaves_the_barrier_sealed_and_stores_the_config() -> None:
    physical = MemoryBackend()
    seal = make_seal(physical)
    assert await seal.status() == SealStatus(initialized=False, sealed=True, t=0, n=0, progress=0, nonce="")
    await seal.initialize(5, 3)
    assert await seal.status() == SealStatus(initialized=True, sealed=True, t=3, n=5, progress=0, nonce="")
    stored = await physical.get(SEAL_CONFIG_PATH)
    assert stored is not None
    assert orjson.loads(stored) == {"type": "shamir", "secret_shares": 5, "secret_threshold": 3}


async def test_a_repeated_key_does_not_advance_progress() -> None:
    seal = make_seal()
    shares = await seal.initialize(3, 2)
    first = await seal.submit_key(shares[0])
    again = await seal.submit_key(shares[0])
    assert (again.progress, again.nonce, again.sealed) == (1, first.nonce, True)
    assert not (await seal.submit_key(shares[2])).sealed


async def test_a_wrong_key_resets_progress_and_changes_nothing() -> None:
    physical = MemoryBackend()
    seal = make_seal(physical)
    shares = await seal.initialize(5, 3)
    stored_before = dict(physical._data)
    foreign = await make_seal().initialize(5, 3)  # shares of another root key

    await seal.submit_key(shares[0])
    await seal.submit_key(shares[1])
    with pytest.raises(InvalidRequest, match="unseal failed: invalid key"):
        await seal.submit_key(foreign[2])
    status = await seal.status()
    assert (status.sealed, status.progress, status.nonce) == (True, 0, "")
    assert physical._data == stored_before

    for share in shares[2:]:
        status = await seal.submit_key(share)
    assert not status.sealed


async def test_a_forged_share_with_a_duplicate_x_fails_cleanly() -> None:
    seal = make_seal()
    shares = await seal.initialize(3, 2)
    forged = bytes(b ^ 0x5A for b in shares[0][:-1]) + shares[0][-1:]
    await seal.submit_key(shares[0])
    with pytest.raises(InvalidRequest, match="unseal failed"):
        await seal.submit_key(forged)
    assert (await seal.status()).progress == 0


async def test_a_key_of_the_wrong_length_is_refused_without_losing_progress() -> None:
    seal = make_seal()
    shares = await seal.initialize(5, 3)
    await seal.submit_key(shares[0])
    for bad in (shares[1][:-1], shares[1] + b"\x00", b""):
        with pytest.raises(InvalidRequest, match="33 bytes"):
            await seal.submit_key(bad)
    assert (await seal.status()).progress == 1


async def test_a_single_share_is_the_root_key_itself() -> None:
    seal = make_seal()
    [key] = await seal.initialize(1, 1)
    assert len(key) == 32
    with pytest.raises(InvalidRequest, match="32 bytes"):
        await seal.submit_key(key + b"\x01")
    status = await seal.submit_key(key)
    assert (status.sealed, status.t, status.n) == (False, 1, 1)


async def test_a_wrong_single_key_fails() -> None:
    seal = make_seal()
    [key] = await seal.initialize(1, 1)
    with pytest.raises(InvalidRequest, match="unseal failed"):
        await seal.submit_key(bytes(b ^ 1 for b in key))
    assert (await seal.status()).sealed


@pytest.mark.parametrize(
    ("shares", "threshold", "message"),
    [
        (0, 1, "secret_shares must be at least one"),
        (-1, 1, "secret_shares must be at least one"),
        (1, 0, "secret_threshold must be at least one"),
        (3, 4, "secret_threshold cannot be larger than secret_shares"),
        (1, 2, "secret_threshold cannot be larger than secret_shares"),
        (5, 1, "secret_threshold must be greater than one for multiple shares"),
        (256, 3, "secret_shares must be at most 255"),
        ("5", 3, "secret_shares must be an integer"),
        (5, True, "secret_threshold must be an integer"),
    ],
)
async def test_initialize_validates_parameters(shares: int, threshold: int, message: str) -> None:
    physical = MemoryBackend()
    seal = make_seal(physical)
    with pytest.raises(InvalidRequest, match=message):
        await seal.initialize(shares, threshold)
    assert physical._data == {}


async def test_largest_configuration_is_accepted() -> None:
    seal = make_seal()
    shares = await seal.initialize(255, 2)
    assert len(shares) == 255
    await seal.submit_key(shares[254])
    assert not (await seal.submit_key(shares[0])).sealed


async def test_initialize_twice_is_refused() -> None:
    seal = make_seal()
    await seal.initialize(1, 1)
    with pytest.raises(InvalidRequest, match="Vault is already initialized"):
        await seal.initialize(3, 2)


async def test_unsealing_before_initialization_is_refused() -> None:
    seal = make_seal()
    with pytest.raises(NotInitialized):
        await seal.submit_key(bytes(33))


async def test_submitting_when_unsealed_is_a_no_op() -> None:
    seal = make_seal()
    [key] = await seal.initialize(1, 1)
    await seal.submit_key(key)
    status = await seal.submit_key(b"anything")
    assert (status.sealed, status.progress) == (False, 0)


async def test_reset_progress_and_seal() -> None:
    seal = make_seal()
    shares = await seal.initialize(3, 2)
    await seal.submit_key(shares[0])
    seal.reset_progress()
    assert (await seal.status()).progress == 0
    await seal.submit_key(shares[1])
    await seal.submit_key(shares[2])
    assert not (await seal.status()).sealed
    seal.seal()
    status = await seal.status()
    assert (status.sealed, status.progress) == (True, 0)


async def test_state_persists_across_instances_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    first_physical = SQLiteBackend(path)
    first_barrier = Barrier(first_physical)
    first = ShamirSeal(first_physical, first_barrier)
    shares = await first.initialize(5, 3)
    for share in shares[:3]:
        await first.submit_key(share)
    await first_barrier.put("secret/app", b"kept across restarts")
    await first_physical.close()

    physical = SQLiteBackend(path)
    barrier = Barrier(physical)
    seal = ShamirSeal(physical, barrier)
    assert await seal.status() == SealStatus(initialized=True, sealed=True, t=3, n=5, progress=0, nonce="")
    with pytest.raises(InvalidRequest, match="already initialized"):
        await seal.initialize(1, 1)
    for share in (shares[4], shares[1], shares[3]):
        status = await seal.submit_key(share)
    assert not status.sealed
    assert await barrier.get("secret/app") == b"kept across restarts"
    await physical.close()
