"""One conformance suite for every Storage implementation (Vault's ``ExerciseBackend``).

Run ``exercise_backend``, ``exercise_concurrency``, ``exercise_transactions`` and
``exercise_atomic_updates`` against each physical driver and against the barrier.
All expect nothing stored below ``root`` and leave nothing behind; ``root`` (``""``
or ending in ``/``) lets a store that already holds keys (a barrier, with its
keyring) be tested below a prefix.

``exercise_atomic_updates`` takes several handles on one store (two SQLite
connections, two etcd clients): the check-and-set must hold between them, not only
inside one object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from warden.logical.storage import (
    BatchOp,
    Check,
    Delete,
    Put,
    Storage,
    Versioned,
    atomic_update,
)

# Names a driver might mishandle: SQL LIKE wildcards, quoting, escapes, non-ASCII.
UNUSUAL_NAMES: tuple[str, ...] = (
    "with space",
    "tab\there",
    "new\nline",
    "quote'\"",
    "back\\slash",
    "percent%2Fenc",
    "%",
    "_",
    "like%_pattern",
    "star*",
    "question?",
    "hash#",
    "semi;colon",
    "dots..",
    "--",
    "ünïcödé",
    "emoji-🔑",
    "日本語",
)


async def exercise_backend(backend: Storage, *, root: str = "") -> None:
    """The single-caller behaviour every backend must share."""
    _check_root(root)
    await _empty_store(backend, root)
    await _put_get_overwrite_delete(backend, root)
    await _nested_folders(backend, root)
    await _prefix_boundaries(backend, root)
    await _binary_values(backend, root)
    await _unusual_keys(backend, root)
    await _batch_applies_in_order(backend, root)
    await _batch_is_atomic(backend, root)
    await _values_are_copied(backend, root)
    await _expect_listing(backend, root, [])


async def exercise_concurrency(backend: Storage, *, root: str = "", writers: int = 300) -> None:
    """Hundreds of concurrent writers, then readers; every write must be visible."""
    _check_root(root)
    base = f"{root}concurrent/"
    names = [f"{i:05d}" for i in range(writers)]
    await asyncio.gather(*(backend.put(base + n, _value(n)) for n in names))
    values = await asyncio.gather(*(backend.get(base + n) for n in names))
    for n, got in zip(names, values, strict=True):
        _expect(f"get({base + n!r}) after concurrent puts", got, _value(n))
    await _expect_listing(backend, base, names)
    await _concurrent_mixed_writes(backend, base, names)
    await asyncio.gather(*(backend.delete(base + n) for n in names))
    await _expect_listing(backend, root, [])


async def exercise_transactions(backend: Storage, *, root: str = "") -> None:
    """Versions and check-and-set, one caller at a time."""
    _check_root(root)
    await _versions_change_on_every_write(backend, root)
    await _checked_writes(backend, root)
    await _create_if_absent(backend, root)
    await _failed_checks_apply_nothing(backend, root)
    await _invalid_transactions_apply_nothing(backend, root)
    await _expect_listing(backend, root, [])


async def exercise_atomic_updates(stores: Sequence[Storage], *, root: str = "",
                                  racers: int = 40) -> None:
    """Concurrent read-modify-writes through every handle in ``stores`` (one store).

    A counter incremented ``racers`` times ends at ``racers``; a single-use ticket is
    taken by exactly one of ``racers`` concurrent takers.
    """
    _check_root(root)
    key = root + "counter"

    async def increment(value: bytes | None) -> tuple[list[BatchOp], None]:
        return [Put(key, str(int(value or b"0") + 1).encode())], None

    await asyncio.gather(*(atomic_update(stores[i % len(stores)], key, increment)
                           for i in range(racers)))
    for store in stores:
        _expect("counter after concurrent increments", await store.get(key), str(racers).encode())
    await stores[0].delete(key)

    ticket = root + "ticket"
    await stores[0].put(ticket, b"unused")

    async def take(value: bytes | None) -> tuple[list[BatchOp], bool]:
        return ([Delete(ticket)], True) if value == b"unused" else ([], False)

    taken = await asyncio.gather(*(atomic_update(stores[i % len(stores)], ticket, take)
                                   for i in range(racers)))
    _expect("how many racers took a single-use ticket", sum(taken), 1)
    _expect("the ticket after it was taken", await stores[-1].get(ticket), None)
    await _expect_listing(stores[0], root, [])


async def _versions_change_on_every_write(backend: Storage, root: str) -> None:
    key = root + "versioned"
    _expect("get_versioned of a missing key", await backend.get_versioned(key), Versioned(None, 0))
    seen: list[int] = []
    writes: list[tuple[str, Any]] = [
        ("put", b"one"), ("put", b"one"), ("batch", b"two"), ("delete", None), ("put", b"one"),
        ("transaction", b"three"), ("delete", None), ("batch", b"one"),
    ]
    for how, value in writes:
        if how == "put":
            await backend.put(key, value)
        elif how == "batch":
            await backend.batch([Put(key, value)])
        elif how == "transaction":
            await backend.transaction([], [Put(key, value)])
        else:
            await backend.delete(key)
        got = await backend.get_versioned(key)
        if value is None:
            _expect(f"get_versioned after {how}", got, Versioned(None, 0))
            continue
        _expect(f"value after {how}", got.value, value)
        if not isinstance(got.version, int) or got.version <= 0:
            raise AssertionError(f"version after {how}: {got.version!r} is not a positive int")
        if got.version in seen:  # also after delete and re-create with the same value: no ABA
            raise AssertionError(f"version {got.version} after {how} was already used for this key")
        seen.append(got.version)
    other = root + "bystander"
    await backend.put(other, b"x")
    _expect("a key's version after writes to another key", (await backend.get_versioned(key)).version,
            seen[-1])
    await backend.batch([Delete(key), Delete(other)])


async def _checked_writes(backend: Storage, root: str) -> None:
    key, side = root + "cas", root + "cas-side"
    await backend.put(key, b"v1")
    first = await backend.get_versioned(key)
    applied = await backend.transaction([Check(key, first.version)],
                                        [Put(key, b"v2"), Put(side, b"s")])
    _expect("transaction with a current check", applied, True)
    _expect("value written by the transaction", await backend.get(key), b"v2")
    _expect("second key written by the transaction", await backend.get(side), b"s")
    stale = await backend.transaction([Check(key, first.version)], [Put(key, b"lost")])
    _expect("transaction with a stale check", stale, False)
    _expect("value after a stale check", await backend.get(key), b"v2")
    current = await backend.get_versioned(key)
    deleted = await backend.transaction([Check(key, current.version)], [Delete(key), Delete(side)])
    _expect("checked delete", deleted, True)
    _expect("value after a checked delete", await backend.get_versioned(key), Versioned(None, 0))
    _expect("stale check of a deleted key", await backend.transaction(
        [Check(key, current.version)], [Put(key, b"zombie")]), False)
    _expect("deleted key after a stale check", await backend.get(key), None)
    _expect("transaction without checks", await backend.transaction([], [Put(key, b"plain")]), True)
    _expect("a transaction without ops", await backend.transaction(
        [Check(key, (await backend.get_versioned(key)).version)], []), True)
    await backend.delete(key)


async def _create_if_absent(backend: Storage, root: str) -> None:
    key = root + "once"
    _expect("create of an absent key", await backend.transaction([Check(key, 0)], [Put(key, b"a")]),
            True)
    _expect("create of a present key", await backend.transaction([Check(key, 0)], [Put(key, b"b")]),
            False)
    _expect("value after a refused create", await backend.get(key), b"a")
    await backend.delete(key)


async def _failed_checks_apply_nothing(backend: Storage, root: str) -> None:
    """Several checks, one stale: no op applies, on any key."""
    a, b, c = root + "multi/a", root + "multi/b", root + "multi/c"
    await backend.batch([Put(a, b"a"), Put(b, b"b")])
    va, vb = await backend.get_versioned(a), await backend.get_versioned(b)
    await backend.put(b, b"b2")
    applied = await backend.transaction(
        [Check(a, va.version), Check(b, vb.version), Check(c, 0)],
        [Put(a, b"A"), Delete(b), Put(c, b"C")])
    _expect("transaction with one stale check among three", applied, False)
    _expect("first key after a failed transaction", await backend.get(a), b"a")
    _expect("second key after a failed transaction", await backend.get(b), b"b2")
    _expect("third key after a failed transaction", await backend.get(c), None)
    _expect("same unchanged version", (await backend.get_versioned(a)).version, va.version)
    await backend.batch([Delete(a), Delete(b)])


async def _invalid_transactions_apply_nothing(backend: Storage, root: str) -> None:
    key = root + "invalid"
    await backend.put(key, b"before")
    version = (await backend.get_versioned(key)).version
    invalid = Put(root + "bad", cast(Any, "not bytes"))
    try:
        await backend.transaction([Check(key, version)], [Put(key, b"after"), invalid])
    except Exception:  # noqa: S110 - which error is up to the backend; that it fails is not
        pass
    else:
        raise AssertionError("a transaction holding a str value must fail")
    _expect("value after an invalid transaction", await backend.get(key), b"before")
    _expect("put from an invalid transaction", await backend.get(root + "bad"), None)
    await backend.delete(key)


async def _concurrent_mixed_writes(backend: Storage, base: str, names: list[str]) -> None:
    """Overwrites, deletes and batches racing each other on disjoint keys."""
    thirds = len(names) // 3
    overwrite, remove, batched = names[:thirds], names[thirds : 2 * thirds], names[2 * thirds :]
    await asyncio.gather(
        *(backend.put(base + n, b"new-" + _value(n)) for n in overwrite),
        *(backend.delete(base + n) for n in remove),
        *(backend.batch([Delete(base + n), Put(base + n + "-b", _value(n))]) for n in batched),
    )
    for n in overwrite:
        _expect(f"get({base + n!r}) after overwrite", await backend.get(base + n), b"new-" + _value(n))
    for n in remove:
        _expect(f"get({base + n!r}) after delete", await backend.get(base + n), None)
    expected = overwrite + [n + "-b" for n in batched]
    await _expect_listing(backend, base, expected)
    await asyncio.gather(*(backend.delete(base + n + "-b") for n in batched))


async def _empty_store(backend: Storage, root: str) -> None:
    await _expect_listing(backend, root, [])
    _expect("get of a missing key", await backend.get(root + "foo"), None)
    await backend.delete(root + "foo")  # deleting a missing key is not an error


async def _put_get_overwrite_delete(backend: Storage, root: str) -> None:
    key = root + "foo"
    await backend.put(key, b"test")
    _expect("get after put", await backend.get(key), b"test")
    await _expect_listing(backend, root, ["foo"])
    await backend.put(key, b"other")
    _expect("get after overwrite", await backend.get(key), b"other")
    await _expect_listing(backend, root, ["foo"])
    await backend.delete(key)
    _expect("get after delete", await backend.get(key), None)
    await backend.delete(key)
    await _expect_listing(backend, root, [])


async def _nested_folders(backend: Storage, root: str) -> None:
    keys = ["foo", "foo/bar/baz", "foo/bar/qux", "foo/zip"]
    for key in keys:
        await backend.put(root + key, key.encode())
    await _expect_listing(backend, root, ["foo", "foo/"])
    await _expect_listing(backend, root + "foo/", ["bar/", "zip"])
    await _expect_listing(backend, root + "foo/bar/", ["baz", "qux"])
    await _expect_listing(backend, root + "foo/nope/", [])
    await _expect_listing(backend, root + "foo/bar/baz/", [])
    _expect("get of a nested key", await backend.get(root + "foo/bar/qux"), b"foo/bar/qux")
    await backend.delete(root + "foo/bar/baz")
    await _expect_listing(backend, root + "foo/bar/", ["qux"])
    await backend.delete(root + "foo/bar/qux")
    await _expect_listing(backend, root + "foo/", ["zip"])  # an emptied folder vanishes
    await backend.delete(root + "foo")
    await _expect_listing(backend, root, ["foo/"])  # deleting a leaf keeps the folder
    await backend.delete(root + "foo/zip")
    await _expect_listing(backend, root, [])


async def _prefix_boundaries(backend: Storage, root: str) -> None:
    """``foo`` vs ``foo/`` vs ``foo-bar``: neighbours just below and above ``/`` in order."""
    keys = ["fo", "foo", "foo-bar", "foo-bar/x", "foo.", "foo/a", "foo/b/c", "foo0", "foobar"]
    for key in keys:
        await backend.put(root + key, b"v")
    top = ["fo", "foo", "foo-bar", "foo-bar/", "foo.", "foo/", "foo0", "foobar"]
    await _expect_listing(backend, root, top)
    await _expect_listing(backend, root + "foo/", ["a", "b/"])
    await _expect_listing(backend, root + "foo-bar/", ["x"])
    await _expect_listing(backend, root + "fo/", [])
    for key in keys:
        await backend.delete(root + key)
    await _expect_listing(backend, root, [])


async def _binary_values(backend: Storage, root: str) -> None:
    samples = {
        "every-byte": bytes(range(256)),
        "empty": b"",
        "zeros": bytes(16),
        "large": bytes(range(256)) * 4096,  # 1 MiB
    }
    for name, value in samples.items():
        await backend.put(root + name, value)
    for name, value in samples.items():
        got = await backend.get(root + name)
        _expect(f"binary value {name!r}", got, value)
        _expect(f"type of value {name!r}", type(got), bytes)
    for name in samples:
        await backend.delete(root + name)


async def _unusual_keys(backend: Storage, root: str) -> None:
    base = root + "odd/"
    for name in UNUSUAL_NAMES:
        await backend.put(base + name, name.encode())
    await backend.put(base + "日本語/キー", b"nested")
    for name in UNUSUAL_NAMES:
        _expect(f"get of unusual key {name!r}", await backend.get(base + name), name.encode())
    await _expect_listing(backend, base, [*UNUSUAL_NAMES, "日本語/"])
    await _expect_listing(backend, base + "日本語/", ["キー"])
    _expect("LIKE wildcard is literal", await backend.get(base + "x"), None)
    for name in [*UNUSUAL_NAMES, "日本語/キー"]:
        await backend.delete(base + name)
    await _expect_listing(backend, base, [])


async def _batch_applies_in_order(backend: Storage, root: str) -> None:
    base = root + "batch/"
    await backend.put(base + "1", b"old")
    await backend.put(base + "2", b"doomed")
    await backend.batch([Put(base + "1", b"new"), Delete(base + "2"), Put(base + "3", b"three")])
    _expect("batch overwrite", await backend.get(base + "1"), b"new")
    _expect("batch delete", await backend.get(base + "2"), None)
    _expect("batch put", await backend.get(base + "3"), b"three")
    await backend.batch([Put(base + "4", b"x"), Delete(base + "4")])
    _expect("put then delete in one batch", await backend.get(base + "4"), None)
    await backend.batch([Delete(base + "5"), Put(base + "5", b"y")])
    _expect("delete then put in one batch", await backend.get(base + "5"), b"y")
    await backend.batch([])
    await backend.batch([Delete(base + k) for k in ("1", "3", "5")])
    await _expect_listing(backend, base, [])


async def _batch_is_atomic(backend: Storage, root: str) -> None:
    """A batch with one invalid operation applies none of them."""
    base = root + "atomic/"
    await backend.put(base + "kept", b"before")
    invalid = Put(base + "bad", cast(Any, "not bytes"))
    try:
        await backend.batch([Put(base + "new", b"x"), Delete(base + "kept"), invalid])
    except Exception:  # noqa: S110 - which error is up to the backend; that it fails is not
        pass
    else:
        raise AssertionError("a batch holding a str value must fail")
    _expect("put from a failed batch", await backend.get(base + "new"), None)
    _expect("delete from a failed batch", await backend.get(base + "kept"), b"before")
    await backend.delete(base + "kept")


async def _values_are_copied(backend: Storage, root: str) -> None:
    key = root + "copied"
    buf = bytearray(b"original")
    await backend.put(key, cast(bytes, buf))
    buf[:] = b"mutated!"
    _expect("value after the caller mutated its buffer", await backend.get(key), b"original")
    batch_buf = bytearray(b"batched")
    await backend.batch([Put(key, cast(bytes, batch_buf))])
    batch_buf[:] = b"changed"
    _expect("batched value after mutation", await backend.get(key), b"batched")
    await backend.delete(key)


async def _expect_listing(backend: Storage, prefix: str, names: list[str]) -> None:
    _expect(f"list({prefix!r})", await backend.list(prefix), sorted(names))


def _expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise AssertionError(f"{what}: got {_short(got)}, want {_short(want)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _value(name: str) -> bytes:
    return f"value-{name}".encode()


def _check_root(root: str) -> None:
    if root and not root.endswith("/"):
        raise ValueError("root must be empty or end with '/'")
