"""The Kubernetes signer table as the CSR signer enforces it (kube-controller-manager's
ValidateKubeletClientCSR/ValidateKubeletServingCSR and the documented signer rules)."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest

from support.csr_controller import CLIENT_USAGES, SERVING_USAGES, pkcs10
from warden.controllers.csr import rules
from warden.controllers.csr.request import CsrFacts, read_csr


def csr_object(pem: str, signer: str, usages: list[str], *, username: str = "system:node:n1",
               groups: tuple[str, ...] = ("system:nodes",), conditions: list[Any] | None = None,
               certificate: str | None = None) -> Any:
    spec = SimpleNamespace(request=base64.b64encode(pem.encode()).decode(), signerName=signer, usages=usages,
                           username=username, groups=list(groups), extra={}, uid="u1", expirationSeconds=None)
    meta = SimpleNamespace(name="c1", resourceVersion="7", uid="uid-1")
    status = SimpleNamespace(conditions=conditions or [], certificate=certificate)
    return SimpleNamespace(metadata=meta, spec=spec, status=status)


def facts(cn: str = "system:node:n1", orgs: tuple[str, ...] = ("system:nodes",), *,
          signer: str = rules.KUBELET_SERVING, usages: list[str] | None = None, **sans: Any) -> CsrFacts:
    pem, _ = pkcs10(cn, orgs, **sans)
    default = SERVING_USAGES if signer == rules.KUBELET_SERVING else CLIENT_USAGES
    return read_csr(csr_object(pem, signer, usages if usages is not None else default))


def test_a_well_formed_kubelet_serving_request_passes() -> None:
    assert rules.violation(rules.KUBELET_SERVING, facts(dns=["n1"], ips=["10.0.0.1"])) is None
    ecdsa_usages = ["digital signature", "server auth"]  # no key encipherment: accepted too
    assert rules.violation(rules.KUBELET_SERVING, facts(dns=["n1"], usages=ecdsa_usages)) is None


@pytest.mark.parametrize(("kwargs", "rule", "words"), [
    ({"orgs": ("system:masters",), "dns": ["n1"]}, "subject", "system:nodes"),
    ({"orgs": ("system:nodes", "extra"), "dns": ["n1"]}, "subject", "exactly"),
    ({"cn": "n1", "dns": ["n1"]}, "subject", "system:node:<nodeName>"),
    ({"cn": "system:node:", "dns": ["n1"]}, "subject", "system:node:<nodeName>"),
    ({}, "subjectAltName", "at least one DNS or IP SAN"),
    ({"dns": ["n1"], "emails": ["a@b.c"]}, "subjectAltName", "e-mail"),
    ({"dns": ["n1"], "uris": ["spiffe://x/y"]}, "subjectAltName", "URI"),
    ({"dns": ["n1"], "usages": ["digital signature", "client auth"]}, "usages", "are not"),
    ({"dns": ["n1"], "usages": ["digital signature", "server auth", "cert sign"]}, "usages", "CA"),
    ({"dns": ["n1"], "usages": ["digital signature", "server auth", "frobnicate"]}, "usages", "unknown"),
])
def test_kubelet_serving_rules_name_the_rule(kwargs: dict[str, Any], rule: str, words: str) -> None:
    found = rules.violation(rules.KUBELET_SERVING, facts(**kwargs))
    assert found is not None and found.rule == rule and words in found.message, found


@pytest.mark.parametrize("san", [{"dns": ["n1"]}, {"ips": ["10.0.0.1"]}, {"emails": ["a@b.c"]},
                                 {"uris": ["spiffe://x"]}])
def test_kubelet_client_certificates_carry_no_sans(san: dict[str, list[str]]) -> None:
    found = rules.violation(rules.KUBELET_CLIENT, facts(signer=rules.KUBELET_CLIENT, **san))
    assert found is not None and found.rule == "subjectAltName"


def test_kubelet_client_usages_are_exactly_the_table() -> None:
    assert rules.violation(rules.KUBELET_CLIENT, facts(signer=rules.KUBELET_CLIENT)) is None
    found = rules.violation(rules.KUBELET_CLIENT, facts(signer=rules.KUBELET_CLIENT,
                                                        usages=[*CLIENT_USAGES, "server auth"]))
    assert found is not None and found.rule == "usages"


def test_apiserver_client_never_signs_system_masters() -> None:
    masters = facts("root", ("system:masters",), signer=rules.APISERVER_CLIENT, usages=["client auth"])
    found = rules.violation(rules.APISERVER_CLIENT, masters)
    assert found is not None and "system:masters" in found.message
    assert rules.violation(rules.APISERVER_CLIENT, facts("alice", (), signer=rules.APISERVER_CLIENT,
                                                         usages=["digital signature", "client auth"])) is None


def test_a_request_without_proof_of_possession_is_refused() -> None:
    pem, _ = pkcs10("system:node:n1", ["system:nodes"], dns=["n1"])
    der = bytearray(base64.b64decode("".join(pem.splitlines()[1:-1])))
    der[-5] ^= 0xFF  # break the signature
    body = base64.encodebytes(bytes(der)).decode()
    broken = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    parsed = read_csr(csr_object(broken, rules.KUBELET_SERVING, SERVING_USAGES))
    found = rules.violation(rules.KUBELET_SERVING, parsed)
    assert found is not None and found.rule == "request"


def test_not_a_pem_request() -> None:
    parsed = read_csr(csr_object("hello", rules.KUBELET_SERVING, SERVING_USAGES))
    assert "PKCS#10" in parsed.problem


def test_custom_signers_get_the_generic_checks_only() -> None:
    assert rules.violation("example.com/apps", facts("anything", (), signer="example.com/apps",
                                                     usages=["digital signature", "server auth"])) is None
    assert rules.violation(rules.LEGACY_UNKNOWN, facts(dns=["n1"])) is not None


def test_usages_in_wardens_names() -> None:
    asked = ["signing", "digital signature", "key encipherment", "server auth", "s/mime"]
    assert rules.warden_usages(asked) == (["DigitalSignature", "KeyEncipherment"],
                                          ["ServerAuth", "EmailProtection"])


def test_conditions_are_read() -> None:
    pem, _ = pkcs10("x")
    approved = [SimpleNamespace(type="Approved", status="True")]
    parsed = read_csr(csr_object(pem, "example.com/x", [], conditions=approved, certificate="Y2VydA=="))
    assert parsed.conditions.approved and parsed.conditions.issued and parsed.conditions.settled
    stale = [SimpleNamespace(type="Denied", status="False")]
    assert not read_csr(csr_object(pem, "example.com/x", [], conditions=stale)).conditions.denied
