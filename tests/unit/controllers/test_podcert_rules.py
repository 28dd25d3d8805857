"""The pod certificate signer's pure rules: its configuration, who it admits, the identity it
computes, lifetimes, key types, refresh times, the pod binding and warden's refusals."""

from __future__ import annotations

import base64
import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from warden.agent.config_parse import Block, ConfigError
from warden.api import ApiError
from warden.controllers.podcert.binding import pod_mismatch
from warden.controllers.podcert.controller import warden_refusal
from warden.controllers.podcert.identity import Identity, Refusal, admit, identity_of
from warden.controllers.podcert.request import DEFAULT_MAX_EXPIRATION, KeyInfo, read_pcr
from warden.controllers.podcert.settings import PodSignerSettings, parse
from warden.controllers.podcert.signing import IssuedCert, PodRole, RoleProblem, sign_request

SIGNER = "warden.dev/c1-workloads"


def signer(**body: Any) -> PodSignerSettings:
    block = Block(f'pod_certificate_signer "{SIGNER}"',
                  {"mount": "c1/pki/workloads", "role": "workloads", **body})
    return parse([(SIGNER, block)]).signers[SIGNER]


def stub(key: Any = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, algorithm)
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def pcr(*, namespace: str = "team-a", account: str = "api", pod: str = "web-0", status: Any = None,
        **spec: Any) -> dict[str, Any]:
    body = {"signerName": SIGNER, "podName": pod, "podUID": "pod-uid", "serviceAccountName": account,
            "serviceAccountUID": "sa-uid", "nodeName": "n1", "nodeUID": "node-uid",
            "maxExpirationSeconds": 3600, "stubPKCS10Request": stub(), **spec}
    return {"metadata": {"namespace": namespace, "name": "req", "uid": "u1", "resourceVersion": "7"},
            "spec": {k: v for k, v in body.items() if v is not None}, "status": status or {}}


# -- configuration ---------------------------------------------------------------------------------

def test_defaults_are_the_spiffe_id_any_namespace_and_a_published_bundle() -> None:
    s = signer()
    assert s.trust_domain == "cluster.local" and s.allowed_namespaces == ("*",)
    assert s.uri_sans == ("spiffe://{{trust_domain}}/ns/{{namespace}}/sa/{{service_account}}",)
    assert s.bundle is not None and s.bundle.name == "warden.dev:c1-workloads:trust-bundle"
    assert s.bundle.signer_name == SIGNER and s.bundle.mount == "c1/pki/workloads"
    assert signer(trust_bundle=False).bundle is None


@pytest.mark.parametrize(("body", "message"), [
    ({"dns_names": ["{{node}}.example"]}, "unknown variable {{node}}"),
    ({"dns_names": ["{pod}.example"]}, "write variables as {{namespace}}"),
    ({"trust_domain": "Bad Domain"}, "SPIFFE trust domain"),
    ({"allowed_service_accounts": ["api"]}, "is not <namespace>/<name>"),
    ({"allowed_namespaces": ["Team_A"]}, "is not a namespace"),
    ({"uri_sans": []}, "would name nobody"),
    ({"bundle_refresh": "0s"}, "at least 1s"),
    ({"bundle_labels": {"app.kubernetes.io/managed-by": "me"}}, "set by the controller"),
    ({"role": "a b"}, "is not a role name"),
    ({"colour": "blue"}, 'unknown key "colour"'),
])
def test_bad_settings_are_refused_naming_the_key(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        signer(**body)


@pytest.mark.parametrize("name", ["kubernetes.io/kube-apiserver-client-pod", "no-domain", "example.com"])
def test_reserved_or_malformed_signer_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        parse([(name, Block("x", {"mount": "m", "role": "r"}))])


# -- admission and identity ------------------------------------------------------------------------

@pytest.mark.parametrize(("namespace", "account", "reason"), [
    ("team-a-prod", "api", None),
    ("team-b-prod", "api", "NamespaceNotAllowed"),
    ("team-a-prod", "backup", "ServiceAccountNotAllowed"),
    ("team-a", "api", "NamespaceNotAllowed"),  # team-a-* needs the dash and more
])
def test_namespaces_and_service_accounts_are_globs(namespace: str, account: str, reason: str | None) -> None:
    s = signer(allowed_namespaces=["team-a-*"], allowed_service_accounts=["*/api", "team-a-prod/web"])
    refused = admit(s, read_pcr(pcr(namespace=namespace, account=account)))
    assert (refused.reason if refused else None) == reason


def test_the_request_encoding_annotations_and_keys_are_checked() -> None:
    s = signer()
    legacy = read_pcr(pcr(stubPKCS10Request=None, pkixPublicKey="AAAA", proofOfPossession="BBBB"))
    refused = admit(s, legacy)
    assert legacy.legacy and refused is not None and refused.reason == "StubPKCS10RequestRequired"
    assert "upgrade the kubelet" in refused.message and refused.condition == "Denied"
    garbage = read_pcr(pcr(stubPKCS10Request=base64.b64encode(b"not der").decode()))
    assert (admit(s, garbage) or Refusal("", "")).reason == "InvalidRequest"
    noted = read_pcr(pcr(unverifiedUserAnnotations={"example.com/tier": "gold"}))
    assert (admit(s, noted) or Refusal("", "")).reason == "UnsupportedUserAnnotations"


def test_the_identity_comes_from_the_request_only() -> None:
    s = signer(trust_domain="c1.example.com", dns_names=["{{pod}}.{{namespace}}.pod.cluster.local"])
    facts = read_pcr(pcr(namespace="shop", account="cart", pod="cart-7"))
    assert identity_of(s, facts) == Identity(("spiffe://c1.example.com/ns/shop/sa/cart",),
                                             ("cart-7.shop.pod.cluster.local",))


def test_a_pod_name_with_dots_cannot_forge_dns_labels() -> None:
    s = signer(dns_names=["{{pod}}.{{namespace}}.pod.cluster.local"])
    refused = identity_of(s, read_pcr(pcr(namespace="shop", pod="admin.other")))
    assert isinstance(refused, Refusal) and refused.reason == "InvalidIdentity"


def test_facts_of_a_request() -> None:
    facts = read_pcr(pcr(maxExpirationSeconds=None))
    assert facts.max_expiration == DEFAULT_MAX_EXPIRATION and facts.key is not None
    assert (facts.key.key_type, facts.key.kube_name) == ("ec", "ECDSAP256")
    assert "BEGIN CERTIFICATE REQUEST" in facts.csr_pem
    assert read_pcr(pcr(status={"conditions": [{"type": "Denied", "status": "True"}]})).state == "Denied"
    assert read_pcr(pcr(status={"certificateChain": "x"})).settled
    assert not read_pcr(pcr(status={"conditions": [{"type": "Issued", "status": "False"}]})).settled
    rsa_facts = read_pcr(pcr(stubPKCS10Request=stub(rsa.generate_private_key(public_exponent=65537,
                                                                             key_size=3072))))
    assert rsa_facts.key is not None and rsa_facts.key.kube_name == "RSA3072"
    ed = read_pcr(pcr(stubPKCS10Request=stub(ed25519.Ed25519PrivateKey.generate())))
    assert ed.key is not None and ed.key.kube_name == "ED25519"


# -- the role, lifetimes, refresh ------------------------------------------------------------------

ROLE_OK = {"use_csr_common_name": False, "use_csr_sans": False, "require_cn": False,
           "allowed_uri_sans": ["spiffe://cluster.local/*"]}


@pytest.mark.parametrize(("data", "message"), [
    ({**ROLE_OK, "use_csr_sans": True}, "set use_csr_sans=false"),
    ({**ROLE_OK, "use_csr_common_name": True, "use_csr_sans": True},
     "set use_csr_common_name=false use_csr_sans=false"),
    ({**ROLE_OK, "require_cn": True}, "require_cn=false"),
    ({**ROLE_OK, "allowed_uri_sans": []}, "allows no URI SANs"),
])
def test_a_role_that_would_copy_the_pods_claims_or_name_nobody_is_refused(data: dict[str, Any],
                                                                         message: str) -> None:
    with pytest.raises(RoleProblem, match=message):
        PodRole("any", 0, 0, 30).check(signer(), data)


def test_a_role_shorter_than_an_hour_is_refused() -> None:
    with pytest.raises(RoleProblem, match="at least 3600s"):
        PodRole("any", 0, 3600, 30).check(signer(), ROLE_OK)
    PodRole("any", 0, 3630, 30).check(signer(), ROLE_OK)


@given(st.integers(3600, 7862400), st.sampled_from([0, 3630, 7200, 86400, 31536000]), st.integers(0, 300))
def test_lifetime_never_exceeds_the_request_nor_the_role(asked: int, max_ttl: int, backdate: int) -> None:
    role = PodRole("any", 0, max_ttl, backdate)
    lifetime = role.lifetime(read_pcr(pcr(maxExpirationSeconds=asked)))
    if isinstance(lifetime, Refusal):
        assert max_ttl + backdate < 3600
        return
    assert 3600 <= lifetime <= asked
    assert not max_ttl or lifetime - backdate <= max_ttl  # the TTL warden is asked for obeys the role
    body = sign_request(read_pcr(pcr()), Identity(("spiffe://x/ns/a/sa/b",), ()), lifetime, backdate)
    ttl = int(body["ttl"].removesuffix("s"))
    assert ttl + backdate == lifetime


@pytest.mark.parametrize(("role", "key", "refused"), [
    (("any", 0), ("ed25519", 0, "ED25519"), False),
    (("ec", 256), ("ec", 256, "ECDSAP256"), False),
    (("ec", 384), ("ec", 256, "ECDSAP256"), True),
    (("ec", 256), ("rsa", 3072, "RSA3072"), True),
    (("rsa", 4096), ("rsa", 3072, "RSA3072"), True),
])
def test_keys_the_role_would_refuse_are_unsupported_key_types(
        role: tuple[str, int], key: tuple[str, int, str], refused: bool) -> None:
    answer = PodRole(role[0], role[1], 0, 30).refuses_key(KeyInfo(*key))
    assert (answer is not None) == refused
    if answer is not None:
        assert answer.reason == "UnsupportedKeyType" and "keyType:" in answer.message


@given(st.integers(3600, 7862400), st.floats(0.633, 0.7))
def test_begin_refresh_is_about_two_thirds_and_inside_the_window(lifetime: int, fraction: float) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = IssuedCert("", "", start, start + dt.timedelta(seconds=lifetime))
    at = cert.begin_refresh_at(fraction)
    assert start + dt.timedelta(minutes=10) <= at <= cert.not_after - dt.timedelta(minutes=10)
    assert abs((at - start).total_seconds() - fraction * lifetime) <= 1


# -- the pod, warden's refusals --------------------------------------------------------------------

def _pod(**changes: Any) -> Any:
    source = SimpleNamespace(podCertificate=SimpleNamespace(signerName=changes.pop("signer", SIGNER)))
    volume = SimpleNamespace(projected=SimpleNamespace(sources=[source]))
    spec = SimpleNamespace(serviceAccountName=changes.pop("account", "api"),
                           nodeName=changes.pop("node", "n1"), volumes=[volume])
    return SimpleNamespace(metadata=SimpleNamespace(uid=changes.pop("uid", "pod-uid")), spec=spec)


@pytest.mark.parametrize(("changes", "message"), [
    ({}, None),
    ({"uid": "other"}, "spec.podUID"),
    ({"account": "admin"}, "spec.serviceAccountName"),
    ({"node": "n2"}, "spec.nodeName"),
    ({"signer": "example.com/other"}, "no podCertificate volume for signer"),
])
def test_the_request_must_match_a_live_pod_that_asks_for_this_signer(changes: dict[str, str],
                                                                     message: str | None) -> None:
    refused = pod_mismatch(_pod(**changes), read_pcr(pcr(namespace="team-a")))
    assert (refused is None) == (message is None)
    if refused is not None:
        assert refused.reason == "PodMismatch" and message in refused.message


def test_warden_refusing_the_identity_is_a_denial_anything_else_a_failure() -> None:
    role = ApiError(400, ["URI Subject Alternative Name 'spiffe://x/ns/a/sa/b' is not allowed by this role"],
                    "PUT", "http://warden/v1/c1/pki/workloads/sign/workloads")
    assert (warden_refusal(role).condition, warden_refusal(role).reason) == ("Denied", "IdentityNotAllowed")
    expiry = ApiError(400, ["cannot satisfy request, as TTL would result in notAfter beyond the CA"], "PUT",
                      "http://warden/v1/c1/pki/workloads/sign/workloads")
    assert (warden_refusal(expiry).condition, warden_refusal(expiry).reason) == ("Failed", "WardenRefused")
