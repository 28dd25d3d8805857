"""``tidy``, ``tidy-status``, ``tidy-cancel`` and ``config/auto-tidy``.

tidy_cert_store removes stored certificates whose NotAfter is more than safety_buffer ago;
tidy_revoked_certs removes revocations of such certificates (then rebuilds the CRLs);
tidy_expired_issuers removes non-default issuers expired for longer than
issuer_safety_buffer. Nothing else is touched. As in Vault, tidy runs in the background
(``tidy.py``): the request answers 202 at once, tidy-status follows the run and
tidy-cancel stops it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson

from warden.engines.pki import store, tidy
from warden.engines.pki.fields import storage_of
from warden.engines.pki.tidy import MIN_PAGE, TidyParams
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.durations import parse_seconds
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

B, D = FieldType.BOOL, FieldType.DURATION
CONFIG_AUTO_TIDY = "config/auto-tidy"
STARTED = ("Tidy operation successfully started. Any information from the operation will be printed "
           "to Vault's server logs.")
ALREADY_RUNNING = "Tidy operation already in progress."
NOT_RUNNING = "Tidy operation cannot be cancelled as none is currently running."


@dataclasses.dataclass(frozen=True, slots=True)
class AutoTidy:
    enabled: bool = False
    interval_duration: int = 12 * 3600
    params: TidyParams = dataclasses.field(default_factory=TidyParams)


TIDY_FIELDS: dict[str, Field] = {
    "tidy_cert_store": Field(B, "Remove expired certificates from the store."),
    "tidy_revoked_certs": Field(B, "Remove revocations of expired certificates (and rebuild the CRLs)."),
    "tidy_expired_issuers": Field(B, "Remove non-default issuers expired past issuer_safety_buffer."),
    "tidy_revoked_cert_issuer_associations": Field(B, "Accepted for compatibility (nothing to do)."),
    "safety_buffer": Field(D, "How long after expiry a certificate is kept.", default="72h"),
    "revoked_safety_buffer": Field(D, "The same for revoked certificates (default: safety_buffer)."),
    "issuer_safety_buffer": Field(D, "How long after expiry an issuer is kept.", default="8760h"),
    "pause_duration": Field(FieldType.STRING, "How long to pause between certificates (e.g. 100ms).",
                            default="0s"),
    "tidy_invalid_certs": Field(B, "Accepted for compatibility."),
    "tidy_move_legacy_ca_bundle": Field(B, "Accepted for compatibility."),
    "tidy_revocation_queue": Field(B, "Accepted for compatibility."),
    "tidy_cross_cluster_revoked_certs": Field(B, "Accepted for compatibility."),
    "tidy_acme": Field(B, "Accepted for compatibility."),
    "page_size": Field(FieldType.INT, "Certificates read and removed per page (at least 5).",
                       default=1000),
}
AUTO_FIELDS: dict[str, Field] = {
    **TIDY_FIELDS,
    "enabled": Field(B, "Run tidy periodically."),
    "interval_duration": Field(D, "Time between automatic tidy runs.", default="12h"),
}


def _params(data: FieldData, base: TidyParams | None = None) -> TidyParams:
    base = base or TidyParams()
    values: dict[str, Any] = {n: data.get(n) for n in TidyParams.__dataclass_fields__
                              if n not in ("pause_duration", "page_size") and data.supplied(n)}
    if data.supplied("pause_duration"):
        try:
            values["pause_duration"] = parse_seconds(data.get("pause_duration"))
        except ValueError as exc:
            raise InvalidRequest(f"unable to parse given pause_duration: {exc}") from None
    if data.supplied("page_size"):
        page = data.get("page_size")
        if 0 <= page < MIN_PAGE:
            raise InvalidRequest(f"page_size must be at least {MIN_PAGE} (or negative for the default)")
        values["page_size"] = page if page > 0 else tidy.DEFAULT_PAGE
    params = dataclasses.replace(base, **values)
    if min(params.safety_buffer, params.issuer_safety_buffer) <= 0:
        raise InvalidRequest("safety_buffer and issuer_safety_buffer must be positive")
    return params


def paths(b: PkiBackend) -> list[Path]:
    async def start(req: Request, data: FieldData) -> Response:
        params = _params(data)
        if not params.anything:
            raise InvalidRequest("tidy needs at least one of tidy_cert_store, tidy_revoked_certs or "
                                 "tidy_expired_issuers set to true")
        if not await tidy.start(b, storage_of(req), params):
            return Response(warnings=[ALREADY_RUNNING])
        return Response(warnings=[STARTED], status=202)

    async def status(req: Request, data: FieldData) -> Response:
        return Response(data=(await tidy.read_status(storage_of(req))).view(b.now()))

    async def cancel(req: Request, data: FieldData) -> Response:
        cancelling = await tidy.cancel(b, storage_of(req))
        if cancelling is None:
            return Response(warnings=[NOT_RUNNING])
        return Response(data=cancelling.view(b.now()))

    async def read_auto(req: Request, data: FieldData) -> Response:
        return Response(data=_auto_view(await load_auto_tidy(storage_of(req))))

    async def write_auto(req: Request, data: FieldData) -> Response:
        current = await load_auto_tidy(storage_of(req))
        auto = AutoTidy(enabled=data.get("enabled") if data.supplied("enabled") else current.enabled,
                        interval_duration=(data.get("interval_duration") if data.supplied("interval_duration")
                                           else current.interval_duration),
                        params=_params(data, current.params))
        if auto.enabled and not auto.params.anything:
            raise InvalidRequest("Auto-tidy enabled but no tidy operations were requested: set at least "
                                 "one of tidy_cert_store, tidy_revoked_certs or tidy_expired_issuers")
        await storage_of(req).put(CONFIG_AUTO_TIDY, orjson.dumps(dataclasses.asdict(auto)))
        return Response(data=_auto_view(auto))

    return [
        Path("tidy", fields=TIDY_FIELDS, operations={Operation.UPDATE: start},
             help_synopsis="Remove expired certificates and revocations (in the background).",
             help_description=__doc__ or ""),
        Path("tidy-status", operations={Operation.READ: status},
             help_synopsis="The running tidy, or the last one (from any worker process)."),
        Path("tidy-cancel", operations={Operation.UPDATE: cancel},
             help_synopsis="Stop the running tidy at its next checkpoint."),
        Path("config/auto-tidy", fields=AUTO_FIELDS, operations={Operation.READ: read_auto,
                                                                 Operation.UPDATE: write_auto},
             help_synopsis="Run tidy periodically with these parameters."),
    ]


def _auto_view(auto: AutoTidy) -> dict[str, Any]:
    params = dataclasses.asdict(auto.params)
    params["pause_duration"] = tidy.pause_text(auto.params.pause_duration)
    return {"enabled": auto.enabled, "interval_duration": auto.interval_duration, **params}


async def load_auto_tidy(storage: Storage) -> AutoTidy:
    raw = await storage.get(CONFIG_AUTO_TIDY)
    if raw is None:
        return AutoTidy()
    data = orjson.loads(raw)
    return AutoTidy(enabled=data["enabled"], interval_duration=data["interval_duration"],
                    params=store.decode_entry(TidyParams, data["params"]))


async def auto_tidy_if_due(b: PkiBackend, storage: Storage) -> bool:
    """Start the configured tidy in the background once an interval has passed since the
    last run began or ended (or since start-up); True if it started."""
    auto = await load_auto_tidy(storage)
    if not auto.enabled or not auto.params.anything:
        return False
    last = await tidy.read_status(storage)
    since = max(b.started_at, last.time_started, last.time_finished)
    if b.now() - since < auto.interval_duration:
        return False
    return await tidy.start(b, storage, auto.params, auto=True)
