"""Issuing a pod certificate through warden's PKI (``<mount>/sign/<role>``), so it is stored,
audited, in the CRL and OCSP like every other certificate.

The kubelet's stub PKCS#10 request goes in for its key only: the role must take neither
the CN nor the SANs from a CSR (``use_csr_common_name=false``, ``use_csr_sans=false``),
so the names are exactly the ones this signer computed and the role then allows or not.

Lifetimes follow the PodCertificateRequest rules: at least 1 h, at most
``spec.maxExpirationSeconds``, counted from notBefore (which warden backdates by the
role's ``not_before_duration``), and capped by the role's ``max_ttl``.
``beginRefreshAt`` is about 2/3 into the lifetime (jittered, and inside the
[notBefore + 10 min, notAfter - 10 min] window the apiserver demands).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from warden.api import AsyncClient, JsonDict
from warden.controllers.chains import leaf_and_intermediates
from warden.controllers.podcert.identity import Identity, Refusal, failed
from warden.controllers.podcert.request import KeyInfo, PcrFacts
from warden.controllers.podcert.settings import PodSignerSettings
from warden.controllers.roles import RoleProblem, read_role

MIN_LIFETIME = 3600
REFRESH_WINDOW = 600
REFRESH_AT = (0.633, 0.7)  # of the lifetime, jittered around 2/3
KEY_BITS_FLOOR = {"rsa": 2048, "ec": 224}


@dataclass(frozen=True, slots=True)
class PodRole:
    """What the signer needs to know of its role (read once per leadership term)."""

    key_type: str
    key_bits: int
    max_ttl: int
    backdate: int

    @classmethod
    async def load(cls, api: AsyncClient, signer: PodSignerSettings) -> PodRole:
        data = await read_role(api, who=f"pod certificate signer {signer.signer_name}",
                               role_path=signer.role_path, sign_path=signer.sign_path,
                               bootstrap_flag="-pod-certificates")
        role = cls(str(data.get("key_type") or "rsa"), int(data.get("key_bits") or 0),
                   int(data.get("max_ttl") or 0), int(data.get("not_before_duration") or 0))
        role.check(signer, data)
        return role

    def check(self, signer: PodSignerSettings, data: JsonDict) -> None:
        where = f"pod certificate signer {signer.signer_name}: role {signer.role_path}"
        copied = [k for k in ("use_csr_common_name", "use_csr_sans") if data.get(k, True)]
        if copied:
            raise RoleProblem(f"{where} takes names from the CSR ({', '.join(copied)}); a pod's names come "
                              f"from the request only: set {'=false '.join(copied)}=false")
        if data.get("require_cn", True):
            raise RoleProblem(f"{where} requires a common name; pod certificates have none: set "
                              "require_cn=false")
        if signer.uri_sans and not data.get("allowed_uri_sans"):
            raise RoleProblem(f"{where} allows no URI SANs; set allowed_uri_sans, e.g. "
                              f"\"spiffe://{signer.trust_domain}/*\"")
        if 0 < self.max_ttl < MIN_LIFETIME + self.backdate:
            raise RoleProblem(f"{where} has max_ttl {self.max_ttl}s; pod certificates live at least "
                              f"{MIN_LIFETIME}s (plus the role's not_before_duration of {self.backdate}s)")

    def refuses_key(self, key: KeyInfo) -> Refusal | None:
        """UnsupportedKeyType when the role would refuse the key, with a key type that works."""
        floor = max(KEY_BITS_FLOOR.get(key.key_type, 0),
                    self.key_bits if self.key_type == key.key_type else 0)
        if self.key_type not in ("any", key.key_type) or key.bits < floor:
            suggestion = {"ec": "ECDSAP256", "ed25519": "ED25519"}.get(self.key_type, "RSA3072")
            if self.key_type == "ec" and self.key_bits > 256:
                suggestion = f"ECDSAP{self.key_bits}"
            return Refusal("UnsupportedKeyType", f"this signer does not issue to {key.kube_name} keys; set "
                                                 f"keyType: {suggestion} in the podCertificate projection")
        return None

    def lifetime(self, facts: PcrFacts) -> int | Refusal:
        """Seconds from notBefore to notAfter: maxExpirationSeconds, capped by the role."""
        lifetime = min(facts.max_expiration, self.max_ttl + self.backdate) if self.max_ttl else \
            facts.max_expiration
        if lifetime < MIN_LIFETIME:
            return failed("LifetimeTooShort", f"the role allows {lifetime}s; a pod certificate lives at "
                                              f"least {MIN_LIFETIME}s")
        return lifetime


@dataclass(frozen=True, slots=True)
class IssuedCert:
    chain: str  # PEM: leaf, then intermediates (never a self-signed root)
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def lifetime(self) -> float:
        return (self.not_after - self.not_before).total_seconds()

    def begin_refresh_at(self, fraction: float) -> dt.datetime:
        lifetime = self.lifetime
        at = self.not_before + dt.timedelta(seconds=int(lifetime * fraction))
        low = self.not_before + dt.timedelta(seconds=REFRESH_WINDOW)
        high = self.not_after - dt.timedelta(seconds=REFRESH_WINDOW)
        return min(max(at, low), high)


def sign_request(facts: PcrFacts, identity: Identity, lifetime: int, backdate: int) -> JsonDict:
    body: JsonDict = {"csr": facts.csr_pem, "format": "pem", "ttl": f"{lifetime - backdate}s",
                      "exclude_cn_from_sans": True}
    if identity.uris:
        body["uri_sans"] = ",".join(identity.uris)
    if identity.dns_names:
        body["alt_names"] = ",".join(identity.dns_names)
    return body


async def sign(api: AsyncClient, signer: PodSignerSettings, body: JsonDict) -> IssuedCert:
    answer = await api.write(signer.sign_path, body)
    return issued_from(signer.sign_path, (answer or {}).get("data") or {})


def issued_from(path: str, data: JsonDict) -> IssuedCert:
    leaf_pem = str(data.get("certificate") or "")
    if not leaf_pem:
        raise RuntimeError(f"{path} answered without a certificate")
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    return IssuedCert(leaf_and_intermediates(leaf_pem, data), str(data.get("serial_number") or ""),
                      leaf.not_valid_before_utc, leaf.not_valid_after_utc)


def out_of_bounds(cert: IssuedCert, facts: PcrFacts) -> Refusal | None:
    """What the apiserver would refuse about this certificate's lifetime."""
    if cert.lifetime < MIN_LIFETIME:
        return failed("LifetimeTooShort", f"warden issued a certificate living {int(cert.lifetime)}s "
                                          f"(under {MIN_LIFETIME}s): check the mount's max_lease_ttl and the "
                                          "CA's expiry")
    if cert.lifetime > facts.max_expiration:
        return failed("LifetimeTooLong", f"warden issued a certificate living {int(cert.lifetime)}s, more "
                                         f"than maxExpirationSeconds {facts.max_expiration}")
    return None
