"""Verifying the PKCS#7 (CMS SignedData) signature AWS puts on an instance identity document.

Per RFC 5652: with signed attributes, the content-type attribute must be ``data``,
the message-digest attribute must equal the digest of the content, and the
signature covers the DER SET OF the attributes; without them it covers the content.
Signer certificates embedded in the message are ignored: only the certificates an
operator configured are trusted. RSA (PKCS#1 v1.5), DSA and ECDSA signers are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

MAX_PKCS7_CHARS = 64 * 1024
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_PEM_ARMOR = re.compile(r"-----(BEGIN|END) PKCS7-----")


class Pkcs7Error(ValueError):
    """The message is malformed or its signature does not verify; the message says which."""


@dataclass(frozen=True, slots=True)
class _Signer:
    digest: str
    signed_attrs: cms.CMSAttributes | None
    signature_algo: str
    signature_hash: str | None
    signature: bytes


def decode(pkcs7_b64: str) -> bytes:
    """DER bytes from AWS's base64 (line-wrapped, with or without PKCS7 PEM armor)."""
    if len(pkcs7_b64) > MAX_PKCS7_CHARS:
        raise Pkcs7Error("pkcs7 is too large")
    text = "".join(_PEM_ARMOR.sub("", pkcs7_b64).split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Pkcs7Error("pkcs7 is not valid base64") from None


def verified_content(der: bytes, certificates: Sequence[x509.Certificate]) -> bytes:
    """The signed content, if some signer's signature verifies with one of ``certificates``."""
    content, signers = _parse(der)
    for signer in signers:
        for cert in certificates:
            if _verifies(signer, content, cert):
                return content
    raise Pkcs7Error("the signature does not verify against any configured AWS certificate")


def _parse(der: bytes) -> tuple[bytes, list[_Signer]]:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise Pkcs7Error("pkcs7 is not a SignedData message")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise Pkcs7Error("pkcs7 does not sign plain data")
        content = encap["content"].native
        signers = [_signer(s) for s in signed["signer_infos"]]
    except Pkcs7Error:
        raise
    except Exception:  # asn1crypto parses lazily and raises many types on bad input
        raise Pkcs7Error("pkcs7 is not a well-formed PKCS#7 SignedData message") from None
    if not isinstance(content, bytes):
        raise Pkcs7Error("pkcs7 carries no content (detached signatures are not accepted)")
    if not signers:
        raise Pkcs7Error("pkcs7 has no signer")
    return content, signers


def _signer(info: cms.SignerInfo) -> _Signer:
    algorithm = info["signature_algorithm"]
    try:
        signature_hash: str | None = algorithm.hash_algo
    except ValueError:  # bare rsaEncryption / dsa: the hash comes from digest_algorithm
        signature_hash = None
    attrs = info["signed_attrs"]
    return _Signer(
        digest=info["digest_algorithm"]["algorithm"].native,
        signed_attrs=attrs if len(attrs) else None,
        signature_algo=algorithm.signature_algo,
        signature_hash=signature_hash,
        signature=info["signature"].native,
    )


def _verifies(signer: _Signer, content: bytes, cert: x509.Certificate) -> bool:
    hash_cls = _HASHES.get(signer.digest)
    if hash_cls is None or (signer.signature_hash not in (None, signer.digest)):
        return False
    try:
        signed_bytes = _signed_bytes(signer, content, hash_cls)
        return _check_signature(cert, signer, signed_bytes, hash_cls())
    except (InvalidSignature, UnsupportedAlgorithm):
        return False


def _signed_bytes(signer: _Signer, content: bytes, hash_cls: type[hashes.HashAlgorithm]) -> bytes:
    if signer.signed_attrs is None:
        return content
    values = {a["type"].native: a["values"] for a in signer.signed_attrs}
    types, digests = values.get("content_type"), values.get("message_digest")
    if types is None or digests is None or len(types) != 1 or len(digests) != 1:
        raise Pkcs7Error("signed attributes must hold exactly one content-type and message-digest")
    if types[0].native != "data":
        raise Pkcs7Error("the content-type attribute does not match the content")
    h = hashes.Hash(hash_cls())
    h.update(content)
    if not hmac.compare_digest(digests[0].native, h.finalize()):
        raise InvalidSignature()
    # The signature covers the attributes as a DER SET OF, not their [0] IMPLICIT tag.
    encoded: bytes = signer.signed_attrs.dump()
    return b"\x31" + encoded[1:]


def _check_signature(cert: x509.Certificate, signer: _Signer, data: bytes,
                     algorithm: hashes.HashAlgorithm) -> bool:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and signer.signature_algo == "rsassa_pkcs1v15":
        key.verify(signer.signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, dsa.DSAPublicKey) and signer.signature_algo == "dsa":
        key.verify(signer.signature, data, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and signer.signature_algo == "ecdsa":
        key.verify(signer.signature, data, ec.ECDSA(algorithm))
    else:
        return False  # the signer's algorithm does not fit this certificate's key
    return True
