"""A PodCertificateRequest read once into plain facts: who it is for (namespace, pod,
service account, node, as the apiserver and its NodeRestriction admission checked them),
the key (from ``spec.stubPKCS10Request``), the lifetime asked for, and whether it is settled.

Parsing never raises for what a requester controls: a stub that is not a PKCS#10 request
yields ``problem``, and the signer refuses the request with it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUED, DENIED, FAILED = "Issued", "Denied", "Failed"
DEFAULT_MAX_EXPIRATION = 86400  # what the apiserver fills in when the kubelet gives none


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The subject key: warden's type name (rsa, ec, ed25519) and size, and Kubernetes' name."""

    key_type: str
    bits: int
    kube_name: str


@dataclass(frozen=True, slots=True)
class PcrFacts:
    namespace: str
    name: str
    uid: str
    resource_version: str
    signer: str
    pod_name: str
    pod_uid: str
    service_account: str
    service_account_uid: str
    node_name: str
    node_uid: str
    max_expiration: int
    state: str = ""  # Issued, Denied, Failed or "" (pending)
    csr_pem: str = ""  # the stub request as PEM; "" when only the v1.35 pkixPublicKey is given
    key: KeyInfo | None = None
    legacy: bool = False  # pkixPublicKey + proofOfPossession instead of stubPKCS10Request
    problem: str = ""
    user_annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return bool(self.state)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def state_of(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    for condition in status.get("conditions") or ():
        kind = condition.get("type")
        if kind in (ISSUED, DENIED, FAILED) and condition.get("status") == "True":
            return str(kind)
    return ISSUED if status.get("certificateChain") else ""


def read_pcr(obj: Mapping[str, Any]) -> PcrFacts:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    if not isinstance(meta, Mapping):  # lightkube may hand ObjectMeta over
        meta = meta.to_dict()
    annotations = spec.get("unverifiedUserAnnotations") or {}
    facts = PcrFacts(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""), resource_version=str(meta.get("resourceVersion") or ""),
        signer=str(spec.get("signerName") or ""), pod_name=str(spec.get("podName") or ""),
        pod_uid=str(spec.get("podUID") or ""), service_account=str(spec.get("serviceAccountName") or ""),
        service_account_uid=str(spec.get("serviceAccountUID") or ""),
        node_name=str(spec.get("nodeName") or ""), node_uid=str(spec.get("nodeUID") or ""),
        max_expiration=int(spec.get("maxExpirationSeconds") or DEFAULT_MAX_EXPIRATION),
        state=state_of(obj), user_annotations={str(k): str(v) for k, v in dict(annotations).items()})
    stub = spec.get("stubPKCS10Request")
    if not stub:
        legacy = bool(spec.get("pkixPublicKey"))
        return _replace(facts, legacy=legacy, problem="" if legacy else "spec.stubPKCS10Request is empty")
    return _with_stub(facts, str(stub))


def _replace(facts: PcrFacts, **changes: Any) -> PcrFacts:
    return dataclasses.replace(facts, **changes)


def _with_stub(facts: PcrFacts, stub: str) -> PcrFacts:
    try:
        request = x509.load_der_x509_csr(base64.b64decode(stub, validate=True))
        key = request.public_key()
    except (binascii.Error, ValueError, TypeError):
        return _replace(facts, problem="spec.stubPKCS10Request is not a DER PKCS#10 certificate request")
    pem = request.public_bytes(serialization.Encoding.PEM).decode()
    return _replace(facts, csr_pem=pem, key=key_info(key))


def key_info(key: Any) -> KeyInfo | None:
    if isinstance(key, rsa.RSAPublicKey):
        return KeyInfo("rsa", key.key_size, f"RSA{key.key_size}")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyInfo("ec", key.curve.key_size, f"ECDSAP{key.curve.key_size}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyInfo("ed25519", 0, "ED25519")
    return None
