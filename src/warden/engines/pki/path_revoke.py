"""Revocation: by serial or certificate (``revoke``), with the private key as proof
(``revoke-with-key``), and through a lease (the engine's ``pki`` secret type)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.engines.pki import certstore, crl, x509util
from warden.engines.pki.fields import storage_of
from warden.engines.pki.store import format_serial, parse_serial
from warden.engines.pki.x509util import Certificate
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
REVOKE_FIELDS: dict[str, Field] = {
    "serial_number": Field(S, "The serial to revoke (colon- or hyphen-separated hex)."),
    "certificate": Field(S, "The PEM certificate to revoke (it must be signed by an issuer here)."),
}
WITH_KEY_FIELDS: dict[str, Field] = {
    **REVOKE_FIELDS,
    "private_key": Field(S, "The certificate's private key (PEM), as proof of possession.", required=True),
}


def paths(b: PkiBackend) -> list[Path]:
    async def revoke(req: Request, data: FieldData) -> Response:
        cert, issuer_id = await _target(b, req, data)
        return await revoke_certificate(b, req, cert, issuer_id)

    async def revoke_with_key(req: Request, data: FieldData) -> Response:
        cert, issuer_id = await _target(b, req, data)
        try:
            key = x509util.load_private_key(data.get("private_key"))
        except ValueError as exc:
            raise InvalidRequest(f"private_key: {exc}") from None
        if x509util.public_key_id(key) != x509util.public_key_id(cert.public_key()):  # type: ignore[arg-type]
            raise InvalidRequest("the private key does not match the certificate's public key")
        return await revoke_certificate(b, req, cert, issuer_id)

    return [
        Path("revoke", fields=REVOKE_FIELDS, operations={Operation.UPDATE: revoke},
             help_synopsis="Revoke a certificate by serial number or by the certificate itself.",
             help_description=REVOKE_DESC),
        Path("revoke-with-key", fields=WITH_KEY_FIELDS, operations={Operation.UPDATE: revoke_with_key},
             help_synopsis="Revoke a certificate, proving possession of its private key."),
    ]


async def _target(b: PkiBackend, req: Request, data: FieldData) -> tuple[Certificate, str]:
    """The certificate to revoke and the issuer that signed it."""
    serial_text, pem = data.get("serial_number"), data.get("certificate")
    if bool(serial_text) == bool(pem):
        raise InvalidRequest("give exactly one of serial_number or certificate")
    storage = storage_of(req)
    state = await b.ca(storage)
    if pem:
        try:
            cert = x509util.load_certificate(pem)
        except ValueError as exc:
            raise InvalidRequest(f"certificate: {exc}") from None
        signer = state.signer_of(cert)
        if signer is None:
            raise InvalidRequest("the certificate was not issued by any issuer of this mount")
        return cert, signer.id
    try:
        serial = parse_serial(serial_text)
    except ValueError as exc:
        raise InvalidRequest(f"serial_number: {exc}") from None
    record = await certstore.load_record(storage, serial)
    if record is None:
        raise InvalidRequest(f"certificate with serial {format_serial(serial)} not found (certificates "
                             "issued with no_store can be revoked by giving the certificate)")
    return x509util.load_certificate(record.certificate), record.issuer_id


async def revoke_certificate(b: PkiBackend, req: Request, cert: Certificate, issuer_id: str) -> Response:
    storage = storage_of(req)
    state = await b.ca(storage)
    if state.issuer_with_der(x509util.cert_der(cert)) is not None:
        raise InvalidRequest("issuers cannot be revoked here; use issuer/<ref>/revoke")
    info = x509util.describe(cert)
    now = b.now()
    if info.not_after < now and await certstore.load_revoked(storage, info.serial) is None:
        return Response(data={"revocation_time": 0, "state": "expired"},
                        warnings=["the certificate has already expired; it was not added to the CRL"])
    # Created only if absent, in the store: of concurrent revocations (in any process of the
    # server) one wins, and every caller answers with its revocation time.
    first, _, landed = await certstore.revoke_once(storage, certstore.RevokedEntry(
        serial_number=format_serial(info.serial), revocation_time=now, issuer_id=issuer_id,
        not_after=int(info.not_after), certificate=x509util.cert_pem(cert)))
    # Also when another caller's revocation won: its CRL may still be being built, and this
    # call must not return before the CRL lists the certificate.
    await crl.after_revocation(b, storage, first.issuer_id, landed)
    return _revoked_response(first.revocation_time, info, req, issuer_id)


def _revoked_response(when: float, info: x509util.CertInfo, req: Request, issuer_id: str) -> Response:
    audit: dict[str, Any] = {"revocation": {"serial_number": format_serial(info.serial),
                                            "subject": info.subject, "issuer_id": issuer_id,
                                            "mount": req.mount_point, "accessor": req.accessor}}
    return Response(data={"revocation_time": int(when), "revocation_time_rfc3339": to_rfc3339(when),
                          "state": "revoked"}, audit=audit)


async def revoke_lease(b: PkiBackend, req: Request) -> None:
    """The lease manager's revoke callback: revoke the lease's certificate if it still exists.

    A lease lives exactly as long as its certificate, so a lease that ran out (no TTL left)
    stands for a certificate that is expiring anyway: it is not put on the CRL.
    """
    assert req.secret is not None
    if req.secret.ttl <= 0:
        return
    storage: Storage = storage_of(req)
    serial = parse_serial(str(req.secret.internal_data.get("serial_number", "")))
    record = await certstore.load_record(storage, serial)
    if record is None:
        return  # tidied away or never stored: nothing left to revoke
    await revoke_certificate(b, req, x509util.load_certificate(record.certificate), record.issuer_id)


REVOKE_DESC = """
Give serial_number (of a certificate this mount stored) or certificate (any certificate an
issuer of this mount signed, e.g. one issued with no_store). The CRL is rebuilt at once
unless config/crl has auto_rebuild. Revoking twice returns the first revocation time.
"""
