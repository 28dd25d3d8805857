"""Signing through warden's PKI over HTTP, so every certificate is stored, audited, in the
CRL and OCSP like any other: ``<mount>/sign/<role>`` or ``<mount>/sign-verbatim/<role>``.

Before anything is signed, ``RoleGrant.load`` reads the role once per leadership term: a
role that is missing, lets certificates live less than the 600 s Kubernetes promises, or
grants a built-in signer a usage it never has (a kubelet client role with server auth)
stops the controller with a message saying what to fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from warden.api import AsyncClient, JsonDict
from warden.controllers.chains import leaf_and_intermediates
from warden.controllers.csr import rules
from warden.controllers.csr.request import CsrFacts
from warden.controllers.csr.settings import VERBATIM, SignerSettings
from warden.controllers.roles import RoleProblem, read_role

MIN_EXPIRATION = 600  # certificates.k8s.io/v1: spec.expirationSeconds >= 600


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """What a role puts into a certificate, as far as the signer checks it."""

    ext_key_usages: frozenset[str]
    max_ttl: int

    @classmethod
    async def load(cls, api: AsyncClient, signer: SignerSettings) -> RoleGrant:
        data = await read_role(api, who=f"signer {signer.signer_name}", role_path=signer.role_path,
                               sign_path=signer.sign_path, bootstrap_flag="-kubelet-signer")
        grant = cls(_role_ekus(data), int(data.get("max_ttl") or 0))
        grant.check(signer)
        return grant

    def check(self, signer: SignerSettings) -> None:
        if 0 < self.max_ttl < MIN_EXPIRATION:
            raise RoleProblem(f"signer {signer.signer_name}: role {signer.role_path} has max_ttl "
                              f"{self.max_ttl}s; Kubernetes certificates live at least {MIN_EXPIRATION}s")
        allowed = rules.SIGNER_EXT_USAGES.get(signer.signer_name)
        if allowed is not None and signer.method != VERBATIM and not self.ext_key_usages <= allowed:
            extra = ", ".join(sorted(self.ext_key_usages - allowed))
            raise RoleProblem(f"signer {signer.signer_name}: role {signer.role_path} grants {extra}, "
                              f"which this signer never issues; allow only {', '.join(sorted(allowed))}")

    def refuses(self, signer: SignerSettings, facts: CsrFacts) -> rules.Violation | None:
        """A requested extended usage the role does not grant (``sign`` method only)."""
        if signer.method == VERBATIM:
            return None
        _, wanted = rules.warden_usages(facts.usages)
        missing = sorted(set(wanted) - self.ext_key_usages - {"Any"})
        if missing:
            granted = f"is not granted by role {signer.role_path}"
            return rules.Violation("usages", f"{', '.join(missing)} {granted}")
        return None


def _role_ekus(data: JsonDict) -> frozenset[str]:
    flags = {"server_flag": "ServerAuth", "client_flag": "ClientAuth", "code_signing_flag": "CodeSigning",
             "email_protection_flag": "EmailProtection"}
    found = {eku for flag, eku in flags.items() if data.get(flag)}
    found.update(str(e) for e in data.get("ext_key_usage") or ())
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Signed:
    pem: str  # leaf, then the intermediates (never a self-signed root)
    serial: str
    not_after: dt.datetime


def sign_request(signer: SignerSettings, facts: CsrFacts) -> JsonDict:
    body: JsonDict = {"csr": facts.pem, "format": "pem"}
    if facts.expiration_seconds is not None:
        body["ttl"] = f"{max(MIN_EXPIRATION, facts.expiration_seconds)}s"
    if signer.method == VERBATIM:
        body["key_usage"], body["ext_key_usage"] = rules.warden_usages(facts.usages)
    else:
        body["exclude_cn_from_sans"] = True
    return body


async def sign(api: AsyncClient, signer: SignerSettings, facts: CsrFacts) -> Signed:
    body = await api.write(signer.sign_path, sign_request(signer, facts))
    data: JsonDict = (body or {}).get("data") or {}
    leaf = str(data.get("certificate") or "")
    if not leaf:
        raise RuntimeError(f"{signer.sign_path} answered without a certificate")
    cert = x509.load_pem_x509_certificate(leaf.encode())
    return Signed(leaf_and_intermediates(leaf, data), str(data.get("serial_number") or ""),
                  cert.not_valid_after_utc)
