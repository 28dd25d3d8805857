"""Issuing one identity through ``<mount>/issue/<role>`` and fetching CA certificates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.kube.identity import Identity
from warden.kube.state import Api, data_of


class IssueError(RuntimeError):
    """Issuing failed; the message says what to do next."""


@dataclass(frozen=True, slots=True)
class Issued:
    identity: Identity
    certificate: str
    private_key: str
    serial_number: str
    expiration: int


def issue_request(ident: Identity, ttl: str = "") -> dict[str, Any]:
    """The body for issue/<role>: exactly the identity's names, the CN only as subject."""
    body: dict[str, Any] = {"common_name": ident.common_name, "exclude_cn_from_sans": True,
                            "format": "pem", "private_key_format": "der", "ttl": ttl or ident.ttl}
    if ident.dns:
        body["alt_names"] = ",".join(ident.dns)
    if ident.ips:
        body["ip_sans"] = ",".join(ident.ips)
    return body


def issue(api: Api, ident: Identity, ttl: str = "") -> Issued:
    path = f"{ident.mount}/issue/{ident.role}"
    data = data_of(api.write(path, issue_request(ident, ttl))) or {}
    cert, key = data.get("certificate"), data.get("private_key")
    if not isinstance(cert, str) or not isinstance(key, str):
        raise IssueError(f"{path} returned no certificate and key")
    return Issued(ident, _pem(cert), _pem(key), str(data.get("serial_number", "")),
                  int(data.get("expiration") or 0))


def ca_chain(api: Api, mount: str) -> str:
    """What a peer of the mount's certificates must trust, as one PEM bundle: the mount's trust
    bundle (old + new CA while it rotates); from a server without one (Vault), the default
    issuer and its issuers."""
    bundle = (data_of(api.read(f"{mount}/cert/trust_bundle")) or {}).get("trust_bundle")
    if isinstance(bundle, list) and bundle:
        return "".join(_pem(str(c)) for c in bundle)
    data = data_of(api.read(f"{mount}/cert/ca_chain")) or {}
    chain = data.get("ca_chain")
    if isinstance(chain, list) and chain:
        return "".join(_pem(str(c)) for c in chain)
    cert = data.get("certificate")
    if isinstance(cert, str) and cert.strip():
        return _pem(cert)
    raise IssueError(f"{mount} has no CA certificate yet: run 'warden k8s bootstrap' (and, for an "
                     "intermediate CA, 'warden k8s import-signed')")


def _pem(text: str) -> str:
    return text.strip() + "\n"
