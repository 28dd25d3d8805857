"""What a peer needs besides the leaf, from a warden ``issue``/``sign`` answer: the CA
certificates of ``ca_chain`` and ``issuing_ca`` without self-signed roots (a peer trusts
the root through its own bundle; sending it along proves nothing)."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from warden.api import JsonDict


def intermediates(data: JsonDict) -> list[str]:
    out = []
    for pem in [*(data.get("ca_chain") or []), data.get("issuing_ca") or ""]:
        if not isinstance(pem, str) or not pem.strip():
            continue
        cert: Any = x509.load_pem_x509_certificate(pem.encode())
        if cert.issuer != cert.subject:
            out.append(pem)
    return out


def leaf_and_intermediates(leaf_pem: str, data: JsonDict) -> str:
    """The PEM chain a signer hands out: the leaf, then the intermediates, each once."""
    chain = [leaf_pem.strip(), *(c.strip() for c in intermediates(data))]
    return "\n".join(dict.fromkeys(chain)) + "\n"
