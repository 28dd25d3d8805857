"""Certificate revocation lists: one per issuer, numbered, rebuilt on revocation or schedule.

Revocations whose issuer no longer exists land on the default issuer's CRL (as in Vault).
The current CRL of each issuer is kept in memory for the unauthenticated fetch paths.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING

from warden.engines.pki import certstore, store, x509util
from warden.engines.pki.store import CrlState, parse_serial
from warden.logical.storage import BatchOp, Storage, atomic_update

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend


class CrlCache:
    """issuer id -> (DER, state) of the CRL this process last built or read."""

    def __init__(self) -> None:
        self._by_issuer: dict[str, tuple[bytes, CrlState]] = {}

    def get(self, issuer_id: str) -> tuple[bytes, CrlState] | None:
        return self._by_issuer.get(issuer_id)

    def put(self, issuer_id: str, der: bytes, state: CrlState) -> None:
        self._by_issuer[issuer_id] = (der, state)

    def clear(self) -> None:
        self._by_issuer.clear()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC)


async def revoked_for(b: PkiBackend, storage: Storage, issuer_id: str) -> list[tuple[int, dt.datetime]]:
    state = await b.ca(storage)
    default = state.default_issuer
    out = []
    for entry in await certstore.all_revoked(storage):
        owner = entry.issuer_id if entry.issuer_id in state.issuers else default
        if owner == issuer_id:
            out.append((parse_serial(entry.serial_number), _utc(entry.revocation_time)))
    return sorted(out)


async def rebuild(b: PkiBackend, storage: Storage, issuer_id: str) -> bytes | None:
    """Sign a fresh CRL for one issuer; None if it cannot sign CRLs (no key, or usage).

    A check-and-set on the stored CRL: if another process of the server stored one while
    this one was being built, it is built again from the revocations listed then, so the
    stored CRL never lacks a revocation committed before it was built."""
    state = await b.ca(storage)
    issuer = state.issuers.get(issuer_id)
    if issuer is None or issuer.key is None or not issuer.entry.allows("crl-signing"):
        return None
    if not issuer.info.can_sign_crl:
        return None
    config = await b.crl_config(storage)
    key = issuer.key

    async def signed(raw: bytes | None) -> tuple[list[BatchOp], tuple[bytes, CrlState]]:
        previous = None if raw is None else store.decode_crl_state(raw)
        revoked = [] if config.disable else await revoked_for(b, storage, issuer_id)
        now = b.now()
        number = previous.number + 1 if previous else 1
        crl = x509util.build_crl(x509util.Signer(key, issuer.cert), revoked, number=number,
                                 this_update=_utc(now), next_update=_utc(now + config.expiry))
        der = x509util.crl_der(crl)
        fresh = CrlState(number=number, der=base64.b64encode(der).decode(), this_update=now,
                         next_update=now + config.expiry)
        return [store.crl_state_op(issuer_id, fresh)], (der, fresh)

    der, fresh = await atomic_update(storage, store.CRL_PREFIX + issuer_id, signed)
    b.crls.put(issuer_id, der, fresh)
    return der


async def rebuild_all(b: PkiBackend, storage: Storage) -> list[str]:
    """Rebuild every issuer's CRL; the ids of those rebuilt."""
    state = await b.ca(storage)
    return [i for i in state.issuers if await rebuild(b, storage, i) is not None]


async def after_revocation(b: PkiBackend, storage: Storage, issuer_id: str) -> None:
    """Vault's rule: a revocation rebuilds the CRL at once unless auto_rebuild is on."""
    if not (await b.crl_config(storage)).auto_rebuild:
        state = await b.ca(storage)
        target = issuer_id if issuer_id in state.issuers else state.default_issuer
        if target:
            await rebuild(b, storage, target)


async def current(b: PkiBackend, storage: Storage, issuer_id: str) -> bytes | None:
    """The issuer's current CRL (DER), building the first one if there is none yet."""
    cached = b.crls.get(issuer_id)
    if cached is not None:
        return cached[0]
    generation = b.generation
    stored = await store.load_crl_state(storage, issuer_id)
    if stored is not None:
        der = base64.b64decode(stored.der)
        if generation == b.generation:
            b.crls.put(issuer_id, der, stored)
        return der
    return await rebuild(b, storage, issuer_id)


async def rebuild_if_due(b: PkiBackend, storage: Storage) -> None:
    """auto_rebuild: re-sign CRLs that expire within the grace period (run by periodic)."""
    config = await b.crl_config(storage)
    if not config.auto_rebuild:
        return
    now = b.now()
    state = await b.ca(storage)
    for issuer_id in state.issuers:
        stored = await store.load_crl_state(storage, issuer_id)
        if stored is None or stored.next_update - config.auto_rebuild_grace_period <= now:
            await rebuild(b, storage, issuer_id)
