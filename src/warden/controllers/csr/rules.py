"""What each signerName allows, from the Kubernetes signer table (and kube-controller-
manager's ``ValidateKubeletClientCSR``/``ValidateKubeletServingCSR``).

``violation(signer, facts)`` returns the first broken rule (its name and what is wrong),
or None. A signer never signs a request that breaks a rule: it marks it Failed with
reason ``SignerValidationFailure`` and this message. Custom signerNames (not
``kubernetes.io/...``) get the generic checks only; their role decides the rest.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from warden.controllers.csr.request import CsrFacts

KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
BUILT_IN = frozenset({KUBELET_CLIENT, KUBELET_SERVING, APISERVER_CLIENT, LEGACY_UNKNOWN})
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
MASTERS_GROUP = "system:masters"

DS, KE, SERVER, CLIENT = "digital signature", "key encipherment", "server auth", "client auth"

# certificates.k8s.io/v1 KeyUsage values -> (kind, warden's name); "signing" is digital signature
KEY_USAGES = {
    "signing": "DigitalSignature", DS: "DigitalSignature", "content commitment": "ContentCommitment",
    KE: "KeyEncipherment", "key agreement": "KeyAgreement", "data encipherment": "DataEncipherment",
    "cert sign": "CertSign", "crl sign": "CRLSign", "encipher only": "EncipherOnly",
    "decipher only": "DecipherOnly",
}
EXT_KEY_USAGES = {
    "any": "Any", SERVER: "ServerAuth", CLIENT: "ClientAuth", "code signing": "CodeSigning",
    "email protection": "EmailProtection", "s/mime": "EmailProtection", "ipsec end system": "IPSECEndSystem",
    "ipsec tunnel": "IPSECTunnel", "ipsec user": "IPSECUser", "timestamping": "TimeStamping",
    "ocsp signing": "OCSPSigning", "microsoft sgc": "MicrosoftServerGatedCrypto",
    "netscape sgc": "NetscapeServerGatedCrypto",
}

KUBELET_CLIENT_USAGES = (frozenset({DS, KE, CLIENT}), frozenset({DS, CLIENT}))
KUBELET_SERVING_USAGES = (frozenset({DS, KE, SERVER}), frozenset({DS, SERVER}))
APISERVER_CLIENT_ALLOWED = frozenset({DS, KE, CLIENT})
# What a role may grant for each built-in signer (its EKUs), checked when the controller starts.
SIGNER_EXT_USAGES = {KUBELET_CLIENT: frozenset({"ClientAuth"}), KUBELET_SERVING: frozenset({"ServerAuth"}),
                     APISERVER_CLIENT: frozenset({"ClientAuth"})}


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def is_built_in(signer: str) -> bool:
    return signer.startswith("kubernetes.io/")


def violation(signer: str, facts: CsrFacts) -> Violation | None:
    """The first rule ``facts`` breaks for ``signer``; None when it may be signed."""
    if facts.problem:
        return Violation("request", facts.problem)
    unknown = [u for u in facts.usages if u not in KEY_USAGES and u not in EXT_KEY_USAGES]
    if unknown:
        return Violation("usages", f"unknown usage {unknown[0]!r}")
    if "cert sign" in facts.usages or "crl sign" in facts.usages:
        return Violation("usages", "a CSR signer never issues CA certificates (cert sign, crl sign)")
    if len(facts.common_names) > 1:
        return Violation("subject", "the subject has more than one common name")
    if signer == KUBELET_CLIENT:
        return _kubelet_client(facts)
    if signer == KUBELET_SERVING:
        return _kubelet_serving(facts)
    if signer == APISERVER_CLIENT:
        return _apiserver_client(facts)
    if signer == LEGACY_UNKNOWN:
        return Violation("signerName", f"{LEGACY_UNKNOWN} is never signed in certificates.k8s.io/v1")
    return None


def _node_subject(facts: CsrFacts) -> Violation | None:
    if list(facts.organizations) != [NODES_GROUP]:
        return Violation("subject", f"organization must be exactly [{NODES_GROUP}], "
                                    f"not {list(facts.organizations)}")
    if not facts.common_name.startswith(NODE_PREFIX) or facts.common_name == NODE_PREFIX:
        return Violation("subject", f"common name {facts.common_name!r} is not {NODE_PREFIX}<nodeName>")
    return None


def _usages(facts: CsrFacts, allowed: Collection[frozenset[str]]) -> Violation | None:
    if frozenset(facts.usages) in allowed and len(set(facts.usages)) == len(facts.usages):
        return None
    options = " or ".join("[" + ", ".join(sorted(a)) + "]" for a in allowed)
    return Violation("usages", f"usages {sorted(facts.usages)} are not {options}")


def _kubelet_client(facts: CsrFacts) -> Violation | None:
    found = _node_subject(facts)
    if found:
        return found
    for what, values in (("DNS", facts.dns_names), ("IP", facts.ip_addresses), ("e-mail", facts.emails),
                         ("URI", facts.uris)):
        if values:
            return Violation("subjectAltName", f"a kubelet client certificate carries no SANs; "
                                               f"found {what} {values[0]!r}")
    return _usages(facts, KUBELET_CLIENT_USAGES)


def _kubelet_serving(facts: CsrFacts) -> Violation | None:
    found = _node_subject(facts)
    if found:
        return found
    if facts.emails:
        return Violation("subjectAltName", f"e-mail SANs are not allowed; found {facts.emails[0]!r}")
    if facts.uris:
        return Violation("subjectAltName", f"URI SANs are not allowed; found {facts.uris[0]!r}")
    if not facts.dns_names and not facts.ip_addresses:
        return Violation("subjectAltName", "at least one DNS or IP SAN is required")
    return _usages(facts, KUBELET_SERVING_USAGES)


def _apiserver_client(facts: CsrFacts) -> Violation | None:
    if MASTERS_GROUP in facts.organizations:
        return Violation("subject", f"organization {MASTERS_GROUP} is never signed (it bypasses RBAC)")
    if CLIENT not in facts.usages:
        return Violation("usages", "client auth is required")
    extra = sorted(set(facts.usages) - APISERVER_CLIENT_ALLOWED)
    if extra:
        return Violation("usages", f"only {sorted(APISERVER_CLIENT_ALLOWED)} are allowed, not {extra}")
    return None


def warden_usages(usages: Collection[str]) -> tuple[list[str], list[str]]:
    """(key_usage, ext_key_usage) in warden's names, for sign-verbatim."""
    ku = list(dict.fromkeys(KEY_USAGES[u] for u in usages if u in KEY_USAGES))
    eku = list(dict.fromkeys(EXT_KEY_USAGES[u] for u in usages if u in EXT_KEY_USAGES))
    return ku, eku
