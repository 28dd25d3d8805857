"""Checking what a server answered: a fast wrong answer must not win.

Every sampled certificate is parsed and must be signed by the system's CA, be valid now,
carry the names that were asked for and a key of the workload's type; a returned private
key must match it, and a signed CSR's key must be the one in the certificate. A renewed
certificate must be a new one (another serial) for the same name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.items import CertRequest
from bench.keys import KeyType

Extractor = Callable[[str], tuple[str, str]]


@dataclass
class Verdict:
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.checked - len(self.failures)

    def to_dict(self) -> dict[str, object]:
        return {"checked": self.checked, "passed": self.passed, "failures": self.failures[:10]}


def _spki(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_problem(public_key: object, key: KeyType) -> str:
    if key.algo == "ec":
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
            return f"expected a P-256 key, got {type(public_key).__name__}"
    elif not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != key.bits:
        return f"expected an RSA-{key.bits} key"
    return ""


def certificate_problems(cert_pem: str, key_pem: str, ca: x509.Certificate, asked: CertRequest,
                         key: KeyType, *, now: dt.datetime | None = None) -> list[str]:
    """Everything wrong with one returned certificate (empty: it is right)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    problems: list[str] = []
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        problems.append(f"not issued by the CA: {exc or type(exc).__name__}")
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now + dt.timedelta(seconds=5) or now >= cert.not_valid_after_utc:
        problems.append("not valid now")
    cns = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    if cns != [asked.common_name]:
        problems.append(f"common name {cns} != {asked.common_name}")
    try:
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                   .value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = set()
    if not set(asked.dns_names) <= sans:
        problems.append(f"SANs {sorted(sans)} lack {sorted(set(asked.dns_names) - sans)}")
    if problem := key_problem(cert.public_key(), key if not asked.csr_pem else KeyType("ec", 256)):
        problems.append(problem)
    if key_pem:
        private = serialization.load_pem_private_key(key_pem.encode(), None)
        if _spki(private.public_key()) != _spki(cert.public_key()):
            problems.append("the private key does not match the certificate")
    if asked.csr_pem:
        csr = x509.load_pem_x509_csr(asked.csr_pem.encode())
        if _spki(csr.public_key()) != _spki(cert.public_key()):
            problems.append("the certificate's key is not the CSR's")
    return problems


def renewal_problems(cert_pem: str, previous_pem: str) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    previous = x509.load_pem_x509_certificate(previous_pem.encode())
    problems = []
    if cert.serial_number == previous.serial_number:
        problems.append("renewal returned the same serial")
    if cert.not_valid_after_utc < previous.not_valid_after_utc:
        problems.append("renewed certificate expires before the previous one")
    return problems


def verify_samples(samples: Sequence[dict[str, object]], *, extract: Extractor, ca_pem: str,
                   items: Sequence[CertRequest], key: KeyType) -> Verdict:
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    verdict = Verdict()
    for sample in samples:
        verdict.checked += 1
        index = int(sample["index"])  # type: ignore[call-overload]
        try:
            cert_pem, key_pem = extract(str(sample["body"]))
            problems = certificate_problems(cert_pem, key_pem, ca, items[index % len(items)], key)
            if "previous" in sample:
                problems += renewal_problems(cert_pem, extract(str(sample["previous"]))[0])
        except (ValueError, KeyError, TypeError) as exc:
            problems = [f"unreadable answer: {type(exc).__name__}: {exc}"]
        if problems:
            verdict.failures.append(f"#{index}: " + "; ".join(problems))
    return verdict
