"""``explain`` rows come from the inventory; kubeconfigs render and parse back."""

from __future__ import annotations

from pathlib import Path

import yaml

from warden.kube import explain
from warden.kube.inventory import COMPONENTS
from warden.kube.kubeconfig import KubeconfigParts, parse, render


def _find(rows: list[explain.Row], component: str, flag: str) -> explain.Row:
    return next(r for r in rows if r.component == component and r.flag == flag)


def test_every_flag_of_every_component_is_explained() -> None:
    rows = explain.rows(explain.Options("c1"))
    assert len(rows) == sum(len(c.flags) for c in COMPONENTS)
    assert {r.component for r in rows} == {c.name for c in COMPONENTS}


def test_the_map_seed_002_drew_by_hand() -> None:
    rows = explain.rows(explain.Options("c1"))
    etcd_ca = _find(rows, "kube-apiserver", "--etcd-cafile")
    assert etcd_ca.file == "/etc/kubernetes/pki/etcd/ca.crt"
    assert etcd_ca.backed_by == "c1/pki/etcd (CA certificate)"
    client_ca = _find(rows, "kube-apiserver", "--client-ca-file")
    assert client_ca.file == "/etc/kubernetes/pki/ca.crt"
    assert client_ca.backed_by == "c1/pki/k8s (CA certificate)"
    header = _find(rows, "kube-apiserver", "--requestheader-client-ca-file")
    assert header.file.endswith("pki/front-proxy-ca.crt")
    assert header.backed_by.startswith("c1/pki/front-proxy")
    proxy = _find(rows, "kube-apiserver", "--proxy-client-cert-file")
    assert proxy.backed_by == "c1/pki/front-proxy/issue/front-proxy-client"
    kubelet_client = _find(rows, "kube-apiserver", "--kubelet-client-certificate")
    assert kubelet_client.identity == "CN=kube-apiserver-kubelet-client, O=kubeadm:cluster-admins"
    sa = _find(rows, "kube-controller-manager", "--service-account-private-key-file")
    assert (sa.file, sa.backed_by) == ("/etc/kubernetes/pki/sa.key", "secret/c1/k8s/sa (KV: private_key)")
    assert _find(rows, "kube-controller-manager", "--cluster-signing-key-file").backed_by == "unset"
    kubelet = _find(rows, "kubelet", "--kubeconfig")
    assert kubelet.identity == "CN=system:node:<node>, O=system:nodes"
    assert kubelet.backed_by.startswith("c1/pki/k8s/issue/kubelet-client-<node>")
    peer = _find(rows, "etcd", "--peer-trusted-ca-file")
    assert peer.backed_by == "c1/pki/etcd (CA certificate)"
    assert _find(rows, "etcd-healthcheck-client", "--cert").program == "etcdctl"


def test_options_change_the_map() -> None:
    rows = explain.rows(explain.Options("c9", "/srv/k8s", kubelet_serving_ca=True, kv_mount="kv",
                                        admin_group="system:masters"))
    kubelet_ca = _find(rows, "kube-apiserver", "--kubelet-certificate-authority")
    assert (kubelet_ca.file, kubelet_ca.backed_by) == ("/srv/k8s/pki/kubelet-serving-ca.crt",
                                                       "c9/pki/kubelet (CA certificate)")
    serving = _find(rows, "kubelet", "--tls-cert-file")
    assert serving.backed_by == "c9/pki/kubelet/issue/kubelet-serving-<node>"
    assert _find(rows, "admin", "--kubeconfig").identity == "CN=kubernetes-admin, O=system:masters"
    sa = _find(rows, "kube-apiserver", "--service-account-key-file")
    assert sa.backed_by == "kv/c9/k8s/sa (KV: public_key)"


def test_kubeconfig_round_trip(tmp_path: Path) -> None:
    parts = KubeconfigParts("c1", "https://10.0.0.10:6443", "CA\n", "alice", "CERT\n", "KEY\n")
    text = render(parts)
    doc = yaml.safe_load(text)
    assert doc["current-context"] == "alice@c1"
    assert doc["contexts"][0]["context"] == {"cluster": "c1", "user": "alice"}
    parsed = parse(text, str(tmp_path))
    assert (parsed.server, parsed.ca_pem, parsed.cert_pem, parsed.key_pem) == (
        "https://10.0.0.10:6443", b"CA\n", b"CERT\n", b"KEY\n")


def test_kubeconfig_with_relative_files(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("CA")
    doc = {"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "k", "user": "u"}}],
           "clusters": [{"name": "k", "cluster": {"server": "https://s", "certificate-authority": "ca.crt"}}],
           "users": [{"name": "u", "user": {"client-certificate": "gone.crt"}}]}
    parsed = parse(yaml.safe_dump(doc), str(tmp_path))
    assert parsed.ca_pem == b"CA" and parsed.cert_pem is None
    assert parsed.missing == (str(tmp_path / "gone.crt"),)
