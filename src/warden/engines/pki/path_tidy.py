"""``tidy``: drop expired certificates (past a safety buffer) and expired revocations.

tidy_cert_store removes stored certificates whose NotAfter is more than safety_buffer ago;
tidy_revoked_certs removes revocations of such certificates (then rebuilds the CRLs);
tidy_expired_issuers removes non-default issuers expired for longer than
issuer_safety_buffer. Nothing else is touched. Unlike Vault, tidy runs to completion
within the request (it walks the expiry index, so it reads only what can go).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from warden.engines.pki import certstore, crl, store
from warden.engines.pki.fields import storage_of
from warden.engines.pki.store import parse_serial
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.durations import format_duration
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import BatchOp, Delete, Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

log = logging.getLogger("warden.pki")
B, D = FieldType.BOOL, FieldType.DURATION
CONFIG_AUTO_TIDY = "config/auto-tidy"


@dataclass(frozen=True, slots=True)
class TidyParams:
    tidy_cert_store: bool = False
    tidy_revoked_certs: bool = False
    tidy_expired_issuers: bool = False
    tidy_revoked_cert_issuer_associations: bool = False
    safety_buffer: int = 72 * 3600
    revoked_safety_buffer: int = 0
    issuer_safety_buffer: int = 8760 * 3600


@dataclass(frozen=True, slots=True)
class AutoTidy:
    enabled: bool = False
    interval_duration: int = 12 * 3600
    params: TidyParams = field(default_factory=TidyParams)


@dataclass(slots=True)
class TidyStatus:
    """The last (or current) tidy run, kept in memory as Vault does."""

    state: str = "Inactive"
    params: TidyParams = field(default_factory=TidyParams)
    error: str | None = None
    time_started: float = 0.0
    time_finished: float = 0.0
    cert_store_deleted_count: int = 0
    revoked_cert_deleted_count: int = 0
    issuers_deleted_count: int = 0
    last_auto_tidy_finished: float = 0.0

    def view(self) -> dict[str, Any]:
        p = self.params
        return {
            **dataclasses.asdict(p), "state": self.state, "error": self.error,
            "time_started": to_rfc3339(self.time_started) if self.time_started else None,
            "time_finished": to_rfc3339(self.time_finished) if self.time_finished else None,
            "message": None, "cert_store_deleted_count": self.cert_store_deleted_count,
            "revoked_cert_deleted_count": self.revoked_cert_deleted_count,
            "issuers_deleted_count": self.issuers_deleted_count,
            "last_auto_tidy_finished": (to_rfc3339(self.last_auto_tidy_finished)
                                        if self.last_auto_tidy_finished else None),
        }


TIDY_FIELDS: dict[str, Field] = {
    "tidy_cert_store": Field(B, "Remove expired certificates from the store."),
    "tidy_revoked_certs": Field(B, "Remove revocations of expired certificates (and rebuild the CRLs)."),
    "tidy_expired_issuers": Field(B, "Remove non-default issuers expired past issuer_safety_buffer."),
    "tidy_revoked_cert_issuer_associations": Field(B, "Accepted for compatibility (nothing to do)."),
    "safety_buffer": Field(D, "How long after expiry a certificate is kept.", default="72h"),
    "revoked_safety_buffer": Field(D, "The same for revoked certificates (default: safety_buffer)."),
    "issuer_safety_buffer": Field(D, "How long after expiry an issuer is kept.", default="8760h"),
    "pause_duration": Field(FieldType.STRING, "Accepted for compatibility."),
    "tidy_invalid_certs": Field(B, "Accepted for compatibility."),
    "tidy_move_legacy_ca_bundle": Field(B, "Accepted for compatibility."),
    "tidy_revocation_queue": Field(B, "Accepted for compatibility."),
    "tidy_cross_cluster_revoked_certs": Field(B, "Accepted for compatibility."),
    "tidy_acme": Field(B, "Accepted for compatibility."),
    "page_size": Field(FieldType.INT, "Accepted for compatibility."),
}
AUTO_FIELDS: dict[str, Field] = {
    **TIDY_FIELDS,
    "enabled": Field(B, "Run tidy periodically."),
    "interval_duration": Field(D, "Time between automatic tidy runs.", default="12h"),
}


def _params(data: FieldData, base: TidyParams | None = None) -> TidyParams:
    base = base or TidyParams()
    values = {n: data.get(n) for n in TidyParams.__dataclass_fields__ if data.supplied(n)}
    params = dataclasses.replace(base, **values)
    if min(params.safety_buffer, params.issuer_safety_buffer) <= 0:
        raise InvalidRequest("safety_buffer and issuer_safety_buffer must be positive")
    return params


def paths(b: PkiBackend) -> list[Path]:
    async def tidy(req: Request, data: FieldData) -> Response:
        params = _params(data)
        if not (params.tidy_cert_store or params.tidy_revoked_certs or params.tidy_expired_issuers):
            raise InvalidRequest("tidy needs at least one of tidy_cert_store, tidy_revoked_certs or "
                                 "tidy_expired_issuers set to true")
        status = await run_tidy(b, storage_of(req), params)
        return Response(data=status.view(), warnings=["Tidy operation finished."])

    async def status(req: Request, data: FieldData) -> Response:
        return Response(data=b.tidy_status.view())

    async def cancel(req: Request, data: FieldData) -> Response:
        return Response(data=b.tidy_status.view(), warnings=["no tidy operation is running"])

    async def read_auto(req: Request, data: FieldData) -> Response:
        return Response(data=_auto_view(await load_auto_tidy(storage_of(req))))

    async def write_auto(req: Request, data: FieldData) -> Response:
        current = await load_auto_tidy(storage_of(req))
        auto = AutoTidy(enabled=data.get("enabled") if data.supplied("enabled") else current.enabled,
                        interval_duration=(data.get("interval_duration") if data.supplied("interval_duration")
                                           else current.interval_duration),
                        params=_params(data, current.params))
        await storage_of(req).put(CONFIG_AUTO_TIDY, orjson.dumps(dataclasses.asdict(auto)))
        return Response(data=_auto_view(auto))

    return [
        Path("tidy", fields=TIDY_FIELDS, operations={Operation.UPDATE: tidy},
             help_synopsis="Remove expired certificates and revocations.", help_description=__doc__ or ""),
        Path("tidy-status", operations={Operation.READ: status}, help_synopsis="The last tidy run."),
        Path("tidy-cancel", operations={Operation.UPDATE: cancel}, help_synopsis="Cancel a running tidy."),
        Path("config/auto-tidy", fields=AUTO_FIELDS, operations={Operation.READ: read_auto,
                                                                 Operation.UPDATE: write_auto},
             help_synopsis="Run tidy periodically with these parameters."),
    ]


def _auto_view(auto: AutoTidy) -> dict[str, Any]:
    return {"enabled": auto.enabled, "interval_duration": auto.interval_duration,
            **dataclasses.asdict(auto.params), "pause_duration": format_duration(0)}


async def load_auto_tidy(storage: Storage) -> AutoTidy:
    raw = await storage.get(CONFIG_AUTO_TIDY)
    if raw is None:
        return AutoTidy()
    data = orjson.loads(raw)
    return AutoTidy(enabled=data["enabled"], interval_duration=data["interval_duration"],
                    params=store.decode_entry(TidyParams, data["params"]))


async def auto_tidy_if_due(b: PkiBackend, storage: Storage) -> None:
    auto = await load_auto_tidy(storage)
    now = b.now()
    last = b.tidy_status.last_auto_tidy_finished or b.started_at
    if auto.enabled and now - last >= auto.interval_duration:
        await run_tidy(b, storage, auto.params)
        b.tidy_status.last_auto_tidy_finished = b.now()


async def run_tidy(b: PkiBackend, storage: Storage, params: TidyParams) -> TidyStatus:
    status = TidyStatus(state="Running", params=params, time_started=b.now(),
                        last_auto_tidy_finished=b.tidy_status.last_auto_tidy_finished)
    b.tidy_status = status
    try:
        now = b.now()
        if params.tidy_cert_store:
            status.cert_store_deleted_count = await _tidy_cert_store(storage, now - params.safety_buffer)
        if params.tidy_revoked_certs:
            buffer = params.revoked_safety_buffer or params.safety_buffer
            status.revoked_cert_deleted_count = await _tidy_revoked(storage, now - buffer)
        if params.tidy_expired_issuers:
            status.issuers_deleted_count = await _tidy_issuers(b, storage, now - params.issuer_safety_buffer)
        if status.revoked_cert_deleted_count or status.issuers_deleted_count:
            b.ca_changed()
            await crl.rebuild_all(b, storage)
        status.state = "Finished"
    except Exception as exc:  # recorded for tidy-status, then re-raised
        status.state, status.error = "Error", str(exc)
        raise
    finally:
        status.time_finished = b.now()
    return status


async def _apply(storage: Storage, ops: list[BatchOp]) -> None:
    for chunk in certstore.chunks(ops):
        await storage.batch(chunk)


async def _tidy_cert_store(storage: Storage, cutoff: float) -> int:
    """A page at a time, soonest expiry first: what is removed drops out of the next page.
    Each page is one batch, so a certificate never loses only some of its index entries."""
    removed = 0
    while expired := await certstore.expired_page(storage, cutoff, limit=200):
        await storage.batch([op for entry in expired for op in certstore.removal_ops(entry)])
        removed += len(expired)
    return removed


async def _tidy_revoked(storage: Storage, cutoff: float) -> int:
    gone = [e for e in await certstore.all_revoked(storage) if e.not_after < cutoff]
    ops: list[BatchOp] = []
    for entry in gone:
        ops.append(Delete(certstore.REVOKED_PREFIX + entry.serial_number.replace(":", "-")))
        record = await certstore.load_record(storage, parse_serial(entry.serial_number))
        if record is not None:
            ops += certstore.removal_ops(record.summary())
    await _apply(storage, ops)
    return len(gone)


async def _tidy_issuers(b: PkiBackend, storage: Storage, cutoff: float) -> int:
    state = await b.ca(storage)
    gone = [i for i in state.issuers.values() if i.info.not_after < cutoff and i.id != state.default_issuer]
    for issuer in gone:
        log.info("tidy removes expired issuer %s; its certificate was:\n%s", issuer.id, issuer.pem)
    await _apply(storage, [op for i in gone for op in (Delete(store.ISSUER_PREFIX + i.id),
                                                       Delete(store.CRL_PREFIX + i.id))])
    return len(gone)
