"""People's names and roles (seed 001's short-lived kubeconfigs)."""

from __future__ import annotations

import dataclasses

import pytest

from warden.kube.cluster import ClusterSpec, Node, SpecError, validate
from warden.kube.desired import user_role_data
from warden.kube.people import reserved_names, user_name

SPEC = ClusterSpec("c1", nodes=(Node("cp1", "10.0.0.10", True),), user_groups=("dev",), user_ttl="8h")


def test_names_kubernetes_gives_its_components_are_refused() -> None:
    assert {"kube-apiserver-kubelet-client", "kubernetes-admin", "front-proxy-client",
            "kubernetes-super-admin"} <= reserved_names()
    for name in ("system:kube-scheduler", "system:node:cp1", "kube-apiserver-etcd-client", " "):
        with pytest.raises(ValueError):
            user_name(name, "")
    assert user_name("alice@example.net", "") == "alice@example.net"


def test_a_user_domain_makes_names_e_mail_addresses() -> None:
    assert user_name("alice", "example.com") == "alice@example.com"
    assert user_name("alice@example.com", "example.com") == "alice@example.com"
    with pytest.raises(ValueError, match=r"e-mail addresses in example\.com"):
        user_name("alice@evil.example", "example.com")


def test_without_a_domain_people_are_still_e_mail_addresses() -> None:
    assert user_name("alice@example.net", "") == "alice@example.net"
    with pytest.raises(ValueError, match="e-mail address"):
        user_name("kube-apiserver-kubelet-client-ish", "")


def test_user_roles() -> None:
    open_role = user_role_data(SPEC, "dev")
    assert open_role["allow_any_name"] is True and open_role["cn_validations"] == ["email"]
    assert (open_role["organization"], open_role["max_ttl"]) == (["dev"], "8h")
    assert (open_role["server_flag"], open_role["client_flag"]) == (False, True)
    closed = user_role_data(dataclasses.replace(SPEC, user_domain="example.com"), "dev")
    assert (closed["allow_any_name"], closed["allowed_domains"], closed["cn_validations"]) == (
        False, ["example.com"], ["email"])


def test_the_user_domain_must_be_a_domain() -> None:
    with pytest.raises(SpecError, match="user domain"):
        validate(dataclasses.replace(SPEC, user_domain="not a domain"))
