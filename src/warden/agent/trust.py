"""Whether a certificate on disk must be re-issued because its mount's CA is rotating.

The agent reads ``<mount>/cert/trust_bundle`` (a warden extension; a server without it, such
as Vault, answers 404 and nothing happens) every ``trust_check_interval``. It re-issues at
once, which rewrites certificate, key and CA file together and runs the command once, when

- the bundle differs from what its ``ca_file`` holds (a rotation began or finished: the
  peers of this certificate must trust old + new, then only new), or
- the issuer of its certificate no longer issues (the rotation switched) or is no longer
  trusted at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature


@dataclass(frozen=True, slots=True)
class Anchor:
    certificate: x509.Certificate
    issuing: bool


@dataclass(frozen=True, slots=True)
class TrustView:
    bundle: tuple[str, ...]
    anchors: tuple[Anchor, ...]


def parse_view(data: Mapping[str, Any] | None) -> TrustView | None:
    """The ``data`` of cert/trust_bundle; None if there is none (or it is unreadable)."""
    if not data or not isinstance(data.get("trust_bundle"), list):
        return None
    anchors = []
    for issuer in data.get("issuers") or ():
        try:
            cert = x509.load_pem_x509_certificate(str(issuer["certificate"]).encode())
        except (KeyError, TypeError, ValueError):
            return None
        anchors.append(Anchor(cert, bool(issuer.get("issuing"))))
    return TrustView(tuple(str(p) for p in data["trust_bundle"]), tuple(anchors))


def joined(pems: Sequence[str]) -> str:
    return "".join(p.strip() + "\n" for p in pems if p.strip())


def _issued_by(leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    if leaf.issuer != issuer.subject:
        return False
    try:
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def reissue_reason(view: TrustView, cert_pem: bytes | None, ca_file_pem: bytes | None) -> str:
    """Why the certificate must be re-issued now ("" if it need not). ``ca_file_pem`` is None
    when the block writes no CA file."""
    if ca_file_pem is not None and ca_file_pem.decode(errors="replace") != joined(view.bundle):
        return "the mount's trust bundle changed (its CA is rotating)"
    if cert_pem is None or not view.anchors:
        return ""
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return ""
    signer = next((a for a in view.anchors if _issued_by(leaf, a.certificate)), None)
    if signer is None:
        return "its issuer is no longer in the mount's trust bundle"
    if not signer.issuing:
        return "its issuer no longer issues (the mount's CA switched)"
    return ""
