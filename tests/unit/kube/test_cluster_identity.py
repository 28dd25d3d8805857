"""Cluster settings and the names each certificate carries (kubeadm's SAN rules)."""

from __future__ import annotations

import dataclasses

import pytest

from warden.kube.cluster import ClusterSpec, Node, SpecError, parse_duration, parse_node, validate
from warden.kube.identity import identity, node_identities, role_identities
from warden.kube.inventory import cert_spec

CP1, CP2 = Node("cp1", "10.0.0.10", True), Node("cp2", "10.0.0.11", True)
W1 = Node("w1", "10.0.0.21", False)
SPEC = ClusterSpec("c1", nodes=(CP1, CP2, W1), control_plane_endpoint="k8s.example.net:443",
                   apiserver_sans=("203.0.113.7", "api.example.net"))


@pytest.mark.parametrize(("text", "seconds"), [("8760h", 31536000), ("1h30m", 5400), ("90s", 90),
                                               ("2d", 172800), ("45", 45)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1y", "1h x", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(SpecError):
        parse_duration(text)


def test_nodes_from_the_command_line() -> None:
    assert parse_node("CP1=10.0.0.10", control_plane=True) == CP1
    assert parse_node("w1", control_plane=False) == Node("w1", "", False)
    assert parse_node("w6=fd00::6", control_plane=False).ip == "fd00::6"
    with pytest.raises(SpecError, match="advertise address"):
        parse_node("cp1", control_plane=True)
    with pytest.raises(SpecError, match="IP address"):
        parse_node("cp1=10.0.0.300", control_plane=True)
    with pytest.raises(SpecError, match="node name"):
        parse_node("cp_1=10.0.0.1", control_plane=True)


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "C1/x"}, "cluster name"),
    ({"control_plane_endpoint": "[::1"}, "control-plane-endpoint"),
    ({"control_plane_endpoint": "https://k8s.example.net/api"}, "HOST"),
    ({"nodes": (CP1, CP1)}, "twice"),
    ({"key_type": "dsa"}, "key type"),
    ({"service_cidr": "10.96.0.0/33"}, "service CIDR"),
    ({"cert_ttl": "90000h"}, "outlives"),
    ({"admin_ttl": "0s"}, "positive"),
    ({"user_groups": ("dev", "dev")}, "twice"),
    ({"admin_group": "bad group"}, "group"),
])
def test_invalid_specs_say_why(change: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        validate(dataclasses.replace(SPEC, **change))  # type: ignore[arg-type]


def test_a_cluster_may_start_without_nodes_or_with_workers_only() -> None:
    assert validate(dataclasses.replace(SPEC, nodes=())).nodes == ()
    assert validate(dataclasses.replace(SPEC, nodes=(W1,))).control_planes == ()


def test_settings_round_trip_through_json() -> None:
    assert ClusterSpec.from_json(SPEC.to_json()) == validate(SPEC)


def test_urls_and_networks() -> None:
    assert SPEC.service_ips() == ["10.96.0.1"]
    assert dataclasses.replace(SPEC, service_cidr="10.96.0.0/12,fd00:10::/108").service_ips() == [
        "10.96.0.1", "fd00:10::1"]
    assert SPEC.server_url() == "https://k8s.example.net:443"
    assert SPEC.server_url(CP2) == "https://10.0.0.11:6443"
    assert ClusterSpec("c1", nodes=(CP1,)).server_url() == "https://10.0.0.10:6443"
    assert ClusterSpec("c1", nodes=(Node("cp1", "fd00::1", True),)).server_url() == "https://[fd00::1]:6443"
    assert SPEC.bits == 2048 and dataclasses.replace(SPEC, key_type="ec").bits == 256


def test_apiserver_names_as_kubeadm_builds_them() -> None:
    ident = identity(SPEC, cert_spec("apiserver"), CP2)
    assert ident.common_name == "kube-apiserver"
    assert ident.dns == ("cp2", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                         "kubernetes.default.svc.cluster.local", "api.example.net", "k8s.example.net")
    assert ident.ips == ("10.96.0.1", "10.0.0.11", "203.0.113.7")
    role = identity(SPEC, cert_spec("apiserver"), None)  # the role allows every control plane
    assert {"cp1", "cp2"} <= set(role.dns) and {"10.0.0.10", "10.0.0.11"} <= set(role.ips)


def test_etcd_and_kubelet_names() -> None:
    etcd = identity(SPEC, cert_spec("etcd-peer"), CP1)
    assert (etcd.common_name, etcd.dns, etcd.ips) == ("cp1", ("cp1", "localhost"),
                                                      ("10.0.0.10", "127.0.0.1", "::1"))
    assert etcd.role == "etcd-peer-cp1" and etcd.mount == "c1/pki/etcd"
    kubelet = identity(SPEC, cert_spec("kubelet-client"), W1)
    assert (kubelet.common_name, kubelet.groups, kubelet.dns) == ("system:node:w1", ("system:nodes",), ())
    serving = identity(SPEC, cert_spec("kubelet-serving"), W1)
    assert (serving.dns, serving.ips, serving.mount) == (("w1",), ("10.0.0.21",), "c1/pki/k8s")
    separate = identity(dataclasses.replace(SPEC, kubelet_serving_ca=True), cert_spec("kubelet-serving"), W1)
    assert separate.mount == "c1/pki/kubelet"
    with pytest.raises(ValueError, match="per node"):
        identity(SPEC, cert_spec("kubelet-client"), None)


def test_admin_group_and_lifetimes() -> None:
    admin = identity(SPEC, cert_spec("admin"), None)
    assert admin.groups == ("kubeadm:cluster-admins",) and admin.ttl == "24h"
    legacy = identity(dataclasses.replace(SPEC, admin_group="system:masters"), cert_spec("admin"), None)
    assert legacy.groups == ("system:masters",)
    assert identity(SPEC, cert_spec("apiserver-etcd-client"), None).ttl == "8760h"


def test_roles_and_node_trees() -> None:
    roles = {i.role for i in role_identities(SPEC)}
    assert {"etcd-server-cp1", "etcd-server-cp2", "kubelet-client-w1", "kubelet-serving-w1"} <= roles
    assert "etcd-server-w1" not in roles  # workers run no etcd
    worker = {i.cert.name for i in node_identities(SPEC, W1)}
    assert worker == {"kubelet-client", "kubelet-serving", "kube-proxy"}
    control = {i.cert.name for i in node_identities(SPEC, CP1)}
    assert len(control) == 14  # with super-admin.conf
