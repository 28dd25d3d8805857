"""``warden k8s bootstrap -pod-certificates``: the workloads CA, role and policy in the desired
state, the controller configuration it prints (parsed by the controller itself), its flags."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from warden.agent.config_source import parse_document
from warden.cli.cmd_k8s import _bootstrap_parser, spec_from_args
from warden.cli.common import parse
from warden.controllers.config import parse_config
from warden.controllers.kinds import KINDS
from warden.kube import kubelet_signer, pod_certificates
from warden.kube.cluster import ClusterSpec, Node, SpecError, validate
from warden.kube.desired import desired

SPEC = ClusterSpec("c1", nodes=(Node("cp1", "10.0.0.10", True),), pod_certificates=True)


def args(*argv: str) -> argparse.Namespace:
    return parse(_bootstrap_parser("warden k8s bootstrap"), ["c1", *argv])


def test_the_flags_reach_the_stored_settings() -> None:
    spec = spec_from_args(args("-control-plane", "cp1=10.0.0.10", "-pod-certificates", "-trust-domain",
                               "c1.example.com"), None)
    assert spec.pod_certificates and spec.trust_domain == "c1.example.com"
    assert ClusterSpec.from_json(spec.to_json()) == spec
    assert spec_from_args(args(), spec) == spec  # a later run keeps them
    with pytest.raises(SpecError, match="invalid trust domain"):
        validate(dataclasses.replace(spec, trust_domain="Not A Domain"))


def test_desired_state_has_a_separate_ca_a_spiffe_only_role_and_a_sign_only_policy() -> None:
    d = desired(SPEC, kv_version=2)
    assert "c1/pki/workloads" in [m.path for m in d.mounts]
    ca = next(c for c in d.cas if c.mount == "c1/pki/workloads")
    assert ca.data["common_name"] == "workloads-ca" and ca.data["ttl"] == SPEC.ca_ttl
    role = next(r for r in d.roles if r.mount == "c1/pki/workloads")
    assert role.name == "workloads" and role.data["allowed_uri_sans"] == ["spiffe://c1.cluster.local/ns/*/sa/*"]
    assert not any(role.data[k] for k in ("use_csr_sans", "use_csr_common_name", "require_cn",
                                          "allow_any_name", "allow_ip_sans"))
    assert role.data["max_ttl"] == "24h"
    policy = d.policies["c1/k8s/pod-certificates"]
    assert 'path "c1/pki/workloads/sign/workloads"' in policy and "issue" not in policy
    assert "c1/k8s/pod-certificates" in d.token_role_data["allowed_policies"]
    without = desired(dataclasses.replace(SPEC, pod_certificates=False), kv_version=2)
    assert "c1/pki/workloads" not in [m.path for m in without.mounts]
    offline = desired(dataclasses.replace(SPEC, intermediate=True), kv_version=2)
    # with an offline root, a CSR: no lifetime of its own
    assert "ttl" not in next(c for c in offline.cas if c.mount == "c1/pki/workloads").data


def test_the_printed_configuration_is_one_the_controller_accepts() -> None:
    both = dataclasses.replace(SPEC, kubelet_signer=True, kubelet_serving_ca=True)
    text = kubelet_signer.controller_config(both, "https://warden:8200")
    config = parse_config(parse_document(text, yaml_format=False), {}, KINDS)
    by_block = {c.kind.block: c.settings for c in config.controllers}
    assert set(by_block) == {"signer", "pod_certificate_signer", "cluster_trust_bundle"}
    signer = by_block["pod_certificate_signer"].signers["warden.dev/c1-workloads"]
    assert (signer.mount, signer.role) == ("c1/pki/workloads", "workloads")
    assert signer.trust_domain == "c1.cluster.local"
    assert sorted(by_block["cluster_trust_bundle"].bundles) == ["c1-front-proxy", "c1-k8s", "c1-kubelet"]
    assert kubelet_signer.auth_role_data(both)["token_policies"] == ["c1/k8s/csr-controller",
                                                                     "c1/k8s/pod-certificates"]
    text = kubelet_signer.controller_config(SPEC, "https://w")
    only_pods = parse_config(parse_document(text, yaml_format=False), {}, KINDS)
    assert [c.kind.block for c in only_pods.controllers] == ["pod_certificate_signer", "cluster_trust_bundle"]
    assert kubelet_signer.auth_role_data(SPEC)["token_policies"] == ["c1/k8s/pod-certificates"]


def test_cluster_settings_name_the_apiserver_and_kubelet_flags() -> None:
    lines = pod_certificates.cluster_settings(SPEC)
    assert ("kube-apiserver: --feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,"
            "ClusterTrustBundleProjection=true") in lines
    assert "kube-apiserver: --runtime-config=certificates.k8s.io/v1beta1=true" in lines
    assert pod_certificates.trust_domain(dataclasses.replace(SPEC, trust_domain="x.example")) == "x.example"
