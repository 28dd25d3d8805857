"""etcd physical backend: warden's distributed store and its HA lock (Vault's ``etcd``).

Keys are stored below ``path`` (default ``/warden/``); values as described in
``etcd_values`` (a tag byte, and chunks for values above the request limit). A key's
version is its etcd ``mod_revision``, which is unique across the cluster and never
reused, so ``transaction`` maps straight onto an etcd Txn: each ``Check`` compares the
key's mod_revision (or, for 0, that the key does not exist) and the ops run only if
every compare holds.

Every write is one etcd transaction. While this node holds the HA lock, each write also
compares the lock key's create_revision ("fencing"): a node that lost the lock, even one
that has not noticed yet, cannot write any more.

Reads are linearizable (etcd's default), so no answer is ever stale; without quorum
they, like writes, fail with ``StorageUnavailable`` (503) after ``request_timeout``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aetcd import rpc  # type: ignore[import-untyped]

from warden.logical.storage import ABSENT, BatchOp, Check, Delete, Put, Versioned
from warden.storage.base import (
    StorageError,
    StorageUnavailable,
    ValueTooLarge,
    checked_check,
    checked_key,
    checked_op,
)
from warden.storage.etcd_client import Ambiguous, EtcdClient, Stubs
from warden.storage.etcd_lock import EtcdLock, Fence
from warden.storage.etcd_settings import REQUEST_OVERHEAD, EtcdOptions, EtcdSettings
from warden.storage.etcd_values import (
    CHUNKED,
    INLINE,
    Layout,
    Manifest,
    joined,
    manifest_for,
    prefix_end,
    split,
)

_log = logging.getLogger(__name__)

_Names = list[str]  # inside the class, ``list`` names the method
_LIST_PAGE: Final = 512
_READ_ATTEMPTS: Final = 4


@dataclass(slots=True)
class _Txn:
    """One write compiled for etcd: what to send first (chunks), then the transaction."""

    compares: list[Any]
    success: list[Any]
    chunks: list[tuple[bytes, bytes]]
    first_put: tuple[bytes, bytes] | None  # (etcd key, head bytes): proof it was applied


class EtcdBackend:
    """A physical backend and HA lock provider on an etcd v3 cluster."""

    def __init__(self, settings: EtcdSettings, options: EtcdOptions | None = None) -> None:
        options = options or EtcdOptions()
        self._client = EtcdClient(settings)
        self._options = options
        self._layout = Layout(options.path)
        self._budget = options.max_request_bytes - REQUEST_OVERHEAD
        self._chunk_size = min(1024 * 1024, self._budget)
        self.fence: Fence | None = None  # set by the HA lock while this node holds it

    @property
    def ha_enabled(self) -> bool:
        return self._options.ha_enabled

    @property
    def client(self) -> EtcdClient:
        return self._client

    @property
    def layout(self) -> Layout:
        return self._layout

    def lock_with(self, key: str, value: str) -> EtcdLock:
        return EtcdLock(self, self._layout.lock_root + checked_key(key).encode(), value,
                        self._options.lock_ttl)

    async def close(self) -> None:
        await self._client.close()

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return (await self.get_versioned(key)).value

    async def get_versioned(self, key: str) -> Versioned:
        checked_key(key)
        for _ in range(_READ_ATTEMPTS):
            found = await self._client.call(lambda s: s.kv.Range(
                rpc.RangeRequest(key=self._layout.key(key)), metadata=s.metadata))
            if not found.kvs:
                return ABSENT
            kv = found.kvs[0]
            value = await self._open(key, kv.value, found.header.revision)
            if value is not None:
                return Versioned(value, kv.mod_revision)
        raise StorageError(f"etcd: the chunks of {key!r} are missing or damaged")

    async def _open(self, key: str, head: bytes, revision: int) -> bytes | None:
        if head[:1] == INLINE:
            return head[1:]
        if head[:1] != CHUNKED:
            raise StorageError(f"etcd: the value at {key!r} was not written by warden")
        manifest = Manifest.decode(head)
        start = self._layout.chunks_of_write(key, manifest.write_id)
        try:
            found = await self._client.call(lambda s: s.kv.Range(rpc.RangeRequest(
                key=start, range_end=prefix_end(start), revision=revision,
                sort_order=rpc.RangeRequest.ASCEND, sort_target=rpc.RangeRequest.KEY),
                metadata=s.metadata))
        except StorageError as exc:
            if "compacted" in str(exc):
                return None  # that revision is gone: read the head again
            raise
        return joined(manifest, [kv.value for kv in found.kvs])

    async def list(self, prefix: str) -> list[str]:
        """Direct children of ``prefix``: pages of keys, seeking past each folder found,
        all read at the revision of the first page (one consistent snapshot)."""
        base = self._layout.key(checked_key(prefix))
        end = prefix_end(base)
        names: _Names = []
        start, revision = base, 0
        while start:
            request = rpc.RangeRequest(key=start, range_end=end, limit=_LIST_PAGE, keys_only=True,
                                       revision=revision)
            page = await self._client.call(_ranger(request))
            revision = revision or page.header.revision
            start = _collect(page.kvs, base, names, more=page.more)
        return names

    async def list_page(self, prefix: str, after: str, limit: int) -> _Names:
        """``list``'s names after ``after``, at most ``limit``: one seek, then pages of keys
        until enough names are found (at one revision, like ``list``)."""
        base = self._layout.key(checked_key(prefix))
        end = prefix_end(base)
        if not checked_key(after):
            start = base
        elif after.endswith("/"):  # past everything inside that folder
            start = base + after[:-1].encode() + b"0"
        else:
            start = base + after.encode() + b"\x00"
        names: _Names = []
        revision = 0
        while start and (limit <= 0 or len(names) < limit):
            request = rpc.RangeRequest(key=start, range_end=end, limit=_LIST_PAGE, keys_only=True,
                                       revision=revision)
            page = await self._client.call(_ranger(request))
            revision = revision or page.header.revision
            start = _collect(page.kvs, base, names, more=page.more)
        return names[:limit] if limit > 0 else names

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        """Keys below ``prefix`` in ``[start, end)``: one count-only range read."""
        base = self._layout.key(checked_key(prefix))
        if checked_key(end) and checked_key(start) >= end:
            return 0
        low = base + start.encode() if start else base + b"\x00"
        high = base + end.encode() if end else prefix_end(base)
        answer = await self._client.call(_ranger(rpc.RangeRequest(key=low, range_end=high, count_only=True)))
        return int(answer.count)

    # -- writes -----------------------------------------------------------------------------

    async def put(self, key: str, value: bytes) -> None:
        await self.transaction([], [Put(key, value)])

    async def delete(self, key: str) -> None:
        await self.transaction([], [Delete(key)])

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        checked = _final_ops([checked_op(op) for op in ops])
        limit = self._options.max_txn_ops
        if len(checked) > limit and all(isinstance(op, Delete) for op in checked):
            # etcd caps the ops of one transaction. A delete-only batch (clearing a mount)
            # is applied in slices: a crash midway leaves a partial delete that the
            # retried operation finishes. Batches with puts must fit in one transaction.
            for i in range(0, len(checked), limit):
                await self.transaction([], checked[i:i + limit])
            return
        await self.transaction([], checked)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        valid_checks = [checked_check(c) for c in checks]
        valid_ops = _final_ops([checked_op(op) for op in ops])
        txn = self._compile(valid_checks, valid_ops)
        if txn.chunks:
            await self._write_chunks(txn.chunks)
        fence = self.fence
        compares = txn.compares + ([fence.compare()] if fence else [])
        failure = [fence.probe()] if fence else []
        try:
            answer = await self._client.call(lambda s: s.kv.Txn(rpc.TxnRequest(
                compare=compares, success=txn.success, failure=failure), metadata=s.metadata),
                idempotent=not valid_checks)
        except Ambiguous:
            if txn.first_put is None or not await self._stored_is(*txn.first_put):
                raise
            return True  # our exact head bytes are stored: the transaction was applied
        if not answer.succeeded:
            await self._discard_chunks(txn.chunks)
            if fence is not None:
                fence.check_failure(answer)
            return False
        await self._clean_replaced(answer)
        return True

    def _compile(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> _Txn:
        txn = _Txn(compares=[_compare(self._layout.key(c.key), c.version) for c in checks],
                   success=[], chunks=[], first_put=None)
        to_chunk = self._too_big_for_one_request(ops)
        for op in ops:
            key = self._layout.key(op.key)
            if isinstance(op, Delete):
                txn.success.append(rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(
                    key=key, prev_kv=True)))
                continue
            if len(op.value) > self._options.max_value_bytes:
                raise ValueTooLarge(f"value at {op.key!r} is {len(op.value)} bytes; the etcd "
                                    f"store takes at most {self._options.max_value_bytes}")
            head = INLINE + op.value
            if op.key in to_chunk:
                head = self._chunk(op.key, op.value, txn)
            txn.success.append(rpc.RequestOp(request_put=rpc.PutRequest(
                key=key, value=head, prev_kv=True)))
            txn.first_put = txn.first_put or (key, head)
        if len(txn.success) > self._options.max_txn_ops:
            raise StorageError(f"etcd: a transaction of {len(txn.success)} operations exceeds "
                               f"max_txn_ops ({self._options.max_txn_ops})")
        return txn

    def _too_big_for_one_request(self, ops: Sequence[BatchOp]) -> set[str]:
        """The keys to chunk: every value above a chunk, then the largest until the rest fit."""
        puts = sorted((op for op in ops if isinstance(op, Put)), key=lambda p: -len(p.value))
        total = sum(len(p.value) + len(p.key) for p in puts)
        chosen: set[str] = set()
        for put in puts:
            if len(put.value) > self._chunk_size or total > self._budget:
                chosen.add(put.key)
                total -= len(put.value)
        return chosen

    def _chunk(self, key: str, value: bytes, txn: _Txn) -> bytes:
        parts = split(value, self._chunk_size)
        manifest = manifest_for(value, len(parts))
        for i, part in enumerate(parts):
            txn.chunks.append((self._layout.chunk(key, manifest.write_id, i), part))
        # In the switching transaction: drop this key's other chunks (earlier writes,
        # leftovers of a crash), never the ones just written.
        own = self._layout.chunks_of_write(key, manifest.write_id)
        every = self._layout.chunks_of(key)
        txn.success.append(_delete_range(every, own))
        txn.success.append(_delete_range(prefix_end(own), prefix_end(every)))
        return manifest.encode()

    async def _write_chunks(self, chunks: Sequence[tuple[bytes, bytes]]) -> None:
        for key, part in chunks:  # one request each: together they exceed the request limit
            await self._client.call(_putter(rpc.PutRequest(key=key, value=part)))

    async def _discard_chunks(self, chunks: Sequence[tuple[bytes, bytes]]) -> None:
        prefixes = {key[:key.rfind(b"/") + 1] for key, _ in chunks}
        for prefix in prefixes:
            await self._best_effort_delete(prefix)

    async def _clean_replaced(self, answer: Any) -> None:
        """Remove the chunks of the values this transaction replaced or deleted."""
        for response in answer.responses:
            kind = response.WhichOneof("response")
            if kind == "response_put":
                previous = [response.response_put.prev_kv]
            elif kind == "response_delete_range":
                previous = list(response.response_delete_range.prev_kvs)
            else:
                continue
            for kv in previous:
                if kv.key.startswith(self._layout.data) and kv.value[:1] == CHUNKED:
                    name = self._layout.name(kv.key)
                    write_id = Manifest.decode(kv.value).write_id
                    await self._best_effort_delete(self._layout.chunks_of_write(name, write_id))

    async def _best_effort_delete(self, prefix: bytes) -> None:
        try:
            await self._client.call(lambda s: s.kv.DeleteRange(rpc.DeleteRangeRequest(
                key=prefix, range_end=prefix_end(prefix)), metadata=s.metadata))
        except StorageError as exc:  # unreferenced chunks: garbage, not damage
            _log.warning("could not remove unreferenced chunks: %s", exc)

    async def _stored_is(self, key: bytes, head: bytes) -> bool:
        try:
            found = await self._client.call(lambda s: s.kv.Range(rpc.RangeRequest(key=key),
                                                                 metadata=s.metadata))
        except StorageUnavailable:
            return False
        return bool(found.kvs) and found.kvs[0].value == head


def _ranger(request: Any) -> Callable[[Stubs], Awaitable[Any]]:
    async def call(s: Stubs) -> Any:
        return await s.kv.Range(request, metadata=s.metadata)

    return call


def _putter(request: Any) -> Callable[[Stubs], Awaitable[Any]]:
    async def call(s: Stubs) -> Any:
        return await s.kv.Put(request, metadata=s.metadata)

    return call


def _final_ops(ops: list[BatchOp]) -> list[BatchOp]:
    """One op per key, the last one (etcd refuses a key twice in one transaction); the
    final state is the same as applying them all in order."""
    last: dict[str, BatchOp] = {}
    for op in ops:
        last.pop(op.key, None)
        last[op.key] = op
    return list(last.values())


def _compare(key: bytes, version: int) -> Any:
    if version == 0:  # absent: etcd's per-key version is 0 for a key that does not exist
        return rpc.Compare(key=key, target=rpc.Compare.VERSION, result=rpc.Compare.EQUAL,
                           version=0)
    return rpc.Compare(key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                       mod_revision=version)


def _delete_range(start: bytes, end: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=start, range_end=end))


def _collect(kvs: Any, base: bytes, names: list[str], *, more: bool) -> bytes:
    """Add the children in one page to ``names``; the key to read the next page from."""
    for kv in kvs:
        rest = kv.key[len(base):]
        slash = rest.find(b"/")
        if slash < 0:
            names.append(rest.decode())
            continue
        names.append(rest[:slash + 1].decode())
        return bytes(base + rest[:slash] + b"0")  # '0' follows '/': seek past the folder
    if more and kvs:
        return bytes(kvs[-1].key + b"\x00")
    return b""


__all__ = ["EtcdBackend", "EtcdOptions", "EtcdSettings"]
