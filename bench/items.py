"""The certificates a run asks for: names, and for signing, a CSR per name."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOMAIN = "bench.local"


@dataclass(frozen=True, slots=True)
class CertRequest:
    """One certificate asked for: the same names go to both systems."""

    common_name: str
    dns_names: tuple[str, ...]
    csr_pem: str = ""
    short_ttl: bool = False


def names_for(index: int) -> tuple[str, tuple[str, ...]]:
    cn = f"agent-{index:05d}.{DOMAIN}"
    return cn, (cn, f"svc-{index:05d}.{DOMAIN}")


def make_csr(common_name: str, dns_names: tuple[str, ...]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def cert_requests(count: int, *, with_csr: bool = False, short_ttl: bool = False) -> list[CertRequest]:
    out = []
    for i in range(count):
        cn, dns = names_for(i)
        out.append(CertRequest(cn, dns, make_csr(cn, dns) if with_csr else "", short_ttl))
    return out
