"""Certificate revocation lists: one per issuer, numbered, rebuilt on revocation or schedule;
with ``enable_delta``, a delta CRL beside it listing what was revoked since.

A CRL is signed over entries kept encoded in storage (crlindex.py), so building one is a
join and a signature whatever its size. A CRL whose DER is larger than ``INLINE_BYTES`` is
stored in parts of at most ``PART_BYTES`` under ``crl-der/<issuer>/<number>/``, written in
the transaction that stores its state and deleted by the one that replaces it: no value
grows with the number of revocations. Complete and delta CRLs of an issuer share one
number sequence (RFC 5280 5.2.4). Revocations whose issuer no longer exists land on the
default issuer's CRL (as in Vault). Each process keeps the CRLs it served in memory.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from warden.engines.pki import crlindex, store, x509util
from warden.engines.pki.crlindex import Entries, Landed, Position
from warden.engines.pki.store import CrlConfig, CrlState
from warden.engines.pki.x509util import crl_encode
from warden.logical.storage import UPDATE_ATTEMPTS, BatchOp, Check, Contended, Delete, Put, Storage

if TYPE_CHECKING:
    from warden.engines.pki.authority import CaState
    from warden.engines.pki.backend import PkiBackend

COMPLETE, DELTA = "", "/delta"
DER_PREFIX = "crl-der/"
INLINE_BYTES = 64 * 1024
PART_BYTES = 256 * 1024  # below every store's value limit (etcd's request limit is 1.5 MiB)


class CrlCache:
    """(issuer id + kind) -> (DER, state) of the CRL this process last built or read, and
    the lock its builds in this process take turns on: revocations arriving while a CRL is
    being built wait for it, and most find their entry on it instead of building again."""

    def __init__(self) -> None:
        self._by_issuer: dict[str, tuple[bytes, CrlState]] = {}
        self._building: dict[str, asyncio.Lock] = {}

    def building(self, key: str) -> asyncio.Lock:
        return self._building.setdefault(key, asyncio.Lock())

    def get(self, key: str) -> tuple[bytes, CrlState] | None:
        return self._by_issuer.get(key)

    def put(self, key: str, der: bytes, state: CrlState) -> None:
        self._by_issuer[key] = (der, state)

    def clear(self) -> None:
        self._by_issuer.clear()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC)


def _state_key(issuer_id: str, kind: str) -> str:
    return store.CRL_PREFIX + issuer_id + kind


def _part_key(issuer_id: str, number: int, index: int) -> str:
    return f"{DER_PREFIX}{issuer_id}/{number:012d}/{index:05d}"


def _decode(raw: bytes | None) -> CrlState | None:
    return None if raw is None else store.decode_crl_state(raw)


def _ends(state: CrlState) -> dict[str, Position]:
    return {str(i): Position(int(c), int(s)) for i, c, s in state.ends}


def _encode_ends(ends: Mapping[str, Position]) -> tuple[tuple[str, int, int], ...]:
    return tuple((i, p.chunk, p.size) for i, p in sorted(ends.items()))


def _stored(issuer_id: str, kind: str, state: CrlState, der: bytes) -> tuple[CrlState, list[BatchOp]]:
    """``state`` with ``der`` inline or in parts, and the writes that store them."""
    if len(der) <= INLINE_BYTES:
        inline = dataclasses.replace(state, der=base64.b64encode(der).decode(), parts=0)
        return inline, [Put(_state_key(issuer_id, kind), store.encode_crl_state(inline))]
    pieces = [der[i:i + PART_BYTES] for i in range(0, len(der), PART_BYTES)]
    split = dataclasses.replace(state, der="", parts=len(pieces))
    ops: list[BatchOp] = [Put(_part_key(issuer_id, state.number, i), p) for i, p in enumerate(pieces)]
    return split, [*ops, Put(_state_key(issuer_id, kind), store.encode_crl_state(split))]


def _dropped(issuer_id: str, state: CrlState | None) -> list[BatchOp]:
    """The writes that remove the parts of a CRL being replaced."""
    if state is None:
        return []
    return [Delete(_part_key(issuer_id, state.number, i)) for i in range(state.parts)]


async def removal_ops(storage: Storage, issuer_id: str) -> list[BatchOp]:
    """The writes that forget an issuer's CRLs (its issuer is being deleted)."""
    ops: list[BatchOp] = []
    for kind in (COMPLETE, DELTA):
        state = _decode(await storage.get(_state_key(issuer_id, kind)))
        if state is not None:
            ops += [Delete(_state_key(issuer_id, kind)), *_dropped(issuer_id, state)]
    return ops


async def _der_of(storage: Storage, issuer_id: str, state: CrlState) -> bytes | None:
    """The stored DER; None if its parts were replaced since ``state`` was read."""
    if not state.parts:
        return base64.b64decode(state.der)
    pieces = await asyncio.gather(*(storage.get(_part_key(issuer_id, state.number, i))
                                    for i in range(state.parts)))
    if any(p is None for p in pieces):
        return None
    return b"".join(p for p in pieces if p is not None)


def _signer(state: CaState, issuer_id: str) -> x509util.Signer | None:
    issuer = state.issuers.get(issuer_id)
    if issuer is None or issuer.key is None or not issuer.entry.allows("crl-signing"):
        return None
    if not issuer.info.can_sign_crl:
        return None
    return x509util.Signer(issuer.key, issuer.cert)


@dataclasses.dataclass(frozen=True, slots=True)
class _Job:
    """What building one issuer's CRLs needs, read once per build."""

    signer: x509util.Signer
    config: CrlConfig
    sources: list[str]
    key: str  # the complete CRL's state
    delta_key: str  # the delta CRL's state
    freshest: tuple[str, ...]  # where its delta CRLs are: on the complete CRL (RFC 5280 5.2.6)


async def _job(b: PkiBackend, storage: Storage, issuer_id: str) -> _Job | None:
    """None if the issuer cannot sign CRLs (no key, or usage)."""
    state = await b.ca(storage)
    signer = _signer(state, issuer_id)
    if signer is None:
        return None
    config = await b.crl_config(storage)
    freshest = state.issuers[issuer_id].urls(await b.urls(storage)).delta_crl_distribution_points
    return _Job(signer, config, await _sources(storage, state, issuer_id),
                _state_key(issuer_id, COMPLETE), _state_key(issuer_id, DELTA),
                freshest if config.enable_delta else ())


async def _sources(storage: Storage, state: CaState, issuer_id: str) -> list[str]:
    """Whose entries go on this issuer's CRL: its own, and on the default issuer's, those
    of issuers that no longer exist."""
    if issuer_id != state.default_issuer:
        return [issuer_id]
    orphans = [i for i in await crlindex.issuers(storage) if i not in state.issuers and i != issuer_id]
    return [issuer_id, *orphans]


async def _backoff(attempt: int) -> None:
    if attempt >= 2:  # racing rebuilds: spread them out
        await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))


def _lists(state: CrlState | None, landed: Landed | None, epoch: int | None) -> bool:
    return landed is not None and state is not None and state.epoch == epoch and landed.within(_ends(state))


async def rebuild(b: PkiBackend, storage: Storage, issuer_id: str, *,
                  unless_listing: Landed | None = None) -> bytes | None:
    """Sign a fresh complete CRL for one issuer (and an empty delta CRL on top of it when
    delta CRLs are on); None if it cannot sign CRLs (no key, or usage), or if the stored
    one lists the entry ``unless_listing`` already (a concurrent rebuild included it).

    A check-and-set on the stored CRLs: if another process of the server stored one while
    this one was being built, it is built again from the entries there then, so the stored
    CRL never lacks a revocation committed before it was built."""
    async with b.crls.building(_state_key(issuer_id, COMPLETE)):
        return await _rebuild(b, storage, issuer_id, unless_listing)


async def _rebuild(b: PkiBackend, storage: Storage, issuer_id: str,
                   unless_listing: Landed | None) -> bytes | None:
    job = await _job(b, storage, issuer_id)
    if job is None:
        return None
    signer, config, sources = job.signer, job.config, job.sources
    key, delta_key = job.key, job.delta_key
    for attempt in range(UPDATE_ATTEMPTS):
        epoch = await crlindex.ensure(storage)
        current, current_delta = await storage.get_versioned(key), await storage.get_versioned(delta_key)
        previous, previous_delta = _decode(current.value), _decode(current_delta.value)
        if _lists(previous, unless_listing, epoch):
            return None
        entries = Entries(b"", {}) if config.disable else await crlindex.read(storage, sources)
        now = b.now()
        number = max(previous.number if previous else 0, previous_delta.number if previous_delta else 0) + 1
        der = crl_encode.signed_crl(signer, entries.der, number=number, this_update=_utc(now),
                                    next_update=_utc(now + config.expiry), freshest=job.freshest)
        fresh, ops = _stored(issuer_id, COMPLETE, CrlState(
            number=number, der="", this_update=now, next_update=now + config.expiry,
            ends=_encode_ends(entries.ends), epoch=epoch), der)
        ops += _dropped(issuer_id, previous) + _dropped(issuer_id, previous_delta)
        delta: tuple[bytes, CrlState] | None = None
        if config.enable_delta:
            delta_der, delta_state, delta_ops = _delta(signer, issuer_id, fresh, Entries(b"", entries.ends),
                                                       number + 1, now, config)
            ops += delta_ops
            delta = (delta_der, delta_state)
        elif previous_delta is not None:
            ops.append(Delete(delta_key))
        checks = [Check(key, current.version), Check(delta_key, current_delta.version)]
        if await storage.transaction(checks, ops):
            b.crls.put(key, der, fresh)
            if delta is not None:
                b.crls.put(delta_key, *delta)
            return der
        await _backoff(attempt)
    raise Contended()


def _delta(signer: x509util.Signer, issuer_id: str, base: CrlState, entries: Entries, number: int,
           now: float, config: CrlConfig) -> tuple[bytes, CrlState, list[BatchOp]]:
    der = crl_encode.signed_crl(signer, entries.der, number=number, this_update=_utc(now),
                                next_update=_utc(now + config.expiry), delta_of=base.number)
    state, ops = _stored(issuer_id, DELTA, CrlState(
        number=number, der="", this_update=now, next_update=now + config.expiry,
        ends=_encode_ends(entries.ends), epoch=base.epoch, delta_of=base.number), der)
    return der, state, ops


async def rebuild_delta(b: PkiBackend, storage: Storage, issuer_id: str, *,
                        unless_listing: Landed | None = None) -> bytes | None:
    """Sign a fresh delta CRL: what was revoked since the issuer's complete CRL. Builds the
    complete CRL instead when there is none, or its entries were rewritten since (tidy).
    None as for ``rebuild``."""
    async with b.crls.building(_state_key(issuer_id, DELTA)):
        return await _rebuild_delta(b, storage, issuer_id, unless_listing)


async def _rebuild_delta(b: PkiBackend, storage: Storage, issuer_id: str,
                         unless_listing: Landed | None) -> bytes | None:
    job = await _job(b, storage, issuer_id)
    if job is None:
        return None
    signer, config, sources = job.signer, job.config, job.sources
    key, delta_key = job.key, job.delta_key
    for attempt in range(UPDATE_ATTEMPTS):
        current, current_delta = await storage.get_versioned(key), await storage.get_versioned(delta_key)
        base, previous = _decode(current.value), _decode(current_delta.value)
        epoch = await crlindex.epoch(storage)
        if _lists(previous, unless_listing, epoch) or _lists(base, unless_listing, epoch):
            return None
        if base is None or base.epoch != epoch:
            await rebuild(b, storage, issuer_id)
            cached = b.crls.get(delta_key)
            return None if cached is None else cached[0]
        base_ends = _ends(base)
        entries = (Entries(b"", base_ends) if config.disable
                   else await crlindex.read(storage, sources, base_ends))
        number = max(base.number, previous.number if previous else 0) + 1
        der, fresh, ops = _delta(signer, issuer_id, base, entries, number, b.now(), config)
        ops += _dropped(issuer_id, previous)
        checks = [Check(key, current.version), Check(delta_key, current_delta.version)]
        if await storage.transaction(checks, ops):
            b.crls.put(delta_key, der, fresh)
            return der
        await _backoff(attempt)
    raise Contended()


async def rebuild_all(b: PkiBackend, storage: Storage) -> list[str]:
    """Rebuild every issuer's CRL; the ids of those rebuilt. First the entries are rebuilt
    from the revocation records if the two disagree (tidy removed revocations)."""
    await reindex_if_stale(storage)
    state = await b.ca(storage)
    return [i for i in state.issuers if await rebuild(b, storage, i) is not None]


async def rebuild_all_deltas(b: PkiBackend, storage: Storage) -> list[str]:
    state = await b.ca(storage)
    return [i for i in state.issuers if await rebuild_delta(b, storage, i) is not None]


async def reindex_if_stale(storage: Storage) -> bool:
    """Rebuild the CRL entries from the revocation records if they disagree in number
    (revocations removed by tidy, records written in bulk by another program, or a store
    from before the entries); whether it did."""
    records = await storage.count(crlindex.REVOKED_PREFIX)
    if await crlindex.epoch(storage) is None:
        if not records:
            return False  # nothing to list; the first CRL build marks the entries as built
        await crlindex.reindex(storage)
        return True
    listed = 0
    for issuer_id in await crlindex.issuers(storage):
        listed += crlindex.count((await crlindex.read(storage, [issuer_id])).der)
    if listed == records:
        return False
    await crlindex.reindex(storage)
    return True


async def after_revocation(b: PkiBackend, storage: Storage, issuer_id: str,
                           landed: Landed | None = None) -> None:
    """Vault's rule: a revocation rebuilds the CRL at once unless auto_rebuild is on; with
    delta CRLs on, it rebuilds the (small) delta CRL at once instead. ``landed``: where the
    revocation's entry went, so a CRL stored meanwhile that lists it is not built again."""
    config = await b.crl_config(storage)
    state = await b.ca(storage)
    target = issuer_id if issuer_id in state.issuers else state.default_issuer
    if not target:
        return
    if not config.auto_rebuild:
        await rebuild(b, storage, target, unless_listing=landed)
    elif config.enable_delta:
        await rebuild_delta(b, storage, target, unless_listing=landed)


async def current(b: PkiBackend, storage: Storage, issuer_id: str, *, delta: bool = False) -> bytes | None:
    """The issuer's current CRL (DER), building the first one if there is none yet; with
    ``delta``, its delta CRL (None when it cannot sign CRLs)."""
    key = _state_key(issuer_id, DELTA if delta else COMPLETE)
    cached = b.crls.get(key)
    if cached is not None:
        return cached[0]
    for _ in range(UPDATE_ATTEMPTS):
        generation = b.generation
        stored = _decode(await storage.get(key))
        if stored is None:
            break
        der = await _der_of(storage, issuer_id, stored)
        if der is None:
            continue  # replaced while being read: read the new one
        if generation == b.generation:
            b.crls.put(key, der, stored)
        return der
    return await (rebuild_delta if delta else rebuild)(b, storage, issuer_id)


async def rebuild_if_due(b: PkiBackend, storage: Storage) -> None:
    """auto_rebuild: re-sign CRLs that expire within the grace period, and delta CRLs older
    than delta_rebuild_interval that lack revocations (run by periodic)."""
    config = await b.crl_config(storage)
    if not config.auto_rebuild:
        return
    now = b.now()
    state = await b.ca(storage)
    for issuer_id in state.issuers:
        stored = _decode(await storage.get(_state_key(issuer_id, COMPLETE)))
        if stored is None or stored.next_update - config.auto_rebuild_grace_period <= now:
            await rebuild(b, storage, issuer_id)
        elif config.enable_delta and await _delta_due(storage, state, issuer_id, config, now):
            await rebuild_delta(b, storage, issuer_id)


async def _delta_due(storage: Storage, state: CaState, issuer_id: str, config: CrlConfig, now: float) -> bool:
    delta = _decode(await storage.get(_state_key(issuer_id, DELTA)))
    if delta is None or delta.next_update - config.auto_rebuild_grace_period <= now:
        return True
    if now - delta.this_update < config.delta_rebuild_interval:
        return False
    newer = await crlindex.read(storage, await _sources(storage, state, issuer_id), _ends(delta))
    return bool(newer.der)
