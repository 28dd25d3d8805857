"""Reading CA certificates, chains and issued certificates; listing issued certificates.

``ca``, ``ca/pem``, ``ca_chain`` and ``cert/*`` are unauthenticated, as in Vault. Listings
are authenticated and paged with Vault's after/limit; the index listings (by expiry, role,
name, issue time) are in path_cert_index.py.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from warden.engines.pki import certstore, x509util
from warden.engines.pki.authority import LoadedIssuer
from warden.engines.pki.fields import PAGE_FIELDS, storage_of
from warden.engines.pki.store import format_serial, parse_serial
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S = FieldType.STRING
R, L = Operation.READ, Operation.LIST
PEM_CHAIN = "application/pem-certificate-chain"
SERIAL = {"serial": Field(S, "A serial number, colon- or hyphen-separated hex.", required=True)}


def paths(b: PkiBackend) -> list[Path]:
    async def ca_der(req: Request, data: FieldData) -> Response | None:
        issuer = await _default(b, req)
        return None if issuer is None else Response.raw_body(issuer.der, "application/pkix-cert")

    async def ca_pem(req: Request, data: FieldData) -> Response | None:
        issuer = await _default(b, req)
        return None if issuer is None else Response.raw_body(issuer.pem.encode(), PEM_CHAIN)

    async def ca_chain(req: Request, data: FieldData) -> Response | None:
        issuer = await _default(b, req)
        return None if issuer is None else Response.raw_body("".join(issuer.chain).encode(), PEM_CHAIN)

    async def cert_ca(req: Request, data: FieldData) -> Response | None:
        issuer = await _default(b, req)
        if issuer is None:
            return None
        return Response(data={"certificate": issuer.pem, "ca_chain": list(issuer.chain),
                              "issuer_id": issuer.id, "revocation_time": 0, "revocation_time_rfc3339": ""})

    async def cert_ca_chain(req: Request, data: FieldData) -> Response | None:
        issuer = await _default(b, req)
        if issuer is None:
            return None
        return Response(data={"certificate": "".join(issuer.chain), "ca_chain": list(issuer.chain)})

    async def cert_read(req: Request, data: FieldData) -> Response | None:
        return await _cert(b, req, data.get("serial"), data.get("raw"))

    async def list_certs(req: Request, data: FieldData) -> Response:
        return Response.listing(await _serials(storage_of(req), data))

    async def list_revoked(req: Request, data: FieldData) -> Response:
        storage = storage_of(req)
        entries = await certstore.revoked_page(storage, after=data.get("after"), limit=_page_limit(data))
        records = await asyncio.gather(*(certstore.load_record(storage, parse_serial(e.serial_number))
                                         for e in entries))
        info = {e.serial_number: _revoked_info(e, r) for e, r in zip(entries, records, strict=True)}
        return Response.listing(list(info), info)

    async def list_detailed(req: Request, data: FieldData) -> Response:
        storage = storage_of(req)
        info: dict[str, Any] = {}
        for serial in await _serials(storage, data):
            record = await certstore.load_record(storage, parse_serial(serial))
            if record is not None:
                info[serial] = _detail(record)
        return Response.listing(list(info), info)

    raw = Field(S, "raw: DER; raw/pem: PEM.")
    return [
        Path("ca", operations={R: ca_der}, help_synopsis="The default issuer's certificate (DER)."),
        Path("ca/pem", operations={R: ca_pem}, help_synopsis="The default issuer's certificate (PEM)."),
        Path("ca_chain", operations={R: ca_chain}, help_synopsis="The default issuer's chain (PEM)."),
        Path("cert/ca_chain", operations={R: cert_ca_chain}, help_synopsis="The default issuer's chain."),
        Path("cert/ca", operations={R: cert_ca}, help_synopsis="The default issuer's certificate."),
        Path("cert/(?P<serial>[0-9A-Fa-f:-]+)(?:/(?P<raw>raw(?:/pem)?))?", fields={**SERIAL, "raw": raw},
             operations={R: cert_read}, help_synopsis="An issued certificate by serial (unauthenticated)."),
        Path("certs/revoked/?", fields=PAGE_FIELDS, operations={L: list_revoked},
             help_synopsis="Serials of revoked certificates."),
        Path("certs/detailed/?", fields=PAGE_FIELDS, operations={L: list_detailed},
             help_synopsis="Issued certificates with their CN, role, expiry and requester."),
        Path("certs/?", fields=PAGE_FIELDS, operations={L: list_certs},
             help_synopsis="Serials of issued certificates."),
    ]


async def _default(b: PkiBackend, req: Request) -> LoadedIssuer | None:
    """The default issuer; None (a 404, as these paths are public) when the mount has no CA yet."""
    return (await b.ca(storage_of(req))).find_issuer("default")


async def _cert(b: PkiBackend, req: Request, serial_text: str, raw: str) -> Response | None:
    if serial_text == "crl":
        return None  # cert/crl is served by path_crl (declared earlier); never a serial
    try:
        serial = parse_serial(serial_text)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    storage = storage_of(req)
    record = await certstore.load_record(storage, serial)
    revoked = await certstore.load_revoked(storage, serial)
    pem = record.certificate if record else (revoked.certificate if revoked else "")
    if not pem:
        return None
    if raw == "raw":
        return Response.raw_body(x509util.cert_der(x509util.load_certificate(pem)), "application/pkix-cert")
    if raw == "raw/pem":
        return Response.raw_body(pem.encode(), PEM_CHAIN)
    when = revoked.revocation_time if revoked else 0
    return Response(data={
        "certificate": pem, "revocation_time": int(when),
        "revocation_time_rfc3339": to_rfc3339(when) if revoked else "",
        "issuer_id": record.issuer_id if record else (revoked.issuer_id if revoked else ""),
    })


def _detail(record: certstore.CertRecord) -> dict[str, Any]:
    return {"common_name": record.common_name, "subject": record.subject, "role": record.role,
            "issuer_id": record.issuer_id, "not_before": record.not_before, "not_after": record.not_after,
            "dns_names": list(record.dns_names), "ip_addresses": list(record.ip_addresses),
            "uris": list(record.uris), "emails": list(record.emails), "accessor": record.accessor,
            "mount": record.mount, "is_ca": record.is_ca}


async def _serials(storage: Storage, data: FieldData) -> list[str]:
    after = data.get("after")  # as in Vault, need not exist; a serial in any of its forms
    try:
        after = format_serial(parse_serial(after)) if after else ""
    except ValueError:
        after = after.lower()
    return await certstore.list_serials(storage, after=after, limit=_page_limit(data))


def _page_limit(data: FieldData) -> int:
    if data.get("limit") < 0:
        raise InvalidRequest("limit must not be negative")
    return int(data.get("limit"))


def _revoked_info(entry: certstore.RevokedEntry, record: certstore.CertRecord | None) -> dict[str, Any]:
    return {"revocation_time": int(entry.revocation_time),
            "revocation_time_rfc3339": to_rfc3339(entry.revocation_time), "issuer_id": entry.issuer_id,
            "not_after": entry.not_after, "not_after_rfc3339": to_rfc3339(entry.not_after),
            "common_name": record.common_name if record else "", "role": record.role if record else ""}
