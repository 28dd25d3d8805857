"""Who a pod certificate names, and whether this signer gives it out.

The identity is computed from the request as the apiserver checked it (its namespace, the
pod's service account and name), never from anything the pod or its stub CSR claims: the
stub's subject and SANs are ignored (the role must not copy them, see ``signing``).

``admit`` applies the signer block's own policy (``allowed_namespaces``,
``allowed_service_accounts``, unknown user annotations, the request's encoding);
``identity_of`` renders the URI and DNS templates. Both return a ``Refusal`` (a condition
reason and message) instead of raising.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from warden.controllers.podcert.request import DENIED, FAILED, PcrFacts
from warden.controllers.podcert.settings import TEMPLATE_VAR, PodSignerSettings

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A terminal answer: ``Denied`` (this signer will never issue it) or ``Failed``."""

    reason: str  # CamelCase, as metav1.Condition wants
    message: str
    condition: str = DENIED


def failed(reason: str, message: str) -> Refusal:
    return Refusal(reason, message, FAILED)


@dataclass(frozen=True, slots=True)
class Identity:
    uris: tuple[str, ...]
    dns_names: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join([*self.uris, *self.dns_names])


def _matches(globs: tuple[str, ...], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, g) for g in globs)


def admit(signer: PodSignerSettings, facts: PcrFacts) -> Refusal | None:
    """The signer block's policy, before anything else is looked at."""
    if not _matches(signer.allowed_namespaces, facts.namespace):
        return Refusal("NamespaceNotAllowed", f"signer {signer.signer_name} does not issue to namespace "
                                              f"{facts.namespace} (allowed_namespaces: "
                                              f"{', '.join(signer.allowed_namespaces)})")
    account = f"{facts.namespace}/{facts.service_account}"
    if not _matches(signer.allowed_service_accounts, account):
        return Refusal("ServiceAccountNotAllowed", f"signer {signer.signer_name} does not issue to service "
                                                   f"account {account} (allowed_service_accounts: "
                                                   f"{', '.join(signer.allowed_service_accounts)})")
    if facts.user_annotations:
        keys = ", ".join(sorted(facts.user_annotations))
        return Refusal("UnsupportedUserAnnotations", f"this signer reads no user annotations; remove {keys} "
                                                     "from the podCertificate projection")
    if facts.legacy:
        return Refusal("StubPKCS10RequestRequired",
                       "warden signs a PKCS#10 request: this request carries only pkixPublicKey and "
                       "proofOfPossession (a kubelet older than v1.36); upgrade the kubelet")
    if facts.problem:
        return Refusal("InvalidRequest", facts.problem)
    if facts.key is None:
        return Refusal("UnsupportedKeyType", "the stub request's public key is not RSA, ECDSA or Ed25519; "
                                             "use keyType ECDSAP256")
    return None


def identity_of(signer: PodSignerSettings, facts: PcrFacts) -> Identity | Refusal:
    values = {"namespace": facts.namespace, "service_account": facts.service_account, "pod": facts.pod_name,
              "trust_domain": signer.trust_domain}
    uris = tuple(_render(t, values) for t in signer.uri_sans)
    dns: list[str] = []
    for template in signer.dns_names:
        for variable in TEMPLATE_VAR.findall(template):
            value = values[variable]
            if variable != "trust_domain" and not _DNS_LABEL.match(value):
                return Refusal("InvalidIdentity", f"{variable} {value!r} is not a single DNS label, so it "
                                                  f"cannot go into the DNS name {template!r}")
        dns.append(_render(template, values).lower())
    return Identity(tuple(dict.fromkeys(uris)), tuple(dict.fromkeys(dns)))


def _render(template: str, values: dict[str, str]) -> str:
    return TEMPLATE_VAR.sub(lambda m: values[m.group(1)], template)
