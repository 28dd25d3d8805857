"""Reading certificates and keys for ``check``: names, usages, key matching, chains."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
}
_KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")
_KU_DISPLAY = {"digital_signature": "digitalSignature", "content_commitment": "contentCommitment",
               "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
               "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign"}


@dataclass(frozen=True, slots=True)
class CertInfo:
    cert: x509.Certificate
    subject: str
    issuer: str
    common_name: str
    organizations: tuple[str, ...]
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    key_usage: tuple[str, ...]
    ext_key_usage: tuple[str, ...]
    is_ca: bool
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def sans(self) -> tuple[str, ...]:
        return tuple(f"DNS:{d}" for d in self.dns) + tuple(f"IP:{i}" for i in self.ips)

    @property
    def usages(self) -> tuple[str, ...]:
        return self.key_usage + self.ext_key_usage

    def days_left(self, now: dt.datetime) -> int:
        return (self.not_after - now).days


def load_certs(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (ValueError if there is none)."""
    return x509.load_pem_x509_certificates(data)


def load_private_key(data: bytes) -> PrivateKeyTypes | None:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return None


def _attrs(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(str(a.value) for a in name.get_attributes_for_oid(oid))


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def describe(cert: x509.Certificate) -> CertInfo:
    san = _extension(cert, x509.SubjectAlternativeName)
    dns = tuple(san.get_values_for_type(x509.DNSName)) if isinstance(san, x509.SubjectAlternativeName) else ()
    ips = (tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
           if isinstance(san, x509.SubjectAlternativeName) else ())
    ku = _extension(cert, x509.KeyUsage)
    key_usage: tuple[str, ...] = ()
    if isinstance(ku, x509.KeyUsage):
        key_usage = tuple(_KU_DISPLAY[n] for n in _KU_NAMES if getattr(ku, n))
    eku = _extension(cert, x509.ExtendedKeyUsage)
    ext: tuple[str, ...] = ()
    if isinstance(eku, x509.ExtendedKeyUsage):
        ext = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku)
    bc = _extension(cert, x509.BasicConstraints)
    cn = _attrs(cert.subject, NameOID.COMMON_NAME)
    return CertInfo(cert, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cn[0] if cn else "",
                    _attrs(cert.subject, NameOID.ORGANIZATION_NAME), dns, ips, key_usage, ext,
                    isinstance(bc, x509.BasicConstraints) and bc.ca,
                    cert.not_valid_before_utc, cert.not_valid_after_utc)


def _spki(key: Any) -> bytes:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bytes(der)


def key_matches(cert: x509.Certificate, private_key: PrivateKeyTypes) -> bool:
    return _spki(cert.public_key()) == _spki(private_key.public_key())


def public_key_matches(private_key: PrivateKeyTypes, public_pem: bytes) -> bool:
    """Whether the key's public half is among the PEM public keys of ``public_pem`` (a
    service-account sa.pub holds two while the key pair rotates)."""
    wanted = _spki(private_key.public_key())
    for block in re.findall(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", public_pem, re.S):
        try:
            if _spki(serialization.load_pem_public_key(block)) == wanted:
                return True
        except ValueError:
            continue
    return False


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 anchors: Sequence[x509.Certificate], now: dt.datetime) -> str | None:
    """None if ``leaf`` chains (through ``intermediates``) to one of ``anchors``, each link a
    valid CA at ``now``; else what is wrong. Any certificate in ``anchors`` is trusted, as Go's
    crypto/x509 treats the roots pool."""
    current, seen = leaf, 0
    while seen < 6:
        anchor = next((a for a in anchors if issued_by(current, a)), None)
        if anchor is not None:
            return _issuer_problem(anchor, now)
        step = next((i for i in intermediates if i != current and issued_by(current, i)), None)
        if step is None:
            return f"not signed by any certificate in the CA file (issuer: {current.issuer.rfc4514_string()})"
        problem = _issuer_problem(step, now)
        if problem:
            return problem
        current, seen = step, seen + 1
    return "chain too long"


def _issuer_problem(issuer: x509.Certificate, now: dt.datetime) -> str | None:
    info = describe(issuer)
    if not info.is_ca:
        return f"issuer {info.subject} is not a CA"
    if info.not_after < now:
        return f"issuer {info.subject} expired on {info.not_after:%Y-%m-%d}"
    return None
