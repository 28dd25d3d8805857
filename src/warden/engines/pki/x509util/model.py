"""Plain values the rest of the engine hands in and gets back (no cryptography calls)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


Certificate = x509.Certificate


Crl = x509.CertificateRevocationList


@dataclass(frozen=True, slots=True)
class KeySpec:
    key_type: str
    bits: int = 0

    @property
    def label(self) -> str:
        return f"{self.key_type}-{self.bits}" if self.bits else self.key_type


@dataclass(frozen=True, slots=True)
class Subject:
    common_name: str = ""
    organization: tuple[str, ...] = ()
    ou: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    street_address: tuple[str, ...] = ()
    postal_code: tuple[str, ...] = ()
    serial_number: str = ""
    user_ids: tuple[str, ...] = ()  # UID (0.9.2342.19200300.100.1.1) attributes


@dataclass(frozen=True, slots=True)
class AltNames:
    dns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    other: tuple[tuple[str, str], ...] = ()  # (oid, UTF-8 value)

    def __bool__(self) -> bool:
        return bool(self.dns or self.emails or self.ips or self.uris or self.other)


@dataclass(frozen=True, slots=True)
class AiaUrls:
    issuing_certificates: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    ocsp_servers: tuple[str, ...] = ()
    delta_crl_distribution_points: tuple[str, ...] = ()  # the Freshest CRL extension


@dataclass(frozen=True, slots=True)
class CertSpec:
    """Everything a certificate says, already checked against role and issuer."""

    subject: Subject
    alt_names: AltNames
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool = False
    max_path_length: int | None = None
    key_usage: frozenset[str] = frozenset()
    ext_key_usage: tuple[str, ...] = ()
    policy_identifiers: tuple[str, ...] = ()
    basic_constraints_for_non_ca: bool = False
    permitted_dns_domains: tuple[str, ...] = ()
    urls: AiaUrls = field(default_factory=AiaUrls)
    signature_bits: int = 0
    use_pss: bool = False
    skid: bytes = b""
    # sign-verbatim: the CSR's own subject and extensions, used as they are.
    raw_subject: x509.Name | None = None
    raw_extensions: tuple[x509.Extension[x509.ExtensionType], ...] = ()


@dataclass(frozen=True, slots=True)
class Signer:
    key: PrivateKey
    cert: Certificate | None = None  # None: the certificate signs itself
    key_id: bytes = b""  # the issuer's subject key identifier, when already known


@dataclass(frozen=True, slots=True)
class CsrInfo:
    common_names: tuple[str, ...]
    serial_number: str
    alt_names: AltNames
    key_spec: KeySpec | None
    public_key: PublicKey | None
    signature_valid: bool
    requests_ca: bool
    has_basic_constraints: bool
    has_key_usage: bool
    has_ext_key_usage: bool
    subject: x509.Name
    extensions: tuple[x509.Extension[x509.ExtensionType], ...]


@dataclass(frozen=True, slots=True)
class CertInfo:
    serial: int
    subject: str
    issuer: str
    common_name: str
    alt_names: AltNames
    not_before: float
    not_after: float
    is_ca: bool
    path_length: int | None
    self_issued: bool
    can_sign_crl: bool
    key_spec: KeySpec | None


@dataclass(frozen=True, slots=True)
class OcspQuery:
    serial: int
    name_hash: bytes
    key_hash: bytes
    hash_name: str
    nonce: bytes | None
