"""Finding a certificate a template already rendered, so an agent restart does not issue
(and restart a service for) a new one: Vault Agent's ``pkiCert`` behaviour.

The rendered file is searched for PEM blocks, also inside base64 values (a kubeconfig's
``client-certificate-data``). A certificate with the requested common name, its private
key and its issuing CA, not yet due for renewal, is handed back as if just issued.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{100,}={0,2}")
_PUBLIC = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(label, block) for every PEM block, in the text or base64-encoded in it."""
    for match in _PEM.finditer(text):
        yield match.group(1), match.group(0)
    for match in _BASE64.finditer(text):
        try:
            decoded = base64.b64decode(match.group(0), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            continue
        for inner in _PEM.finditer(decoded):
            yield inner.group(1), inner.group(0)


def rendered_certificate(destination: Path, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The issue response's ``data`` rebuilt from the rendered file, or None."""
    try:
        text = destination.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    certs: dict[str, x509.Certificate] = {}
    keys: dict[str, Any] = {}
    for label, block in pem_blocks(text):
        try:
            if label == "CERTIFICATE":
                certs.setdefault(block, x509.load_pem_x509_certificate(block.encode()))
            elif label.endswith("PRIVATE KEY"):
                keys.setdefault(block, serialization.load_pem_private_key(block.encode(), None))
        except (ValueError, TypeError):
            continue
    for block, cert in certs.items():
        if _is_ca(cert) or _common_name(cert) != str(params.get("common_name", "")):
            continue
        public = cert.public_key().public_bytes(*_PUBLIC)
        key = next((k for k, v in keys.items() if v.public_key().public_bytes(*_PUBLIC) == public), None)
        chain = _chain(cert, {b: c for b, c in certs.items() if _is_ca(c)})
        if key is not None and chain:
            return _data(block, cert, key, keys[key], chain)
    return None


def _chain(cert: x509.Certificate, cas: dict[str, x509.Certificate]) -> list[str]:
    """The CA blocks from the issuer upwards, as far as the file has them."""
    chain: list[str] = []
    current = cert
    while len(chain) < len(cas):
        found = next((b for b, c in cas.items() if c.subject == current.issuer and b not in chain), None)
        if found is None:
            break
        chain.append(found)
        current = cas[found]
        if current.subject == current.issuer:
            break
    return chain


def _data(block: str, cert: x509.Certificate, key_pem: str, key: Any, chain: list[str]) -> dict[str, Any]:
    serial = cert.serial_number.to_bytes(20, "big").lstrip(b"\0")
    return {"certificate": block, "private_key": key_pem, "private_key_type": _key_type(key),
            "issuing_ca": chain[0], "ca_chain": chain,
            "serial_number": ":".join(f"{b:02x}" for b in serial),
            "expiration": int(cert.not_valid_after_utc.timestamp())}


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ec"
    return "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else ""
