"""The OCSP responder (RFC 6960): good, revoked or unknown for a serial of one of our issuers.

Responses are signed by the issuer itself (no delegated responder), carry the request's
nonce back when there is one, and are valid for ``ocsp_expiry`` of config/crl.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from warden.engines.pki import certstore, x509util
from warden.engines.pki.authority import CaState, LoadedIssuer
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

CONTENT_TYPE = "application/ocsp-response"


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC)


async def respond(b: PkiBackend, storage: Storage, request_der: bytes) -> bytes:
    """A DER OCSPResponse for a DER OCSPRequest; failures are OCSP error statuses, not raises."""
    config = await b.crl_config(storage)
    if config.ocsp_disable:
        return x509util.ocsp_failure("unauthorized")
    try:
        query = x509util.parse_ocsp_request(request_der)
    except ValueError:
        return x509util.ocsp_failure("malformed")
    issuer = _issuer_for(await b.ca(storage), query)
    if issuer is None or issuer.key is None or not issuer.entry.allows("ocsp-signing"):
        return x509util.ocsp_failure("unauthorized")
    status, revoked_at = await _status(storage, issuer, query.serial)
    now = b.now()
    return x509util.build_ocsp_response(
        query, x509util.Signer(issuer.key, issuer.cert), status, this_update=_utc(now),
        next_update=_utc(now + config.ocsp_expiry) if config.ocsp_expiry else None,
        revoked_at=revoked_at)


def _issuer_for(state: CaState, query: x509util.OcspQuery) -> LoadedIssuer | None:
    return next((i for i in state.issuers.values() if x509util.issuer_matches(i.cert, query)), None)


async def _status(storage: Storage, issuer: LoadedIssuer, serial: int) -> tuple[str, dt.datetime | None]:
    revoked = await certstore.load_revoked(storage, serial)
    if revoked is not None:
        return x509util.OCSP_REVOKED, _utc(revoked.revocation_time)
    record = await certstore.load_record(storage, serial)
    if record is not None and record.issuer_id == issuer.id:
        return x509util.OCSP_GOOD, None
    return x509util.OCSP_UNKNOWN, None
