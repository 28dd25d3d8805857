"""The file map bootstrap stores for the dashboard: each role's file, component, CA and nodes."""

from __future__ import annotations

import dataclasses

from warden.kube.cluster import ClusterSpec, Node
from warden.kube.dashboard import SETTINGS_KEY, certificate_files, cluster_settings
from warden.kube.identity import role_identities

SPEC = ClusterSpec("c1", nodes=(Node("cp1", "10.0.0.10", True), Node("cp2", "10.0.0.11", True),
                               Node("w1", "10.0.0.21")))


def test_every_role_has_its_file_and_the_nodes_that_hold_it() -> None:
    files = certificate_files(SPEC)
    assert set(files) == {i.role for i in role_identities(SPEC)}
    assert files["etcd-peer-cp2"] == {"file": "pki/etcd/peer.crt", "component": "etcd", "ca": "etcd",
                                      "nodes": ["cp2"], "names_node": True}
    serving = files["kubelet-serving-w1"]
    assert serving["file"] == "pki/kubelet.crt" and serving["ca"] == "k8s" and serving["nodes"] == ["w1"]
    assert files["apiserver"]["nodes"] == ["cp1", "cp2"] and files["apiserver"]["names_node"] is True
    assert files["kube-proxy"]["nodes"] == ["cp1", "cp2", "w1"] and files["kube-proxy"]["names_node"] is False
    assert files["scheduler"] == {"file": "scheduler.conf", "component": "kube-scheduler", "ca": "k8s",
                                  "nodes": ["cp1", "cp2"], "names_node": False}


def test_a_separate_kubelet_serving_ca_is_named() -> None:
    files = certificate_files(dataclasses.replace(SPEC, kubelet_serving_ca=True))
    assert files["kubelet-serving-cp1"]["ca"] == "kubelet"


def test_the_settings_still_read_back_as_the_spec() -> None:
    settings = cluster_settings(SPEC)
    assert SETTINGS_KEY in settings and ClusterSpec.from_json(settings) == SPEC
