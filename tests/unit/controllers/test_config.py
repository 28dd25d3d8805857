"""The controller's configuration: the agent's blocks, the runtime's own, and signer blocks;
every refusal names the block and key."""

from __future__ import annotations

from typing import Any

import pytest

from warden.agent.config_parse import ConfigError
from warden.agent.config_source import parse_document
from warden.controllers.config import parse_config
from warden.controllers.kinds import KINDS
from warden.controllers.rbac import manifests

BASE = """
warden { address = "https://warden:8200" }
auto_auth { method "kubernetes" { config = { role = "csr-controller" } } }
kubernetes { kubeconfig = "/etc/warden/controller.kubeconfig" }
leader_election { namespace = "kube-system"  name = "warden-csr-controller" }
"""
ISSUE_EXAMPLE = BASE + """
signer "kubernetes.io/kubelet-serving"              { mount = "c1/pki/kubelet"  role = "kubelet-serving"  approve = "node-addresses" }
signer "kubernetes.io/kube-apiserver-client-kubelet" { mount = "c1/pki/k8s"     role = "kubelet-client"   approve = "node-client" }
signer "warden.dev/c1-apps"                         { mount = "c1/pki/apps"    role = "apps" }          # no approve
"""  # noqa: E501


def parse(text: str) -> Any:
    return parse_config(parse_document(text, yaml_format=False), {}, KINDS)


def test_the_issues_example_parses() -> None:
    config = parse(ISSUE_EXAMPLE)
    assert config.server.address == "https://warden:8200"
    method = config.auto_auth.method
    assert method.type == "kubernetes" and method.mount_path == "auth/kubernetes"
    assert str(config.kubernetes.kubeconfig) == "/etc/warden/controller.kubeconfig"
    lease = config.leader_election
    assert (lease.namespace, lease.name, lease.lease_duration, lease.renew_deadline, lease.retry_period) == (
        "kube-system", "warden-csr-controller", 15.0, 10.0, 2.0)
    (csr,) = config.controllers
    signers = csr.settings.signers
    assert signers["kubernetes.io/kubelet-serving"].sign_path == "c1/pki/kubelet/sign/kubelet-serving"
    assert signers["kubernetes.io/kube-apiserver-client-kubelet"].approve == "node-client"
    assert signers["warden.dev/c1-apps"].approve == ""


def test_yaml_and_json_work_too() -> None:
    text = ('{"warden": {"address": "http://127.0.0.1:8200"}, '
            '"auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": "/t"}}}, '
            '"signer": {"example.com/x": {"mount": "pki", "role": "r"}}}')
    assert parse(text).controllers[0].settings.signers["example.com/x"].role == "r"
    yaml_text = ("warden: {address: 'http://127.0.0.1:8200'}\nauto_auth: {method: {type: token_file, config: "
                 "{token_file_path: /t}}}\nsigner: {'example.com/x': {mount: pki, role: r}}\n")
    config = parse_config(parse_document(yaml_text, yaml_format=True), {}, KINDS)
    assert config.kubernetes.kubeconfig is None  # in-cluster


@pytest.mark.parametrize(("extra", "words"), [
    ('signer "kubernetes.io/legacy-unknown" { mount = "p"  role = "r" }', "legacy-unknown"),
    ('signer "not-a-signer-name" { mount = "p"  role = "r" }', "<domain>/<path>"),
    ('signer "example.com/x" { mount = "p" }', 'missing required key "role"'),
    ('signer "example.com/x" { mount = "p"  role = "r"  colour = "red" }', 'unknown key "colour"'),
    ('signer "example.com/x" { mount = "p"  role = "r"  approve = "node-client" }', "approves kubernetes"),
    ('signer "example.com/x" { mount = "p"  role = "r"  approve = "everyone" }', "unknown approver"),
    ('signer "example.com/x" { mount = "p"  role = "r"  method = "issue" }', "method"),
    ('signer "example.com/x" { mount = "p"  role = "r" }\nsigner "example.com/x" { mount = "q"  role = "r" }',
     "twice"),
    ('frobnicate { }', 'unknown top-level block "frobnicate"'),
    ('signer { mount = "p"  role = "r" }', 'give the block a label, as in signer "NAME"'),
    ('signer { }', "give the signerName as the block's label"),
    ('signer "example.com/x" { mount = "p"  role = "r r" }', "is not a role name"),
    ('pod_certificate_signer { }', "give the signerName as the block's label"),
    ('secret_sync { namespaces = ["a"] }\nsecret_sync { namespaces = ["b"] }',
     "configure this controller once"),
    ('secret_sync "x" { namespaces = ["a"] }', "this block takes no label"),
    ('pod_credentials { roles = ["r"] }\npod_credentials { roles = ["s"] }',
     "configure pod_credentials once"),
    ('pod_credentials "x" { roles = ["r"] }', "this block takes no label"),
])
def test_bad_signer_settings_are_refused_with_the_key(extra: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse(BASE + extra)


def test_no_controller_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no controller is configured"):
        parse(BASE)


@pytest.mark.parametrize(("settings", "words"), [
    ('lease_duration = "10s"  renew_deadline = "8s"  retry_period = "2s"', "longer than renew_deadline"),
    ('renew_deadline = "2s"  retry_period = "2s"', "retry_period < renew_deadline"),
    ('name = ""', "must not be empty"),
])
def test_unsafe_lease_timings_are_refused(settings: str, words: str) -> None:
    lease = 'leader_election { namespace = "kube-system"  name = "warden-csr-controller" }'
    text = ISSUE_EXAMPLE.replace(lease, f"leader_election {{ {settings} }}")
    with pytest.raises(ConfigError, match=words):
        parse(text)


@pytest.mark.parametrize(("auth", "words"), [
    ('auto_auth { method "approle" { config = { role_id_file_path = "/r" } }\n'
     '  sink "file" { config = { path = "/tmp/t" } } }', "keeps its token to itself"),
    ('auto_auth { method "kubernetes" { wrap_ttl = "5m"  config = { role = "x" } } }', "wrap_ttl"),
])
def test_auth_settings_a_controller_cannot_use(auth: str, words: str) -> None:
    method = 'auto_auth { method "kubernetes" { config = { role = "csr-controller" } } }'
    text = ISSUE_EXAMPLE.replace(method, auth)
    with pytest.raises(ConfigError, match=words):
        parse(text)


def test_rbac_covers_the_signers_the_approvers_and_the_lease() -> None:
    docs = manifests(parse(ISSUE_EXAMPLE), service_account="sa", namespace="kube-system")
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    rules = docs[1]["rules"]
    sign = next(r for r in rules if r["resources"] == ["signers"] and r["verbs"] == ["sign"])
    assert sign["resourceNames"] == ["kubernetes.io/kube-apiserver-client-kubelet",
                                     "kubernetes.io/kubelet-serving", "warden.dev/c1-apps"]
    approve = next(r for r in rules if r["resources"] == ["signers"] and r["verbs"] == ["approve"])
    assert "warden.dev/c1-apps" not in approve["resourceNames"]
    assert any(r["resources"] == ["subjectaccessreviews"] for r in rules)
    assert any(r["resources"] == ["nodes"] and r["verbs"] == ["get"] for r in rules)
    lease_rules = docs[3]["rules"]
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "resourceNames": ["warden-csr-controller"], "verbs": ["get", "update"]} in lease_rules
