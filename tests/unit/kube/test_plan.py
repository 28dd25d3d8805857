"""The bootstrap plan: desired minus current, idempotent, and its dry-run script replays."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from unit.kube.kube_kit import FakeApi, replay, script_commands
from warden.kube import bootstrap, render
from warden.kube.cluster import ClusterSpec, Node, SpecError
from warden.kube.plan import Kind, Plan, same_value

SPEC = ClusterSpec("c1", nodes=(Node("cp1", "10.0.0.10", True), Node("w1", "10.0.0.21", False)),
                   user_groups=("dev",))


def apply(api: FakeApi, spec: ClusterSpec = SPEC, csr_dir: Path | None = None) -> Plan:
    _, plan = bootstrap.prepare(api, spec, csr_dir)
    bootstrap.apply(api, plan, lambda _: None)
    return plan


def kinds(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for step in plan.steps:
        out[step.kind.value] = out.get(step.kind.value, 0) + 1
    return out


def test_a_fresh_server_gets_everything() -> None:
    api = FakeApi()
    plan = apply(api)
    assert kinds(plan) == {"mount": 3, "root": 3, "role": 17, "sa-key": 1, "kv": 1, "policy": 12,
                           "token-role": 1}
    assert set(api.mounts) == {"secret", "c1/pki/k8s", "c1/pki/etcd", "c1/pki/front-proxy"}
    assert api.mounts["c1/pki/etcd"]["max_lease_ttl"] == 87600 * 3600
    assert api.token_roles["k8s-c1"]["period"] == 720 * 3600
    assert api.token_roles["k8s-c1"]["orphan"] is True
    assert "c1/k8s/user-dev" not in api.token_roles["k8s-c1"]["allowed_policies"]  # people, not machines
    assert "c1/k8s/cluster-info" in api.token_roles["k8s-c1"]["allowed_policies"]


def test_a_second_run_changes_nothing() -> None:
    api = FakeApi()
    first = apply(api)
    writes = len(api.writes)
    second = apply(api)
    assert second.empty and len(api.writes) == writes
    assert len(second.unchanged) == len(first.steps)


def test_only_what_differs_is_written() -> None:
    api = FakeApi()
    apply(api)
    api.roles[("c1/pki/k8s", "admin")]["organization"] = ["system:masters"]
    api.roles[("c1/pki/etcd", "etcd-peer-cp1")]["max_ttl"] = 999
    api.policies["c1/k8s/kube-scheduler"] = 'path "*" { capabilities = ["sudo"] }'
    api.token_roles["k8s-c1"]["orphan"] = False
    api.mounts["c1/pki/k8s"]["max_lease_ttl"] = 3600
    _, plan = bootstrap.prepare(api, SPEC)
    assert [s.summary for s in plan.steps] == [
        "tune c1/pki/k8s/: max lease TTL 87600h",
        "update role c1/pki/etcd/roles/etcd-peer-cp1 (max_ttl)",
        "update role c1/pki/k8s/roles/admin (organization)",
        "update policy c1/k8s/kube-scheduler",
        "update token role k8s-c1 (orphan)",
    ]


def test_cas_and_the_service_account_key_are_never_made_again() -> None:
    api = FakeApi()
    apply(api)
    sa = dict(api.kv["secret/c1/k8s/sa"])
    plan = apply(api, dataclasses.replace(SPEC, key_type="ec", ca_ttl="43800h"))
    assert Kind.ROOT not in {s.kind for s in plan.steps} and Kind.SA_KEY not in {s.kind for s in plan.steps}
    assert api.kv["secret/c1/k8s/sa"] == sa
    assert api.roles[("c1/pki/k8s", "apiserver")]["key_type"] == "ec"  # roles follow the new settings


def test_a_new_node_adds_its_roles_and_policies() -> None:
    api = FakeApi()
    apply(api)
    bigger = dataclasses.replace(SPEC, nodes=(*SPEC.nodes, Node("cp2", "10.0.0.11", True)))
    _, plan = bootstrap.prepare(api, bigger)
    summaries = [s.summary for s in plan.steps]
    assert "create role c1/pki/etcd/roles/etcd-server-cp2" in summaries
    assert "update role c1/pki/k8s/roles/apiserver (allowed_domains, allowed_ip_sans_cidr)" in summaries
    assert "create policy c1/k8s/etcd-cp2" in summaries
    assert "update token role k8s-c1 (allowed_policies)" in summaries
    assert not any("etcd-server-cp1" in s for s in summaries)


def test_roles_outside_the_plan_are_reported_not_deleted() -> None:
    api = FakeApi()
    apply(api)
    api.roles[("c1/pki/k8s", "legacy")] = {}
    _, plan = bootstrap.prepare(api, SPEC)
    assert plan.empty
    assert plan.notes == (
        "leaves role c1/pki/k8s/roles/legacy alone ('warden k8s bootstrap' did not make it)",)


def test_a_mount_of_another_type_is_refused() -> None:
    api = FakeApi()
    api.mounts["c1/pki/etcd"] = {"type": "kv", "max_lease_ttl": 0, "options": {}}
    with pytest.raises(SpecError, match="kv mount"):
        bootstrap.prepare(api, SPEC)


@pytest.mark.parametrize("version", [1, 2])
def test_kv_version_decides_paths(version: int) -> None:
    api = FakeApi(kv_version=version)
    apply(api)
    prefix = "secret/data/c1/k8s" if version == 2 else "secret/c1/k8s"
    assert f'path "{prefix}/sa"' in api.policies["c1/k8s/kube-apiserver"]
    assert f'path "{prefix}/cluster"' in api.policies["c1/k8s/cluster-info"]
    assert "sa" not in api.policies["c1/k8s/kube-scheduler"]
    assert set(api.kv["secret/c1/k8s/sa"]) == {"private_key", "public_key"}
    assert api.kv["secret/c1/k8s/cluster"] == SPEC.to_json()


def test_a_missing_kv_mount_is_created_as_version_2() -> None:
    api = FakeApi(kv_version=0)
    plan = apply(api)
    assert plan.steps[3].summary == "enable the kv secrets engine at secret/"
    assert api.mounts["secret"]["options"] == {"version": "2"}
    assert apply(api).empty


def test_intermediate_csrs_wait_for_import(tmp_path: Path) -> None:
    api = FakeApi()
    spec = dataclasses.replace(SPEC, intermediate=True)
    plan = apply(api, spec, tmp_path)
    assert kinds(plan)["csr"] == 3 and "root" not in kinds(plan)
    assert (tmp_path / "c1-etcd.csr").read_text() == "CSR etcd-ca\n"
    assert plan.pending_cas == ("c1/pki/k8s", "c1/pki/etcd", "c1/pki/front-proxy")
    again = apply(api, spec, tmp_path)
    assert again.empty and again.pending_cas == plan.pending_cas
    (tmp_path / "c1-k8s.csr").unlink()  # lost CSR: make a new one, for this CA only
    _, lost = bootstrap.prepare(api, spec, tmp_path)
    assert [s.path for s in lost.steps] == ["c1/pki/k8s/intermediate/generate/internal"]


def test_same_value_normalises_like_the_server() -> None:
    assert same_value("ttl", "8760h", 31536000)
    assert not same_value("ttl", "8760h", 3600)
    assert same_value("allowed_domains", ["a", "b"], ("a", "b"))
    assert not same_value("allowed_domains", ["a", "b"], ["b", "a"])
    assert not same_value("allow_any_name", False, None)
    assert same_value("key_bits", 2048, 2048)


@pytest.mark.parametrize("kv_version", [0, 1, 2])
def test_the_dry_run_script_replays_to_the_same_state(kv_version: int) -> None:
    spec = dataclasses.replace(SPEC, apiserver_sans=("api.example.net",), kubelet_serving_ca=True)
    direct = FakeApi(kv_version=kv_version)
    apply(direct, spec)
    replayed = FakeApi(kv_version=kv_version)
    _, plan = bootstrap.prepare(replayed, spec)
    text = render.script(plan)
    assert len(script_commands(text)) == len(plan.steps)
    replay(text, replayed)
    assert replayed.state() == direct.state()
    assert bootstrap.prepare(replayed, spec)[1].empty


def test_the_dry_run_of_a_bootstrapped_cluster_is_empty() -> None:
    api = FakeApi()
    apply(api)
    text = render.script(bootstrap.prepare(api, SPEC)[1])
    assert "no changes" in text and not script_commands(text)


def test_dry_run_commands_read_like_the_seed() -> None:
    _, plan = bootstrap.prepare(FakeApi(), SPEC)
    text = render.script(plan)
    assert "warden secrets enable -path=c1/pki/etcd -max-lease-ttl=87600h" in text
    assert "warden write c1/pki/etcd/root/generate/internal common_name=etcd-ca ou=c1" in text
    assert "warden policy write c1/k8s/etcd-cp1 - <<'EOT'\n# warden k8s: etcd on cp1" in text
    assert "warden write auth/token/roles/k8s-c1 allowed_policies=" in text
    assert "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048" in text
    assert 'warden kv put -cas=0 secret/c1/k8s/sa private_key=@"$sa_dir/sa.key"' in text


@pytest.mark.parametrize("key_spec", ["rsa:2048", "ec:256", "ec:384"])
def test_generated_service_account_keys(key_spec: str) -> None:
    private, public = bootstrap.generate_key_pair(key_spec)
    key = serialization.load_pem_private_key(private.encode(), None)
    assert private.startswith("-----BEGIN PRIVATE KEY-----")
    assert key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode() == public
