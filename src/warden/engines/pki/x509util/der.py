"""Leaf certificates encoded directly in DER, for the issue/sign hot path.

cryptography's ``CertificateBuilder`` turns a dozen Python extension objects into DER on
every call, which costs several times the signature itself. A leaf certificate of a role
has a fixed shape (RFC 5280 section 4.1), so ``leaf_certificate`` writes its
TBSCertificate directly, byte for byte what the builder writes for the same input (a
property test holds the two to that), and signs it with the issuer's key through
cryptography. Anything outside that shape (CA certificates, self-signed ones, RSA-PSS,
other-name SANs, policies, name constraints, verbatim CSR extensions, encipher/decipher
only) returns None and the builder is used.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from warden.engines.pki.x509util.model import AiaUrls, AltNames, CertSpec, PublicKey, Signer

SEQUENCE, _SET, _OCTETS, BIT_STRING, _INTEGER, _OID = 0x30, 0x31, 0x04, 0x03, 0x02, 0x06
_CRITICAL: Final = b"\x01\x01\xff"
_VERSION_3: Final = b"\xa0\x03\x02\x01\x02"
_GENERAL_DNS, _GENERAL_EMAIL, _GENERAL_URI, _GENERAL_IP = 0x82, 0x81, 0x86, 0x87
_KEY_USAGE_BITS: Final = ("digital_signature", "content_commitment", "key_encipherment",
                          "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
_UNSUPPORTED_USAGES: Final = frozenset({"encipher_only", "decipher_only"})


@functools.lru_cache(maxsize=256)
def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER's DER (tag and length included); a role's few are kept."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(_OID, bytes(body))


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def integer(value: int) -> bytes:
    """A non-negative INTEGER (a leading zero byte keeps the top bit clear)."""
    return tlv(_INTEGER, value.to_bytes((value.bit_length() + 8) // 8, "big"))


def time_der(when: dt.datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5), whole seconds."""
    t = when.astimezone(dt.UTC) if when.tzinfo else when
    clock = f"{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z".encode()
    if 1950 <= t.year < 2050:
        return tlv(0x17, b"%02d" % (t.year % 100) + clock)
    return tlv(0x18, b"%04d" % t.year + clock)


_EXT_BASIC_CONSTRAINTS: Final = oid("2.5.29.19")
_EXT_KEY_USAGE: Final = oid("2.5.29.15")
_EXT_EXT_KEY_USAGE: Final = oid("2.5.29.37")
_EXT_SKI: Final = oid("2.5.29.14")
_EXT_AKI: Final = oid("2.5.29.35")
_EXT_SAN: Final = oid("2.5.29.17")
_EXT_AIA: Final = oid("1.3.6.1.5.5.7.1.1")
_EXT_CRL_DP: Final = oid("2.5.29.31")
_EXT_FRESHEST_CRL: Final = oid("2.5.29.46")
_AIA_OCSP: Final = oid("1.3.6.1.5.5.7.48.1")
_AIA_CA_ISSUERS: Final = oid("1.3.6.1.5.5.7.48.2")
_ECDSA_WITH: Final = {"sha256": oid("1.2.840.10045.4.3.2"), "sha384": oid("1.2.840.10045.4.3.3"),
                      "sha512": oid("1.2.840.10045.4.3.4")}
_RSA_WITH: Final = {"sha256": oid("1.2.840.113549.1.1.11"), "sha384": oid("1.2.840.113549.1.1.12"),
                    "sha512": oid("1.2.840.113549.1.1.13")}
_NULL: Final = b"\x05\x00"
_ED25519: Final = oid("1.3.101.112")


def extension(ext_oid: bytes, value: bytes, critical: bool = False) -> bytes:
    return tlv(SEQUENCE, ext_oid + (_CRITICAL if critical else b"") + tlv(_OCTETS, value))


def _key_usage(bits: frozenset[str]) -> bytes:
    flags = 0
    for index, name in enumerate(_KEY_USAGE_BITS):
        if name in bits:
            flags |= 0x80 >> index
    if not flags:
        return tlv(BIT_STRING, b"\x00")
    unused = (flags & -flags).bit_length() - 1  # trailing zero bits are dropped (DER)
    return tlv(BIT_STRING, bytes((unused, flags)))


def _general_names(names: AltNames) -> bytes | None:
    out = []
    for tag, values in ((_GENERAL_DNS, names.dns), (_GENERAL_EMAIL, names.emails)):
        for value in values:
            if not value.isascii():
                return None  # the builder says what is wrong with it
            out.append(tlv(tag, value.encode()))
    out += [tlv(_GENERAL_IP, ipaddress.ip_address(i).packed) for i in names.ips]
    for uri in names.uris:
        if not uri.isascii():
            return None
        out.append(tlv(_GENERAL_URI, uri.encode()))
    return b"".join(out)


def _aia(urls: AiaUrls) -> bytes:
    access = [tlv(SEQUENCE, _AIA_OCSP + tlv(_GENERAL_URI, u.encode())) for u in urls.ocsp_servers]
    access += [tlv(SEQUENCE, _AIA_CA_ISSUERS + tlv(_GENERAL_URI, u.encode()))
               for u in urls.issuing_certificates]
    return tlv(SEQUENCE, b"".join(access))


def crl_points(urls: tuple[str, ...]) -> bytes:
    """CRLDistributionPoints (also FreshestCRL's syntax): one full-name URI point each."""
    points = [tlv(SEQUENCE, tlv(0xA0, tlv(0xA0, tlv(_GENERAL_URI, u.encode())))) for u in urls]
    return tlv(SEQUENCE, b"".join(points))


def _spki_key_id(spki: bytes) -> bytes:
    """RFC 5280's method 1: SHA-1 of the subjectPublicKey BIT STRING's bits."""
    pos = 1 + _length_size(spki, 1)  # inside the SubjectPublicKeyInfo SEQUENCE
    pos += 1 + _length_size(spki, pos + 1) + _read_length(spki, pos + 1)  # past the algorithm
    start = pos + 1 + _length_size(spki, pos + 1)
    return hashlib.sha1(spki[start + 1:], usedforsecurity=False).digest()


def _length_size(der: bytes, pos: int) -> int:
    first = der[pos]
    return 1 if first < 0x80 else 1 + (first & 0x7F)


def _read_length(der: bytes, pos: int) -> int:
    first = der[pos]
    if first < 0x80:
        return first
    size = first & 0x7F
    return int.from_bytes(der[pos + 1:pos + 1 + size], "big")


Algorithm = tuple[bytes, hashes.HashAlgorithm | None]


def signature_algorithm(signer: Signer, signature_bits: int) -> Algorithm | None:
    """The signatureAlgorithm's DER and the hash to sign with (None for Ed25519)."""
    key = signer.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        name = "sha512" if size > 384 else "sha384" if size > 256 else "sha256"
        algorithm: hashes.HashAlgorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                                          "sha512": hashes.SHA512()}[name]
        return tlv(SEQUENCE, _ECDSA_WITH[name]), algorithm
    if isinstance(key, rsa.RSAPrivateKey):
        name = {384: "sha384", 512: "sha512"}.get(signature_bits, "sha256")
        algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                     "sha512": hashes.SHA512()}[name]
        return tlv(SEQUENCE, _RSA_WITH[name] + _NULL), algorithm
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return tlv(SEQUENCE, _ED25519), None
    return None


def sign(signer: Signer, tbs: bytes, algorithm: hashes.HashAlgorithm | None) -> bytes:
    key = signer.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert algorithm is not None
        return key.sign(tbs, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        assert algorithm is not None
        return key.sign(tbs, padding.PKCS1v15(), algorithm)
    return key.sign(tbs)


def supported(spec: CertSpec, signer: Signer) -> bool:
    return (signer.cert is not None and 0 < spec.serial < 2**159 and not spec.is_ca and not spec.use_pss
            and spec.raw_subject is None and not spec.raw_extensions and not spec.alt_names.other
            and not spec.policy_identifiers and not spec.permitted_dns_domains
            and not spec.key_usage & _UNSUPPORTED_USAGES)


def tbs_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer, subject: x509.Name,
                    algorithm_der: bytes) -> bytes | None:
    """The TBSCertificate the builder would write, or None (use the builder)."""
    assert signer.cert is not None
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = spec.skid or _spki_key_id(spki)
    issuer_key_id = signer.key_id or x509.SubjectKeyIdentifier.from_public_key(
        signer.cert.public_key()).digest
    exts = []
    if spec.basic_constraints_for_non_ca:
        exts.append(extension(_EXT_BASIC_CONSTRAINTS, tlv(SEQUENCE, b""), critical=True))
    if spec.key_usage:
        exts.append(extension(_EXT_KEY_USAGE, _key_usage(spec.key_usage), critical=True))
    if spec.ext_key_usage:
        exts.append(extension(_EXT_EXT_KEY_USAGE,
                               tlv(SEQUENCE, b"".join(oid(o) for o in spec.ext_key_usage))))
    exts.append(extension(_EXT_SKI, tlv(_OCTETS, key_id)))
    exts.append(extension(_EXT_AKI, tlv(SEQUENCE, tlv(0x80, issuer_key_id))))
    if spec.alt_names:
        names = _general_names(spec.alt_names)
        if names is None:
            return None
        exts.append(extension(_EXT_SAN, tlv(SEQUENCE, names), critical=len(subject) == 0))
    urls = spec.urls
    if urls.ocsp_servers or urls.issuing_certificates:
        exts.append(extension(_EXT_AIA, _aia(urls)))
    if urls.crl_distribution_points:
        exts.append(extension(_EXT_CRL_DP, crl_points(urls.crl_distribution_points)))
    if urls.delta_crl_distribution_points:
        exts.append(extension(_EXT_FRESHEST_CRL, crl_points(urls.delta_crl_distribution_points)))
    if not all(u.isascii() for u in (*urls.ocsp_servers, *urls.issuing_certificates,
                                     *urls.crl_distribution_points, *urls.delta_crl_distribution_points)):
        return None
    return tlv(SEQUENCE, b"".join((
        _VERSION_3, integer(spec.serial), algorithm_der,
        signer.cert.subject.public_bytes(),
        tlv(SEQUENCE, time_der(spec.not_before) + time_der(spec.not_after)),
        subject.public_bytes(), spki, tlv(0xA3, tlv(SEQUENCE, b"".join(exts))),
    )))


def leaf_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer,
                     subject: x509.Name) -> x509.Certificate | None:
    """The signed leaf, or None when ``spec`` needs the builder (see the module docstring)."""
    if not supported(spec, signer):
        return None
    algorithm = signature_algorithm(signer, spec.signature_bits)
    if algorithm is None:
        return None
    algorithm_der, digest = algorithm
    tbs = tbs_certificate(spec, public_key, signer, subject, algorithm_der)
    if tbs is None:
        return None
    signature = sign(signer, tbs, digest)
    der = tlv(SEQUENCE, tbs + algorithm_der + tlv(BIT_STRING, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)
