"""Shared tail of every signing endpoint: store and index, answer in Vault's shape, audit."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from warden.engines.pki import certstore, x509util
from warden.engines.pki.authority import CaState, LoadedIssuer
from warden.engines.pki.certstore import CertRecord
from warden.engines.pki.store import format_serial
from warden.engines.pki.x509util import Certificate, CertInfo, PrivateKey
from warden.logical.clock import to_rfc3339
from warden.logical.request import Request
from warden.logical.response import Response, Secret
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend


def record_for(cert: Certificate, info: CertInfo, *, issuer_id: str, role: str, req: Request,
               issued_at: float, pem: str = "") -> CertRecord:
    return CertRecord(
        serial_number=format_serial(info.serial), certificate=pem or x509util.cert_pem(cert),
        issuer_id=issuer_id, not_before=int(info.not_before), not_after=int(info.not_after),
        subject=info.subject, common_name=info.common_name, dns_names=info.alt_names.dns,
        ip_addresses=info.alt_names.ips, uris=info.alt_names.uris, emails=info.alt_names.emails,
        role=role, mount=req.mount_point, accessor=req.accessor, is_ca=info.is_ca,
        issued_at=int(issued_at), issued_by=req.caller.display_name if req.caller else "")


async def store_certificate(storage: Storage, record: CertRecord) -> None:
    """The record and its indexes in one atomic batch."""
    await storage.batch(certstore.record_ops(record))


def audit_facts(info: CertInfo, *, issuer_id: str, role: str, req: Request) -> dict[str, Any]:
    """What the audit log records about an issued certificate (no key material)."""
    return {"certificate": {
        "serial_number": format_serial(info.serial),
        "subject": info.subject,
        "sans": {"dns": list(info.alt_names.dns), "ip": list(info.alt_names.ips),
                 "uri": list(info.alt_names.uris), "email": list(info.alt_names.emails)},
        "not_after": to_rfc3339(info.not_after),
        "issuer_id": issuer_id,
        "role": role,
        "mount": req.mount_point,
        "accessor": req.accessor,
    }}


def chain_of(state: CaState, issuer: LoadedIssuer, *, remove_roots: bool) -> list[str]:
    if not remove_roots:
        return list(issuer.chain)
    return [pem for pem, iid in zip(issuer.chain, issuer.chain_ids, strict=True)
            if not state.issuers[iid].is_root]


def _b64_der_of_pem(pem: str) -> str:
    return base64.b64encode(x509util.cert_der(x509util.load_certificate(pem))).decode()


def certificate_data(cert: Certificate, info: CertInfo, issuer: LoadedIssuer, chain: Sequence[str], *,
                     fmt: str, key: PrivateKey | None = None, key_format: str = "der",
                     pem: str = "", trust: Sequence[str] = ()) -> dict[str, Any]:
    """Vault's response fields for an issued or signed certificate in pem, der or pem_bundle;
    with ``trust``, warden's extra ``trust_bundle`` field (the mount's trust bundle, in the
    encoding of ``ca_chain``)."""
    pkcs8 = key_format == "pkcs8"
    data: dict[str, Any] = {"serial_number": format_serial(info.serial), "expiration": int(info.not_after)}
    if fmt == "der":
        data["certificate"] = base64.b64encode(x509util.cert_der(cert)).decode()
        data["issuing_ca"] = base64.b64encode(issuer.der).decode()
        data["ca_chain"] = [_b64_der_of_pem(p) for p in chain]
        if trust:
            data["trust_bundle"] = [_b64_der_of_pem(p) for p in trust]
    else:
        data["certificate"] = pem or x509util.cert_pem(cert)
        data["issuing_ca"] = issuer.pem
        data["ca_chain"] = list(chain)
        if trust:
            data["trust_bundle"] = list(trust)
    if key is not None:
        spec = info.key_spec or x509util.spec_of(key)
        data["private_key_type"] = spec.key_type if spec else ""
        data["private_key"] = (base64.b64encode(x509util.private_key_der(key, pkcs8=pkcs8)).decode()
                               if fmt == "der" else x509util.private_key_pem(key, pkcs8=pkcs8))
    if fmt == "pem_bundle":
        parts = ([x509util.private_key_pem(key)] if key is not None else []) + [data["certificate"]]
        if not issuer.is_root:
            parts += list(chain)
        data["certificate"] = "".join(p if p.endswith("\n") else p + "\n" for p in parts)
    return data


def lease_secret(b: PkiBackend, info: CertInfo) -> Secret:
    ttl = max(0, int(info.not_after - b.now()))
    return Secret(ttl=ttl, renewable=False,
                  internal_data={"secret_type": "pki", "serial_number": format_serial(info.serial)})


def signed_response(data: dict[str, Any], warnings: Sequence[str], audit: dict[str, Any],
                    secret: Secret | None = None) -> Response:
    return Response(data=data, warnings=list(warnings), audit=audit, secret=secret)
