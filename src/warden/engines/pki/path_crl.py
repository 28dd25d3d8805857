"""CRLs and delta CRLs: fetch (DER, PEM, JSON; unauthenticated), rotate, and ``config/crl``."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from warden.engines.pki import crl, x509util
from warden.engines.pki.fields import ISSUER_REF, storage_of
from warden.engines.pki.store import CrlConfig
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.durations import format_duration
from warden.logical.errors import InvalidRequest, NotFound
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, B, D = FieldType.STRING, FieldType.BOOL, FieldType.DURATION
R, U = Operation.READ, Operation.UPDATE
CRL_DER = "application/pkix-crl"
CRL_PEM = "application/x-pem-file"
NO_DELTA = "delta CRLs are not enabled: set enable_delta (with auto_rebuild) in config/crl"

CONFIG_FIELDS: dict[str, Field] = {
    "expiry": Field(D, "How long a CRL is valid (nextUpdate).", default="72h"),
    "disable": Field(B, "Build empty CRLs."),
    "ocsp_disable": Field(B, "Answer every OCSP request with unauthorized."),
    "ocsp_expiry": Field(D, "How long an OCSP response is valid (0: no nextUpdate).", default="12h"),
    "auto_rebuild": Field(B, "Rebuild CRLs before they expire instead of on every revocation."),
    "auto_rebuild_grace_period": Field(D, "How long before expiry an auto-rebuild happens.", default="12h"),
    "enable_delta": Field(B, "Build delta CRLs beside the complete ones (needs auto_rebuild)."),
    "delta_rebuild_interval": Field(D, "How often a delta CRL is re-signed when revocations lack from it.",
                                    default="15m"),
    "cross_cluster_revocation": Field(B, "Accepted for compatibility."),
    "unified_crl": Field(B, "Accepted for compatibility."),
    "unified_crl_on_existing_paths": Field(B, "Accepted for compatibility."),
}


def paths(b: PkiBackend) -> list[Path]:
    async def default_der(req: Request, data: FieldData) -> Response:
        return Response.raw_body(await _crl(b, req, "default", _is_delta(data)), CRL_DER)

    async def default_pem(req: Request, data: FieldData) -> Response:
        return Response.raw_body(_pem(await _crl(b, req, "default", _is_delta(data))).encode(), CRL_PEM)

    async def cert_crl(req: Request, data: FieldData) -> Response:
        der = await _crl(b, req, "default", req.path.endswith("delta-crl"))
        return Response(data={"certificate": _pem(der), "revocation_time": 0})

    async def issuer_crl(req: Request, data: FieldData) -> Response:
        der = await _crl(b, req, data.get("issuer_ref"), _is_delta(data))
        if data.get("encoding") == "der":
            return Response.raw_body(der, CRL_DER)
        if data.get("encoding") == "pem":
            return Response.raw_body(_pem(der).encode(), CRL_PEM)
        return Response(data={"crl": _pem(der)})

    async def rotate(req: Request, data: FieldData) -> Response:
        await crl.rebuild_all(b, storage_of(req))
        return Response(data={"success": True})

    async def rotate_delta(req: Request, data: FieldData) -> Response:
        if not (await b.crl_config(storage_of(req))).enable_delta:
            raise InvalidRequest(NO_DELTA)
        await crl.rebuild_all_deltas(b, storage_of(req))
        return Response(data={"success": True})

    async def read_config(req: Request, data: FieldData) -> Response:
        return Response(data=config_view(await b.crl_config(storage_of(req))))

    async def write_config(req: Request, data: FieldData) -> Response:
        return await _write_config(b, req, data)

    delta = {"delta": Field(S, "delta for the delta CRL.")}
    ref = {"issuer_ref": Field(S, "An issuer's id, name or default.", required=True),
           "encoding": Field(S, "der, pem, or empty for JSON."), **delta}
    return [
        Path("crl/rotate", operations={R: rotate, U: rotate}, help_synopsis="Rebuild every issuer's CRL."),
        Path("crl/rotate-delta", operations={R: rotate_delta, U: rotate_delta},
             help_synopsis="Rebuild every issuer's delta CRL."),
        Path("crl(?:/(?P<delta>delta))?/pem", fields=delta, operations={R: default_pem},
             help_synopsis="The default issuer's CRL or delta CRL (PEM)."),
        Path("crl(?:/(?P<delta>delta))?", fields=delta, operations={R: default_der},
             help_synopsis="The default issuer's CRL or delta CRL (DER)."),
        Path("cert/crl", operations={R: cert_crl}, help_synopsis="The default issuer's CRL (JSON)."),
        Path("cert/delta-crl", operations={R: cert_crl},
             help_synopsis="The default issuer's delta CRL (JSON)."),
        Path(f"issuer/{ISSUER_REF}/crl(?:/(?P<delta>delta))?(?:/(?P<encoding>der|pem))?", fields=ref,
             operations={R: issuer_crl}, help_synopsis="An issuer's CRL or delta CRL (unauthenticated)."),
        Path("config/crl", fields=CONFIG_FIELDS, operations={R: read_config, U: write_config},
             help_synopsis="CRL validity, auto-rebuild and OCSP settings.", help_description=CONFIG_DESC),
    ]


def _is_delta(data: FieldData) -> bool:
    return bool(data.get("delta") == "delta")


async def _crl(b: PkiBackend, req: Request, ref: str, delta: bool = False) -> bytes:
    storage = storage_of(req)
    issuer = (await b.ca(storage)).find_issuer(ref)
    if issuer is None:
        raise NotFound(f'no issuer "{ref}" in this mount, so no CRL')
    if delta and not (await b.crl_config(storage)).enable_delta:
        raise NotFound(NO_DELTA)
    der = await crl.current(b, storage, issuer.id, delta=delta)
    if der is None:
        raise NotFound(f"issuer {issuer.id} has no CRL: it cannot sign CRLs (no key or usage)")
    return der


def _pem(der: bytes) -> str:
    return x509util.der_to_pem(der, "X509 CRL")


def config_view(config: CrlConfig) -> dict[str, Any]:
    durations = ("expiry", "ocsp_expiry", "auto_rebuild_grace_period", "delta_rebuild_interval")
    out: dict[str, Any] = {k: (format_duration(v) if k in durations else v)
                           for k, v in dataclasses.asdict(config).items()}
    out.update(cross_cluster_revocation=False, unified_crl=False, unified_crl_on_existing_paths=False)
    return out


async def _write_config(b: PkiBackend, req: Request, data: FieldData) -> Response:
    storage = storage_of(req)
    current = await b.crl_config(storage)
    values = {name: data.get(name) for name in CrlConfig.__dataclass_fields__ if data.supplied(name)}
    config = dataclasses.replace(current, **values)
    if config.enable_delta and not config.auto_rebuild:
        raise InvalidRequest("enable_delta needs auto_rebuild: without it every revocation rebuilds the "
                             "complete CRL, so a delta CRL would always be empty")
    if config.enable_delta and not 0 < config.delta_rebuild_interval < config.expiry:
        raise InvalidRequest("delta_rebuild_interval must be positive and shorter than expiry")
    if config.expiry <= 0:
        raise InvalidRequest("expiry must be positive")
    if config.auto_rebuild and config.auto_rebuild_grace_period >= config.expiry:
        raise InvalidRequest("auto_rebuild_grace_period must be shorter than expiry")
    await b.save_crl_config(storage, config)
    await crl.rebuild_all(b, storage)
    return Response(data=config_view(config))


CONFIG_DESC = """
expiry sets how long each CRL is valid. Without auto_rebuild every revocation re-signs the
CRL at once; with it, CRLs are re-signed by the periodic task once they are within
auto_rebuild_grace_period of expiry (use crl/rotate for an immediate rebuild).
enable_delta (with auto_rebuild) adds a delta CRL per issuer (crl/delta, issuer/<ref>/crl/delta)
listing what was revoked since the complete CRL: every revocation re-signs it at once, and
the periodic task re-signs it after delta_rebuild_interval (crl/rotate-delta: now).
"""
