"""The one module that calls cryptography's builders, key generation and serialization.

Everything else in the engine hands it plain, already-checked values (a CertSpec built
by ``issuing``) and gets certificates, CSRs, CRLs and OCSP responses back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
Certificate = x509.Certificate
Crl = x509.CertificateRevocationList

RSA_BITS = (2048, 3072, 4096, 8192)
_CURVES: dict[int, type[ec.EllipticCurve]] = {
    224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


@dataclass(frozen=True, slots=True)
class KeySpec:
    key_type: str
    bits: int = 0

    @property
    def label(self) -> str:
        return f"{self.key_type}-{self.bits}" if self.bits else self.key_type


def key_spec(key_type: str, bits: int = 0) -> KeySpec:
    """Vault's key_type/key_bits with its defaults; raises ValueError naming what is wrong."""
    if key_type == "rsa":
        bits = bits or 2048
        if bits not in RSA_BITS:
            raise ValueError(f"unsupported key_bits {bits} for rsa keys: use 2048, 3072, 4096 or 8192")
        return KeySpec("rsa", bits)
    if key_type == "ec":
        bits = bits or 256
        if bits not in _CURVES:
            raise ValueError(f"unsupported key_bits {bits} for ec keys: use 224, 256, 384 or 521")
        return KeySpec("ec", bits)
    if key_type == "ed25519":
        return KeySpec("ed25519", 0)
    raise ValueError(f'unsupported key_type "{key_type}": use rsa, ec or ed25519')


def generate_private_key(spec: KeySpec) -> PrivateKey:
    if spec.key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
    if spec.key_type == "ec":
        return ec.generate_private_key(_CURVES[spec.bits]())
    return ed25519.Ed25519PrivateKey.generate()


def spec_of(key: PrivateKey | PublicKey | object) -> KeySpec | None:
    """The KeySpec of a key, or None for a key type warden does not issue for."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return KeySpec("rsa", key.key_size)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return KeySpec("ec", key.curve.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeySpec("ed25519", 0)
    return None


# -- serialization -------------------------------------------------------------------------

def private_key_der(key: PrivateKey, *, pkcs8: bool = False) -> bytes:
    fmt = (serialization.PrivateFormat.PKCS8 if pkcs8 or isinstance(key, ed25519.Ed25519PrivateKey)
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def private_key_pem(key: PrivateKey, *, pkcs8: bool = False) -> str:
    fmt = (serialization.PrivateFormat.PKCS8 if pkcs8 or isinstance(key, ed25519.Ed25519PrivateKey)
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def load_private_key(pem: str) -> PrivateKey:
    """Raises ValueError (never echoing the key) if this is not an unencrypted rsa/ec/ed25519 key."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("only rsa, ec and ed25519 private keys are supported")
    return key


def public_key_id(key: PrivateKey | PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER: equal for a private key and its certificate's public key."""
    pub = key.public_key() if isinstance(key, PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_pem(cert: Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_der(cert: Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def load_certificate(pem: str) -> Certificate:
    certs = load_certificates(pem)
    if len(certs) != 1:
        raise ValueError(f"expected exactly one PEM certificate, found {len(certs)}")
    return certs[0]


def load_certificates(pem: str) -> list[Certificate]:
    try:
        return [x509.load_pem_x509_certificate(m.group(0).encode())
                for m in _PEM_BLOCK.finditer(pem) if m.group(1) == "CERTIFICATE"]
    except ValueError:
        raise ValueError("a PEM CERTIFICATE block could not be parsed") from None


def load_certificate_der(der: bytes) -> Certificate:
    return x509.load_der_x509_certificate(der)


def split_pem_bundle(pem: str) -> tuple[list[PrivateKey], list[Certificate]]:
    """Keys and certificates of a concatenated PEM bundle, in order; other blocks are ignored."""
    keys: list[PrivateKey] = []
    certs: list[Certificate] = []
    for match in _PEM_BLOCK.finditer(pem):
        kind = match.group(1)
        if kind == "CERTIFICATE":
            certs.append(load_certificate(match.group(0)))
        elif kind.endswith("PRIVATE KEY"):
            keys.append(load_private_key(match.group(0)))
    return keys, certs


def crl_der(crl: Crl) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def crl_pem(crl: Crl) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def der_to_pem(der: bytes, label: str) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


# -- what goes into a certificate -----------------------------------------------------------

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


_NAME_ATTRS = (("country", NameOID.COUNTRY_NAME), ("province", NameOID.STATE_OR_PROVINCE_NAME),
               ("locality", NameOID.LOCALITY_NAME), ("street_address", NameOID.STREET_ADDRESS),
               ("postal_code", NameOID.POSTAL_CODE), ("organization", NameOID.ORGANIZATION_NAME),
               ("ou", NameOID.ORGANIZATIONAL_UNIT_NAME))


def build_name(subject: Subject) -> x509.Name:
    """Go's pkix.Name order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER), one value per RDN."""
    attrs = [x509.NameAttribute(oid, value)
             for name, oid in _NAME_ATTRS for value in getattr(subject, name)]
    if subject.common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name))
    if subject.serial_number:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, subject.serial_number))
    return x509.Name(attrs)


def _general_names(names: AltNames) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in names.dns]
    out += [x509.RFC822Name(e) for e in names.emails]
    out += [x509.IPAddress(ipaddress.ip_address(i)) for i in names.ips]
    out += [x509.UniformResourceIdentifier(u) for u in names.uris]
    out += [x509.OtherName(ObjectIdentifier(oid), asn1.UTF8String(value).dump())
            for oid, value in names.other]
    return out


def _hash_for(key: PrivateKey, signature_bits: int) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    return {384: hashes.SHA384(), 512: hashes.SHA512()}.get(signature_bits, hashes.SHA256())


def _rsa_padding(key: PrivateKey, use_pss: bool) -> padding.AsymmetricPadding | None:
    if use_pss and isinstance(key, rsa.RSAPrivateKey):
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return None


def _key_usage(bits: frozenset[str]) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: n in bits for n in names})


def _ski_of(cert: Certificate) -> x509.SubjectKeyIdentifier:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]


def _extensions(spec: CertSpec, public_key: PublicKey, signer: Signer, subject: x509.Name,
                ) -> list[tuple[x509.ExtensionType, bool]]:
    ski = x509.SubjectKeyIdentifier(spec.skid) if spec.skid else x509.SubjectKeyIdentifier.from_public_key(
        public_key)
    if signer.cert is None:
        issuer_ski = ski
    else:
        issuer_ski = x509.SubjectKeyIdentifier(signer.key_id) if signer.key_id else _ski_of(signer.cert)
    exts: list[tuple[x509.ExtensionType, bool]] = []
    if spec.is_ca:
        exts.append((x509.BasicConstraints(ca=True, path_length=spec.max_path_length), True))
    elif spec.basic_constraints_for_non_ca:
        exts.append((x509.BasicConstraints(ca=False, path_length=None), True))
    if spec.key_usage:
        exts.append((_key_usage(spec.key_usage), True))
    if spec.ext_key_usage:
        exts.append((x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in spec.ext_key_usage]), False))
    exts.append((ski, False))
    exts.append((x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None), False))
    if spec.alt_names:
        exts.append((x509.SubjectAlternativeName(_general_names(spec.alt_names)), len(subject) == 0))
    if spec.permitted_dns_domains:
        subtrees = [x509.DNSName(d) for d in spec.permitted_dns_domains]
        exts.append((x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None), True))
    if spec.policy_identifiers:
        policies = [x509.PolicyInformation(ObjectIdentifier(p), None) for p in spec.policy_identifiers]
        exts.append((x509.CertificatePolicies(policies), False))
    exts += _aia_extensions(spec.urls)
    return exts


def _aia_extensions(urls: AiaUrls) -> list[tuple[x509.ExtensionType, bool]]:
    out: list[tuple[x509.ExtensionType, bool]] = []
    access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                     x509.UniformResourceIdentifier(u)) for u in urls.ocsp_servers]
    access += [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                      x509.UniformResourceIdentifier(u)) for u in urls.issuing_certificates]
    if access:
        out.append((x509.AuthorityInformationAccess(access), False))
    if urls.crl_distribution_points:
        points = [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                  for u in urls.crl_distribution_points]
        out.append((x509.CRLDistributionPoints(points), False))
    return out


def sign_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer) -> Certificate:
    return issue_certificate(spec, public_key, signer)[0]


def issue_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer,
                      key: KeySpec | None = None) -> tuple[Certificate, CertInfo]:
    """The signed certificate and its facts (taken from ``spec``: nothing is parsed back)."""
    subject = spec.raw_subject if spec.raw_subject is not None else build_name(spec.subject)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(subject if signer.cert is None else signer.cert.subject)
               .public_key(public_key)
               .serial_number(spec.serial)
               .not_valid_before(spec.not_before)
               .not_valid_after(spec.not_after))
    own = _extensions(spec, public_key, signer, subject)
    taken = {type(ext) for ext, _ in own}
    for ext, critical in own:
        builder = builder.add_extension(ext, critical)
    for raw in spec.raw_extensions:
        if type(raw.value) not in taken and raw.oid not in _NEVER_COPIED:
            builder = builder.add_extension(raw.value, raw.critical)
    cert = builder.sign(signer.key, _hash_for(signer.key, spec.signature_bits),  # type: ignore[arg-type]
                        rsa_padding=_rsa_padding(signer.key, spec.use_pss))
    if spec.raw_subject is not None or spec.raw_extensions:
        return cert, describe(cert)
    return cert, CertInfo(
        serial=spec.serial, subject=subject.rfc4514_string(), issuer="",
        common_name=spec.subject.common_name, alt_names=spec.alt_names,
        not_before=spec.not_before.timestamp(), not_after=spec.not_after.timestamp(),
        is_ca=spec.is_ca, path_length=spec.max_path_length if spec.is_ca else None,
        self_issued=signer.cert is None, can_sign_crl=not spec.key_usage or "crl_sign" in spec.key_usage,
        key_spec=key or spec_of(public_key))


_NEVER_COPIED = {ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                 ExtensionOID.AUTHORITY_INFORMATION_ACCESS, ExtensionOID.CRL_DISTRIBUTION_POINTS}


def resign_self_issued(cert: Certificate, signer: Signer) -> Certificate:
    """The same certificate, issued by ``signer`` instead of itself (cross-signing)."""
    assert signer.cert is not None
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(signer.cert.subject)
               .public_key(cert.public_key()).serial_number(cert.serial_number)  # type: ignore[arg-type]
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc))
    for ext in cert.extensions:
        if ext.oid != ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            builder = builder.add_extension(ext.value, ext.critical)
    aki = x509.AuthorityKeyIdentifier(_ski_of(signer.cert).digest, None, None)
    builder = builder.add_extension(aki, False)
    return builder.sign(signer.key, _hash_for(signer.key, 0))  # type: ignore[arg-type]


def build_csr(subject: Subject, alt_names: AltNames, key: PrivateKey, *,
              add_basic_constraints: bool = False, signature_bits: int = 0,
              use_pss: bool = False) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(build_name(subject))
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(alt_names)), False)
    if add_basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    return builder.sign(key, _hash_for(key, signature_bits),  # type: ignore[arg-type]
                        rsa_padding=_rsa_padding(key, use_pss))


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def csr_der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


# -- reading certificates and CSRs ----------------------------------------------------------

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


def parse_csr(pem: str) -> CsrInfo:
    """A PEM CSR, read; raises ValueError naming what is wrong with it."""
    try:
        csr = x509.load_pem_x509_csr(pem.strip().encode())
        exts = tuple(csr.extensions)
    except ValueError as exc:
        raise ValueError(f"the CSR could not be parsed: {_short(exc)}") from None
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    by_oid = {e.oid: e for e in exts}
    bc = by_oid.get(ExtensionOID.BASIC_CONSTRAINTS)
    san = by_oid.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    return CsrInfo(
        common_names=tuple(str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)),
        serial_number=";".join(str(a.value) for a in csr.subject.get_attributes_for_oid(
            NameOID.SERIAL_NUMBER)),
        alt_names=alt_names_of(san.value if san else None),  # type: ignore[arg-type]
        key_spec=spec_of(public_key) if public_key is not None else None,
        public_key=public_key if isinstance(public_key, PublicKey) else None,
        signature_valid=csr.is_signature_valid,
        requests_ca=bool(bc and bc.value.ca),  # type: ignore[attr-defined]
        has_basic_constraints=bc is not None,
        has_key_usage=ExtensionOID.KEY_USAGE in by_oid,
        has_ext_key_usage=ExtensionOID.EXTENDED_KEY_USAGE in by_oid,
        subject=csr.subject,
        extensions=exts,
    )


def alt_names_of(san: x509.SubjectAlternativeName | None) -> AltNames:
    if san is None:
        return AltNames()
    others = []
    for other in san.get_values_for_type(x509.OtherName):
        value = asn1.load(other.value)
        if not isinstance(value, asn1.UTF8String):
            raise ValueError(f"other SAN {other.type_id.dotted_string} is not a UTF8String")
        others.append((other.type_id.dotted_string, value.native))
    return AltNames(
        dns=tuple(san.get_values_for_type(x509.DNSName)),
        emails=tuple(san.get_values_for_type(x509.RFC822Name)),
        ips=tuple(str(i) for i in san.get_values_for_type(x509.IPAddress)),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
        other=tuple(others),
    )


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


def describe(cert: Certificate) -> CertInfo:
    exts = {e.oid: e.value for e in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    ku = exts.get(ExtensionOID.KEY_USAGE)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        alt = alt_names_of(exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME))  # type: ignore[arg-type]
    except ValueError:
        alt = AltNames()
    return CertInfo(
        serial=cert.serial_number,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(cns[0].value) if cns else "",
        alt_names=alt,
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        is_ca=bool(bc and bc.ca),  # type: ignore[attr-defined]
        path_length=bc.path_length if bc else None,  # type: ignore[attr-defined]
        self_issued=cert.issuer == cert.subject,
        can_sign_crl=ku is None or bool(ku.crl_sign),  # type: ignore[attr-defined]
        key_spec=spec_of(cert.public_key()),
    )


def key_identifier(cert: Certificate) -> bytes:
    """The subject key identifier a certificate's children name in their AKI."""
    return _ski_of(cert).digest


def issued_by(child: Certificate, parent: Certificate) -> bool:
    """Whether ``parent``'s key signed ``child`` (and the names chain)."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


# -- CRLs and OCSP --------------------------------------------------------------------------

def build_crl(signer: Signer, revoked: Sequence[tuple[int, dt.datetime]], *, number: int,
              this_update: dt.datetime, next_update: dt.datetime) -> Crl:
    assert signer.cert is not None
    builder = (x509.CertificateRevocationListBuilder().issuer_name(signer.cert.subject)
               .last_update(this_update).next_update(next_update)
               .add_extension(x509.AuthorityKeyIdentifier(_ski_of(signer.cert).digest, None, None), False)
               .add_extension(x509.CRLNumber(number), False))
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    return builder.sign(signer.key, _hash_for(signer.key, 0))  # type: ignore[arg-type]


def load_crl(der: bytes) -> Crl:
    return x509.load_der_x509_crl(der)


@dataclass(frozen=True, slots=True)
class OcspQuery:
    serial: int
    name_hash: bytes
    key_hash: bytes
    hash_name: str
    nonce: bytes | None


def parse_ocsp_request(der: bytes) -> OcspQuery:
    """One OCSP request (RFC 6960); raises ValueError if it is malformed."""
    try:
        req = ocsp.load_der_ocsp_request(der)
        nonce = None
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                nonce = ext.value.nonce
        return OcspQuery(req.serial_number, req.issuer_name_hash, req.issuer_key_hash,
                         req.hash_algorithm.name, nonce)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"malformed OCSP request: {_short(exc)}") from None


def issuer_matches(cert: Certificate, query: OcspQuery) -> bool:
    if query.hash_name not in hashlib.algorithms_available:
        return False
    name_hash = hashlib.new(query.hash_name, cert.subject.public_bytes()).digest()
    return name_hash == query.name_hash and hashlib.new(
        query.hash_name, _public_key_bits(cert.public_key())).digest() == query.key_hash  # type: ignore[arg-type]


def _public_key_bits(key: PublicKey) -> bytes:
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


OCSP_GOOD, OCSP_REVOKED, OCSP_UNKNOWN = "good", "revoked", "unknown"


def build_ocsp_response(query: OcspQuery, signer: Signer, status: str, *, this_update: dt.datetime,
                        next_update: dt.datetime | None, revoked_at: dt.datetime | None) -> bytes:
    assert signer.cert is not None
    statuses = {OCSP_GOOD: ocsp.OCSPCertStatus.GOOD, OCSP_REVOKED: ocsp.OCSPCertStatus.REVOKED,
                OCSP_UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN}
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                 "sha512": hashes.SHA512()}.get(query.hash_name, hashes.SHA1())  # noqa: S303 (RFC 6960 CertID)
    builder = (ocsp.OCSPResponseBuilder()
               .add_response_by_hash(query.name_hash, query.key_hash, query.serial, algorithm,
                                     statuses[status], this_update, next_update,
                                     revoked_at if status == OCSP_REVOKED else None, None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
               .certificates([signer.cert]))  # lets clients find the signer without extra flags
    if query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), False)
    response = builder.sign(signer.key, _hash_for(signer.key, 0))  # type: ignore[arg-type]
    return response.public_bytes(serialization.Encoding.DER)


def ocsp_failure(status: str) -> bytes:
    code = {"malformed": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
            "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
            "internal": ocsp.OCSPResponseStatus.INTERNAL_ERROR}[status]
    return ocsp.OCSPResponseBuilder.build_unsuccessful(code).public_bytes(serialization.Encoding.DER)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
