"""Pure parts of the CSR controller: matching SANs to a Node's addresses, what a role may
grant a signer, and the body sent to warden."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from unit.controllers.test_rules import facts
from warden.controllers.csr import rules
from warden.controllers.csr.approvers import _match_addresses
from warden.controllers.csr.settings import SignerSettings
from warden.controllers.csr.signing import RoleGrant, RoleProblem, sign_request


def node(*addresses: tuple[str, str]) -> Any:
    return SimpleNamespace(status=SimpleNamespace(addresses=[SimpleNamespace(type=t, address=a)
                                                              for t, a in addresses]))


N1 = node(("Hostname", "n1"), ("InternalIP", "10.0.0.1"), ("ExternalDNS", "N1.Example.NET."),
          ("ExternalIP", "2001:db8::1"), ("InternalDNS", "n1.internal"))


@pytest.mark.parametrize(("sans", "action", "words"), [
    ({"dns": ["n1", "n1.example.net"], "ips": ["10.0.0.1", "2001:db8:0::1"]}, "approve", "every SAN"),
    ({"dns": ["n1"], "ips": ["10.0.0.2"]}, "deny", "IP address 10.0.0.2"),
    ({"dns": ["n1", "n2"]}, "deny", "DNS name n2"),
    ({"dns": ["10.0.0.1"]}, "deny", "DNS name 10.0.0.1"),  # an IP address is not a DNS address
    ({"ips": ["10.0.0.1"], "dns": ["n1.internal"]}, "approve", ""),
])
def test_sans_must_be_the_nodes_addresses(sans: dict[str, list[str]], action: str, words: str) -> None:
    verdict = _match_addresses("n1", N1, facts(**sans))
    assert verdict.action == action and words in verdict.message
    if action == "deny":
        assert "Hostname=n1" in verdict.message  # says what the Node has


def test_a_node_without_addresses_matches_nothing() -> None:
    assert _match_addresses("n1", SimpleNamespace(status=None), facts(dns=["n1"])).action == "deny"


def signer(name: str = rules.KUBELET_CLIENT, method: str = "sign") -> SignerSettings:
    return SignerSettings(name, "c1/pki/k8s", "kubelet-client", method=method)


def test_a_kubelet_role_may_grant_only_the_signers_usage() -> None:
    RoleGrant(frozenset({"ClientAuth"}), 3600).check(signer())
    with pytest.raises(RoleProblem, match="ServerAuth"):
        RoleGrant(frozenset({"ClientAuth", "ServerAuth"}), 3600).check(signer())
    with pytest.raises(RoleProblem, match="600s"):
        RoleGrant(frozenset({"ClientAuth"}), 300).check(signer())
    RoleGrant(frozenset({"ServerAuth", "ClientAuth"}), 0).check(signer("example.com/any"))


def test_a_custom_signer_cannot_ask_for_a_usage_its_role_does_not_grant() -> None:
    grant = RoleGrant(frozenset({"ServerAuth"}), 3600)
    custom = signer("example.com/apps")
    wants_client = facts("app", (), signer="example.com/apps", usages=["digital signature", "client auth"])
    found = grant.refuses(custom, wants_client)
    assert found is not None and "ClientAuth" in found.message
    assert grant.refuses(signer("example.com/apps", "sign-verbatim"), wants_client) is None


def test_the_sign_request() -> None:
    f = facts(dns=["n1"])
    body = sign_request(signer(rules.KUBELET_SERVING), f)
    assert body == {"csr": f.pem, "format": "pem", "exclude_cn_from_sans": True}
    short = facts("app", (), signer="example.com/apps", usages=["digital signature", "server auth"])
    object.__setattr__(short, "expiration_seconds", 700)
    verbatim = sign_request(signer("example.com/apps", "sign-verbatim"), short)
    assert verbatim["ttl"] == "700s"
    assert (verbatim["key_usage"], verbatim["ext_key_usage"]) == (["DigitalSignature"], ["ServerAuth"])
