"""A CertificateSigningRequest object read once into plain facts: the PKCS#10 request's
subject, SANs and key, the requester, the requested usages and lifetime, the conditions.

Parsing never raises for what a requester controls: a request that is not a PEM PKCS#10,
or whose signature does not verify with its own key (no proof of possession), yields
``problem`` instead, and the signer marks the CSR Failed with that reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"


@dataclass(frozen=True, slots=True)
class Conditions:
    approved: bool = False
    denied: bool = False
    failed: bool = False
    issued: bool = False  # status.certificate is set

    @property
    def settled(self) -> bool:
        """Nothing more to do for a signer or an approver."""
        return self.issued or self.denied or self.failed


@dataclass(frozen=True, slots=True)
class CsrFacts:
    name: str
    signer: str
    resource_version: str
    uid: str
    username: str
    groups: tuple[str, ...]
    extra: dict[str, list[str]]
    requester_uid: str
    usages: tuple[str, ...]
    expiration_seconds: int | None
    conditions: Conditions
    pem: str = ""
    problem: str = ""  # why the request itself is unusable ("" when it parsed and verified)
    common_names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    key_type: str = ""  # rsa, ec, ed25519, ed448

    @property
    def common_name(self) -> str:
        return self.common_names[0] if len(self.common_names) == 1 else ""


def conditions_of(obj: Any) -> Conditions:
    status = obj.status
    found = {c.type for c in (status.conditions or []) if c.status == "True"} if status else set()
    return Conditions(approved=APPROVED in found, denied=DENIED in found, failed=FAILED in found,
                      issued=bool(status and status.certificate))


def read_csr(obj: Any) -> CsrFacts:
    meta, spec = obj.metadata, obj.spec
    base = CsrFacts(
        name=meta.name or "", signer=spec.signerName, resource_version=meta.resourceVersion or "",
        uid=meta.uid or "", username=spec.username or "", groups=tuple(spec.groups or ()),
        extra={k: list(v) for k, v in (spec.extra or {}).items()}, requester_uid=spec.uid or "",
        usages=tuple(spec.usages or ()), expiration_seconds=spec.expirationSeconds,
        conditions=conditions_of(obj))
    try:
        pem = base64.b64decode(spec.request, validate=True)
        request = x509.load_pem_x509_csr(pem)
    except (binascii.Error, ValueError, TypeError):
        return _replace(base, problem="spec.request is not a PEM-encoded PKCS#10 certificate request")
    if not request.is_signature_valid:
        return _replace(base, problem="the request's signature does not verify with its public key "
                                      "(no proof of possession)")
    return _facts(base, request, pem.decode("ascii", "replace"))


def _replace(base: CsrFacts, **changes: Any) -> CsrFacts:
    return dataclasses.replace(base, **changes)


def _facts(base: CsrFacts, request: x509.CertificateSigningRequest, pem: str) -> CsrFacts:
    subject = request.subject
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    except ValueError:
        return _replace(base, problem="the request's extensions cannot be parsed")
    return _replace(
        base, pem=pem,
        common_names=tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)),
        organizations=tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)),
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
        emails=tuple(sans.get_values_for_type(x509.RFC822Name)),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)),
        key_type=_key_type(request.public_key()))


def _key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return "unknown"
