"""The inventory is one consistent table: names, files, CAs and flags all line up."""

from __future__ import annotations

import re

import pytest

from warden.kube import inventory as inv
from warden.kube.inventory import CAS, COMPONENTS, KUBEADM_ONLY, Ref, Usage, all_certs

GENERIC_NAME = re.compile(r"^\w(?:(?:[\w.-]+)?\w)?$")  # the server's role-name rule


def test_certificate_names_and_files_are_unique() -> None:
    certs = [c for _, c in all_certs()] + list(KUBEADM_ONLY)
    names = [c.name for c in certs]
    files = [c.cert_file for c in certs] + [c.key_file for c in certs if not c.kubeconfig]
    files += [ca.cert_file for ca in CAS] + [inv.SA_KEY_FILE, inv.SA_PUB_FILE]
    assert len(names) == len(set(names))
    assert len(files) == len(set(files))


def test_every_certificate_is_signed_by_a_known_ca_and_has_a_purpose() -> None:
    keys = {ca.key for ca in CAS}
    for _, cert in all_certs():
        assert cert.ca in keys
        assert cert.usages, cert.name
        assert GENERIC_NAME.match(inv.role_name(cert, "node-1.example")), cert.name


def test_kubeconfigs_are_client_certificates_of_the_kubernetes_ca() -> None:
    for _, cert in all_certs():
        if cert.kubeconfig:
            assert cert.ca == "k8s" and cert.usages == (Usage.CLIENT,), cert.name
            assert not cert.path.startswith("pki/")


def test_every_flag_points_at_something_in_the_table() -> None:
    certs = {c.name for _, c in all_certs()}
    cas = {ca.key for ca in CAS}
    for comp in COMPONENTS:
        assert comp.flags, comp.name
        for flag in comp.flags:
            assert flag.name.startswith("--")
            if flag.ref in (Ref.CERT, Ref.KEY):
                assert flag.target in certs, (comp.name, flag.name)
            elif flag.ref is Ref.CA_CERT:
                assert flag.target in cas, (comp.name, flag.name)
            elif flag.ref is Ref.KUBECONFIG:
                assert any(c.kubeconfig for c in comp.certs), comp.name
                assert not flag.target or flag.target in certs


@pytest.mark.parametrize(("name", "cn", "groups", "ca"), [
    ("apiserver", "kube-apiserver", (), "k8s"),
    ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", (inv.ADMIN_GROUP,), "k8s"),
    ("apiserver-etcd-client", "kube-apiserver-etcd-client", (), "etcd"),
    ("front-proxy-client", "front-proxy-client", (), "front-proxy"),
    ("etcd-server", inv.NODE, (), "etcd"),
    ("etcd-peer", inv.NODE, (), "etcd"),
    ("etcd-healthcheck-client", "kube-etcd-healthcheck-client", (), "etcd"),
    ("controller-manager", "system:kube-controller-manager", (), "k8s"),
    ("scheduler", "system:kube-scheduler", (), "k8s"),
    ("kubelet-client", "system:node:" + inv.NODE, ("system:nodes",), "k8s"),
    ("kube-proxy", "system:kube-proxy", ("system:node-proxier",), "k8s"),
    ("admin", "kubernetes-admin", (inv.ADMIN_GROUP,), "k8s"),
])
def test_identities_follow_kubeadm(name: str, cn: str, groups: tuple[str, ...], ca: str) -> None:
    cert = inv.cert_spec(name)
    assert (cert.common_name, cert.groups, cert.ca) == (cn, groups, ca)


def test_kubeadm_file_layout() -> None:
    files = {c.name: c.cert_file for _, c in all_certs()}
    assert files["apiserver"] == "pki/apiserver.crt"
    assert files["etcd-server"] == "pki/etcd/server.crt"
    assert files["etcd-healthcheck-client"] == "pki/etcd/healthcheck-client.crt"
    assert files["front-proxy-client"] == "pki/front-proxy-client.crt"
    assert files["kubelet-client"] == "kubelet.conf"
    assert [ca.cert_file for ca in CAS if not ca.optional] == [
        "pki/ca.crt", "pki/etcd/ca.crt", "pki/front-proxy-ca.crt"]


def test_usages() -> None:
    assert inv.cert_spec("apiserver").usages == (Usage.SERVER,)
    assert set(inv.cert_spec("etcd-server").usages) == {Usage.SERVER, Usage.CLIENT}  # etcd#9785
    assert set(inv.cert_spec("etcd-peer").usages) == {Usage.SERVER, Usage.CLIENT}
    assert inv.cert_spec("kubelet-serving").usages == (Usage.SERVER,)


def test_only_node_bound_components_are_per_node() -> None:
    per_node = {c.name for c in COMPONENTS if c.per_node}
    assert per_node == {"etcd", "kubelet"}


def test_the_kubelet_ca_falls_back_to_the_kubernetes_ca() -> None:
    assert inv.signing_ca("kubelet", kubelet_serving_ca=False).key == "k8s"
    assert inv.signing_ca("kubelet", kubelet_serving_ca=True).key == "kubelet"
    assert inv.signing_ca("etcd", kubelet_serving_ca=False).key == "etcd"


def test_lookups_fail_loudly() -> None:
    with pytest.raises(KeyError):
        inv.cert_spec("nope")
    with pytest.raises(KeyError):
        inv.ca_spec("nope")
