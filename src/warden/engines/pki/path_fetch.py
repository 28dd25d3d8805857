"""Reading CA certificates, chains and issued certificates; listing issued certificates.

``ca``, ``ca/pem``, ``ca_chain`` and ``cert/*`` are unauthenticated, as in Vault. Listings
are authenticated; ``certs/expiring`` and ``certs/by-role/<role>`` are warden extensions
served from the indexes written at issuance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.engines.pki import certstore, x509util
from warden.engines.pki.authority import LoadedIssuer
from warden.engines.pki.certstore import IndexEntry
from warden.engines.pki.fields import PAGE_FIELDS, page, storage_of
from warden.engines.pki.issuing import parse_not_after
from warden.engines.pki.store import parse_serial
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.framework.durations import parse_duration
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S = FieldType.STRING
R, L = Operation.READ, Operation.LIST
PEM_CHAIN = "application/pem-certificate-chain"
SERIAL = {"serial": Field(S, "A serial number, colon- or hyphen-separated hex.", required=True)}
WINDOW_FIELDS = {
    "after": Field(S, "Only certificates expiring at or after this time (RFC 3339; default: now)."),
    "before": Field(S, "Only certificates expiring before this time (RFC 3339)."),
    "within": Field(S, "Only certificates expiring within this duration from now, e.g. 72h."),
}


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
        return Response.listing(page(await certstore.list_serials(storage_of(req)), data))

    async def list_revoked(req: Request, data: FieldData) -> Response:
        entries = await certstore.all_revoked(storage_of(req))
        info = {e.serial_number: {"revocation_time": int(e.revocation_time), "issuer_id": e.issuer_id}
                for e in entries}
        keys = page(list(info), data)
        return Response.listing(keys, {k: info[k] for k in keys})

    async def list_detailed(req: Request, data: FieldData) -> Response:
        storage = storage_of(req)
        info: dict[str, Any] = {}
        for serial in page(await certstore.list_serials(storage), data):
            record = await certstore.load_record(storage, parse_serial(serial))
            if record is not None:
                info[serial] = _detail(record)
        return Response.listing(list(info), info)

    async def list_expiring(req: Request, data: FieldData) -> Response:
        after, before = _window(b.now(), data)
        return _index_listing(await certstore.expiring_between(storage_of(req), after, before), b.now())

    async def list_by_role(req: Request, data: FieldData) -> Response:
        return _index_listing(await certstore.by_role(storage_of(req), data.get("role")), b.now())

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
        Path("certs/expiring/?", fields=WINDOW_FIELDS, operations={L: list_expiring},
             help_synopsis="Issued certificates expiring in a window (warden extension).",
             help_description=EXPIRING_DESC),
        Path("certs/by-role/" + generic_name_regex("role") + "/?",
             fields={"role": Field(S, "The role.", required=True)}, operations={L: list_by_role},
             help_synopsis="Issued certificates of one role (warden extension)."),
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


def _window(now: float, data: FieldData) -> tuple[float, float]:
    after = parse_not_after(data.get("after")) if data.get("after") else now
    if data.get("before"):
        before = parse_not_after(data.get("before"))
    elif data.get("within"):
        try:
            before = now + parse_duration(data.get("within"))
        except ValueError as exc:
            raise InvalidRequest(f"within: {exc}") from None
    else:
        raise InvalidRequest("give before (RFC 3339) or within (a duration such as 72h)")
    return after, before


def _index_listing(entries: list[IndexEntry], now: float) -> Response:
    info = {e.serial_number: {"common_name": e.common_name, "role": e.role, "not_after": e.not_after,
                              "not_after_rfc3339": to_rfc3339(e.not_after), "expired": e.not_after < now}
            for e in entries}
    return Response.listing(list(info), info)


EXPIRING_DESC = """
LIST certs/expiring?within=72h lists the stored certificates that expire in the next 72
hours (after defaults to now); after/before take RFC 3339 times. Each key's key_info holds
the common name, role and expiry. Served from the expiry index (certificates issued with
no_store are not stored and so not listed).
"""
