"""``check`` on synthetic trees: clean, then one thing broken at a time."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from support.kube_tree import NOW, TreeBuilder, cert_pem, key_pem, make_ca, make_leaf, new_key
from warden.kube.check import NothingToCheck, Report, check_tree
from warden.kube.check_rules import CheckOptions
from warden.kube.inventory import Usage


@pytest.fixture
def tree(tmp_path: Path) -> TreeBuilder:
    return TreeBuilder(tmp_path).write_all()


def by_file(report: Report) -> dict[str, object]:
    return {f.file: f for f in report.files}


def problems(report: Report, file: str) -> list[str]:
    return list(next(f for f in report.files if f.file == file).problems)


def bad_files(report: Report) -> set[str]:
    return {f.file for f in report.files if not f.ok}


def test_a_valid_tree_is_clean(tree: TreeBuilder) -> None:
    report = check_tree(tree.root)
    assert report.ok, [(f.file, f.problems) for f in report.files if f.problems]
    assert len(report.files) == 18
    files = by_file(report)
    assert files["pki/apiserver.crt"].chain == "ok (pki/ca.crt)"  # type: ignore[attr-defined]
    assert files["pki/etcd/peer.crt"].chain == "ok (pki/etcd/ca.crt)"  # type: ignore[attr-defined]
    assert files["kubelet.conf"].key == "match"  # type: ignore[attr-defined]
    assert files["pki/ca.crt"].key == "n/a (kept in warden)"  # type: ignore[attr-defined]
    assert "DNS:kubernetes.default.svc.cluster.local" in files["pki/apiserver.crt"].sans  # type: ignore[attr-defined]
    assert report.to_json()["ok"] is True


def test_a_swapped_ca_fails_every_chain_below_it(tree: TreeBuilder) -> None:
    tree.write_ca("etcd", tree.cas["front-proxy"])
    report = check_tree(tree.root)
    assert bad_files(report) == {"pki/etcd/server.crt", "pki/etcd/peer.crt",
                                 "pki/etcd/healthcheck-client.crt", "pki/apiserver-etcd-client.crt"}
    assert problems(report, "pki/etcd/peer.crt") == ["does not verify against pki/etcd/ca.crt"]


def test_a_certificate_from_the_wrong_ca_names_its_signer(tree: TreeBuilder) -> None:
    tree.write_leaf("apiserver-etcd-client", ca=tree.cas["k8s"])
    report = check_tree(tree.root)
    assert problems(report, "pki/apiserver-etcd-client.crt") == [
        "does not verify against pki/etcd/ca.crt (it is signed by pki/ca.crt)"]


def test_an_expired_certificate(tree: TreeBuilder) -> None:
    spec = dataclasses.replace(tree.leaf_spec("front-proxy-client"), not_before=NOW - dt.timedelta(days=400),
                               not_after=NOW - dt.timedelta(days=2))
    tree.write_leaf("front-proxy-client", spec)
    report = check_tree(tree.root)
    assert bad_files(report) == {"pki/front-proxy-client.crt"}
    assert problems(report, "pki/front-proxy-client.crt")[0].startswith("expired on")
    assert by_file(report)["pki/front-proxy-client.crt"].days_left < 0  # type: ignore[attr-defined]


def test_a_wrong_common_name(tree: TreeBuilder) -> None:
    tree.write_leaf("apiserver", dataclasses.replace(tree.leaf_spec("apiserver"), cn="kubernetes"))
    report = check_tree(tree.root)
    assert problems(report, "pki/apiserver.crt") == ["CN is 'kubernetes', expected 'kube-apiserver'"]
    assert by_file(report)["pki/apiserver.crt"].identity == "WRONG"  # type: ignore[attr-defined]


def test_a_key_that_does_not_match(tree: TreeBuilder) -> None:
    tree.write_leaf("etcd-server", write_key=new_key())
    report = check_tree(tree.root)
    assert problems(report, "pki/etcd/server.crt") == ["private key does not match the certificate"]
    assert by_file(report)["pki/etcd/server.crt"].key == "MISMATCH"  # type: ignore[attr-defined]


def test_a_kubelet_must_be_a_node_in_system_nodes(tree: TreeBuilder) -> None:
    spec = tree.leaf_spec("kubelet-client")
    tree.write_leaf("kubelet-client", dataclasses.replace(spec, groups=("system:masters",)))
    assert problems(check_tree(tree.root), "kubelet.conf") == [
        "O=system:masters, expected O=system:nodes"]
    tree.write_leaf("kubelet-client", dataclasses.replace(spec, cn="kubelet"))
    assert problems(check_tree(tree.root), "kubelet.conf") == [
        "CN is 'kubelet', expected 'system:node:<node>'"]


def test_a_missing_san(tree: TreeBuilder) -> None:
    spec = tree.leaf_spec("apiserver")
    tree.write_leaf("apiserver", dataclasses.replace(
        spec, dns=tuple(d for d in spec.dns if d != "kubernetes.default.svc")))
    assert problems(check_tree(tree.root), "pki/apiserver.crt") == ["SANs lack DNS:kubernetes.default.svc"]


def test_service_ip_and_domain_are_checked_when_given(tree: TreeBuilder) -> None:
    assert check_tree(tree.root, CheckOptions(service_cidr="10.96.0.0/12")).ok
    report = check_tree(tree.root, CheckOptions(service_cidr="10.32.0.0/24", cluster_domain="corp"))
    assert problems(report, "pki/apiserver.crt") == [
        "SANs lack DNS:kubernetes.default.svc.corp, IP:10.32.0.1"]


def test_etcd_serving_names(tree: TreeBuilder) -> None:
    spec = tree.leaf_spec("etcd-peer")
    tree.write_leaf("etcd-peer", dataclasses.replace(spec, dns=("cp1",), ips=("10.0.0.10",)))
    assert problems(check_tree(tree.root), "pki/etcd/peer.crt") == [
        "SANs lack DNS:localhost, IP:127.0.0.1, IP:::1"]


def test_usages(tree: TreeBuilder) -> None:
    tree.write_leaf("apiserver", dataclasses.replace(tree.leaf_spec("apiserver"), usages=(Usage.CLIENT,)))
    tree.write_leaf("etcd-server", dataclasses.replace(tree.leaf_spec("etcd-server"), usages=(Usage.SERVER,)))
    report = check_tree(tree.root)
    assert problems(report, "pki/apiserver.crt") == ["extended key usage lacks serverAuth"]
    assert problems(report, "pki/etcd/server.crt") == ["extended key usage lacks clientAuth"]


def test_older_kubeadm_groups_are_accepted(tree: TreeBuilder) -> None:
    for name in ("admin", "apiserver-kubelet-client", "apiserver-etcd-client", "etcd-healthcheck-client"):
        tree.write_leaf(name, dataclasses.replace(tree.leaf_spec(name), groups=("system:masters",)))
    assert check_tree(tree.root).ok


def test_kubeconfig_with_another_ca(tree: TreeBuilder) -> None:
    path = tree.root / "scheduler.conf"
    doc = yaml.safe_load(path.read_text())
    other = make_ca("someone-else")
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        cert_pem(other.cert).encode()).decode()
    path.write_text(yaml.safe_dump(doc))
    assert problems(check_tree(tree.root), "scheduler.conf") == [
        "its certificate-authority-data is not the CA in pki/ca.crt"]


def test_kubeconfig_referring_to_files(tree: TreeBuilder) -> None:
    cert, key = make_leaf(tree.leaf_spec("kubelet-client"), tree.cas["k8s"])
    pem = tree.root / "kubelet-client-current.pem"
    doc = yaml.safe_load((tree.root / "kubelet.conf").read_text())
    doc["users"][0]["user"] = {"client-certificate": str(pem), "client-key": str(pem)}
    (tree.root / "kubelet.conf").write_text(yaml.safe_dump(doc))
    assert problems(check_tree(tree.root), "kubelet.conf")[0].startswith("no client certificate (")
    pem.write_text(cert_pem(cert) + key_pem(key))  # kubeadm's kubelet-client-current.pem holds both
    assert check_tree(tree.root).ok


def test_ca_keys_on_disk_are_checked(tree: TreeBuilder) -> None:
    tree.write_ca("k8s", with_key=True)
    assert by_file(check_tree(tree.root))["pki/ca.crt"].key == "match"  # type: ignore[attr-defined]
    (tree.root / "pki/ca.key").write_text(key_pem(new_key()))
    assert problems(check_tree(tree.root), "pki/ca.crt") == ["pki/ca.key does not match the CA certificate"]


def test_an_expired_ca(tree: TreeBuilder) -> None:
    old = make_ca("front-proxy-ca", not_before=NOW - dt.timedelta(days=3650),
                  not_after=NOW - dt.timedelta(days=1))
    tree.write_ca("front-proxy", old)
    tree.write_leaf("front-proxy-client", ca=old)
    report = check_tree(tree.root)
    assert problems(report, "pki/front-proxy-ca.crt")[0].startswith("expired on")
    assert "does not verify against pki/front-proxy-ca.crt" in problems(report, "pki/front-proxy-client.crt")


def test_expiry_warnings(tree: TreeBuilder) -> None:
    soon = dataclasses.replace(tree.leaf_spec("scheduler"), not_before=NOW - dt.timedelta(days=355),
                               not_after=NOW + dt.timedelta(days=10))
    tree.write_leaf("scheduler", soon)
    short = dataclasses.replace(tree.leaf_spec("admin"), not_after=NOW + dt.timedelta(hours=20))
    tree.write_leaf("admin", short)
    report = check_tree(tree.root)
    assert report.ok
    files = by_file(report)
    assert files["scheduler.conf"].warnings == ("expires in 9 days",)  # type: ignore[attr-defined]
    assert files["admin.conf"].warnings == ()  # type: ignore[attr-defined]  # short-lived by design


def test_service_account_keys(tree: TreeBuilder) -> None:
    other = new_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    (tree.root / "pki/sa.pub").write_bytes(other)
    assert problems(check_tree(tree.root), "pki/sa.key") == ["sa.pub is not the public half of sa.key"]


def test_a_pki_directory_alone(tree: TreeBuilder) -> None:
    report = check_tree(tree.root / "pki")
    assert report.ok and len(report.files) == 12  # no kubeconfigs beside it


def test_nothing_to_check(tmp_path: Path) -> None:
    with pytest.raises(NothingToCheck, match="no Kubernetes certificates"):
        check_tree(tmp_path)


def test_unreadable_files(tree: TreeBuilder) -> None:
    (tree.root / "pki/apiserver.crt").write_text("garbage")
    (tree.root / "pki/etcd/peer.key").write_text("garbage")
    report = check_tree(tree.root)
    assert problems(report, "pki/apiserver.crt") == ["no PEM certificate in the file"]
    assert problems(report, "pki/etcd/peer.crt") == [
        "private key cannot be read (not an unencrypted PEM key)"]


def _aged(tree: TreeBuilder, name: str, *, lifetime_days: float, left_days: float) -> None:
    start = NOW - dt.timedelta(days=lifetime_days - left_days)
    end = NOW + dt.timedelta(days=left_days)
    spec = dataclasses.replace(tree.leaf_spec(name), not_before=start, not_after=end)
    tree.write_leaf(name, spec)


@pytest.mark.parametrize(("lifetime", "left", "warn_days", "warns"), [
    (80, 29, 60, True),   # issue 15: -warn-days 60 must warn about a certificate with 29 days left
    (60, 29, 60, True),   # a lifetime as long as the window is not "short-lived"
    (365, 29, 30, True),
    (365, 31, 30, False),
    (90, 29, 30, True),
    (45, 14, 60, True),   # shorter than the window: warns in the last third (15 days)
    (45, 16, 60, False),
    (1, 0.3, 30, True),   # admin.conf's 24 hours: the last third (8 hours)
    (1, 0.5, 30, False),
])
def test_the_expiry_warning_rule(tree: TreeBuilder, lifetime: float, left: float, warn_days: int,
                                 warns: bool) -> None:
    _aged(tree, "scheduler", lifetime_days=lifetime, left_days=left)
    report = check_tree(tree.root, CheckOptions(warn_days=warn_days))
    assert bool(by_file(report)["scheduler.conf"].warnings) is warns  # type: ignore[attr-defined]
