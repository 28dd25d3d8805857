"""PEM and DER of certificates, CSRs, CRLs and bundles."""

from __future__ import annotations

import base64
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from warden.engines.pki.x509util.keys import load_private_key
from warden.engines.pki.x509util.model import Certificate, Crl, PrivateKey

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


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


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def csr_der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


def load_crl(der: bytes) -> Crl:
    return x509.load_der_x509_crl(der)
