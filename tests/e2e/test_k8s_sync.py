"""WardenSecret and WardenCertificate against the real kube-apiserver (with
kube-controller-manager's garbage collector) and a real warden server: CRDs installed by
``warden k8s install-crds`` (explain works, bad specs refused), kv v2/v1 sync following
changes within the refresh interval, certificates issued, renewed before expiry and
re-issued on a spec change, deleting a resource deleting its Secret, and namespace B never
reaching namespace A's paths.

One warden dev server and one controller process (secret_sync + certificate_sync, with the
RBAC and the policy-free token it prints for itself) per module; each namespace logs in to
warden as its own ServiceAccount."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from support.csr_controller import ControllerProcess, unique
from support.envtest import ControlPlane
from support.server import ServerProcess
from support.warden_kube import (
    RootApi,
    account_kubeconfig,
    condition,
    configure_kubernetes_auth,
    events_of,
    get,
    ok,
    printed_rbac,
    run_warden,
    wait_for,
)

CONTROLLER_NS, CONTROLLER_SA = "kube-system", "warden-sync-controller"
API = "/apis/warden.dev/v1alpha1"
REFRESH = 3  # seconds, the resources' refreshInterval in these tests

POLICY_A = """
path "kv/data/team-a/*" { capabilities = ["read"] }
path "kv1/team-a/*" { capabilities = ["read"] }
path "apps/sign/web" { capabilities = ["update"] }
path "rotating/sign/web" { capabilities = ["update"] }
"""
POLICY_B = """
path "kv/data/team-b/*" { capabilities = ["read"] }
"""


@dataclass
class Sync:
    plane: ControlPlane
    warden: ServerProcess
    a: str  # namespace A
    b: str  # namespace B
    controller: ControllerProcess

    def apply(self, manifest: dict[str, Any]) -> None:
        self.plane.apply(manifest)

    def resource(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return get(self.plane, f"{API}/namespaces/{namespace}/{plural}/{name}")

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return get(self.plane, f"/api/v1/namespaces/{namespace}/secrets/{name}")



def _install_crds(plane: ControlPlane) -> str:
    kubeconfig = plane.kubeconfig_path()
    first = ok(run_warden("k8s", "install-crds", f"-kubeconfig={kubeconfig}"))
    again = ok(run_warden("k8s", "install-crds", f"-kubeconfig={kubeconfig}"))
    return first + again


@pytest.fixture(scope="module")
def sync(
    kube_control_plane: ControlPlane, dev_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sync]:
    plane, server = kube_control_plane, dev_server
    folder = tmp_path_factory.mktemp("sync")
    installed = _install_crds(plane)
    assert installed.count("established") == 4, installed
    started_gc = plane.controller_manager is None
    if started_gc:
        plane.start_controller_manager(["--controllers=garbagecollector"])
    configure_kubernetes_auth(server, plane)
    api = RootApi(server)
    api.mount("kv", "kv", version="2")
    api.mount("kv1", "kv", version="1")
    api.mount("apps", "pki", max_ttl="87600h")
    api.write("apps/root/generate/internal", common_name="apps-ca", ttl="87600h")
    api.write(
        "apps/roles/web",
        allowed_domains="example.com",
        allow_subdomains=True,
        allow_ip_sans=True,
        key_type="any",
        ttl="1h",
        max_ttl="24h",
    )
    a, b = unique("team-a"), unique("team-b")
    for namespace, policy in ((a, POLICY_A), (b, POLICY_B)):
        plane.ensure_service_account(namespace, "warden-sync")
        api.policy(namespace, policy)
        api.write(
            f"auth/kubernetes/role/{namespace}",
            bound_service_account_names="warden-sync",
            bound_service_account_namespaces=namespace,
            token_policies=namespace,
            ttl="10m",
        )
    token = api.orphan_token("default")
    (folder / "token").write_text(token)
    lease = unique("sync-lease")
    config = folder / "controller.hcl"
    kubeconfig = account_kubeconfig(plane, CONTROLLER_NS, CONTROLLER_SA, folder / "kc")
    config.write_text(
        f'warden {{ address = "{server.url}" }}\n'
        f'auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{folder / "token"}" }} }} }}\n'
        f'kubernetes {{ kubeconfig = "{kubeconfig}" }}\n'
        f'leader_election {{ namespace = "{CONTROLLER_NS}"  name = "{lease}"\n'
        f'  lease_duration = "5s"  renew_deadline = "2.5s"  retry_period = "1s" }}\n'
        f'secret_sync {{ namespaces = ["{a}", "{b}"] }}\n'
        f'certificate_sync {{ namespaces = ["{a}", "{b}"] }}\n'
    )
    rbac = printed_rbac(config, CONTROLLER_NS, CONTROLLER_SA)
    plane.kubectl("apply", "-f", "-", input=rbac)
    controller = ControllerProcess(config, folder / "controller.log").start()
    try:
        controller.wait_log("became the leader")
        controller.wait_log("watching", count=2)
        yield Sync(plane, server, a, b, controller)
    finally:
        controller.stop()
        if started_gc and plane.controller_manager is not None:
            plane.controller_manager.stop()
            plane.controller_manager = None


def wardensecret(namespace: str, name: str, path: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "warden.dev/v1alpha1",
        "kind": "WardenSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"path": path, "secretName": secret, "refreshInterval": f"{REFRESH}s", **spec},
    }


def wardencertificate(namespace: str, name: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "warden.dev/v1alpha1",
        "kind": "WardenCertificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"mount": "apps", "role": "web", "secretName": secret, **spec},
    }


def decoded(secret: dict[str, Any] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in ((secret or {}).get("data") or {}).items()}


# -- CRDs -----------------------------------------------------------------------------------


def test_crds_explain_and_refuse_bad_specs(sync: Sync) -> None:
    printed = ok(run_warden("k8s", "install-crds", "-print"))
    repo = Path(__file__).resolve().parents[2] / "deploy" / "crds"
    for shipped in sorted(repo.glob("*.yaml")):
        assert shipped.read_text() in printed
    explained = sync.plane.kubectl("explain", "wardensecrets.spec.refreshInterval").stdout
    assert "How often warden is read again" in explained
    explained = sync.plane.kubectl("explain", "wardencertificates.spec.privateKey.algorithm").stdout
    assert "ECDSA" in explained
    bad = wardensecret(sync.a, "bad", "kv/team-a/x", "x")
    del bad["spec"]["secretName"]
    refused = sync.plane.kubectl("apply", "-f", "-", input=_yaml(bad), check=False)
    assert refused.returncode != 0 and "spec.secretName: Required value" in refused.stderr
    bad = wardensecret(sync.a, "bad", "kv/team-a/x", "x", refreshInterval="soon")
    refused = sync.plane.kubectl("apply", "-f", "-", input=_yaml(bad), check=False)
    assert refused.returncode != 0 and "spec.refreshInterval" in refused.stderr
    no_names = wardencertificate(sync.a, "bad", "x")
    refused = sync.plane.kubectl("apply", "-f", "-", input=_yaml(no_names), check=False)
    assert refused.returncode != 0 and "at least one of commonName, dnsNames or ipAddresses" in refused.stderr
    bad_key = wardencertificate(
        sync.a, "bad", "x", commonName="a.example.com", privateKey={"algorithm": "DSA"}
    )
    refused = sync.plane.kubectl("apply", "-f", "-", input=_yaml(bad_key), check=False)
    assert refused.returncode != 0 and "spec.privateKey.algorithm" in refused.stderr


def _yaml(doc: dict[str, Any]) -> str:
    return str(yaml.safe_dump(doc))


# -- WardenSecret ----------------------------------------------------------------------------


def test_kv_v2_sync_follows_changes_within_the_refresh_interval(sync: Sync) -> None:
    client = sync.warden.client()
    client.secrets.kv.v2.create_or_update_secret(
        "team-a/db", {"user": "app", "password": "one"}, mount_point="kv"
    )
    sync.apply(
        wardensecret(
            sync.a,
            "db",
            "kv/team-a/db",
            "db-creds",
            keys=[{"key": "DB_PASSWORD", "from": "password"}],
            templates={"dsn": "postgres://{{ data.user }}:{{ data.password }}@db/app"},
        )
    )
    secret = wait_for("the Secret is written", lambda: sync.secret(sync.a, "db-creds"))
    assert decoded(secret) == {"DB_PASSWORD": "one", "dsn": "postgres://app:one@db/app"}
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("WardenSecret", "db", True)
    ready = wait_for("Ready", lambda: _ready(sync.resource("wardensecrets", sync.a, "db")))
    assert ready["status"]["syncedVersion"] == 1 and ready["status"]["lastSyncTime"]
    assert condition(ready, "Ready")["reason"] == "Synced"  # type: ignore[index]

    client.secrets.kv.v2.create_or_update_secret(
        "team-a/db", {"user": "app", "password": "two"}, mount_point="kv"
    )
    changed = time.monotonic()
    wait_for(
        "the change reaches the Secret",
        lambda: decoded(sync.secret(sync.a, "db-creds")).get("DB_PASSWORD") == "two",
        timeout=REFRESH + 30,
        interval=0.1,
    )
    latency = time.monotonic() - changed
    print(f"kv change reached the Secret after {latency:.2f}s (refreshInterval {REFRESH}s)")
    assert latency < REFRESH + 10, latency  # the interval plus a loaded machine's slack
    status = wait_for(
        "syncedVersion 2",
        lambda: (
            (sync.resource("wardensecrets", sync.a, "db") or {}).get("status", {}).get("syncedVersion") == 2
            and sync.resource("wardensecrets", sync.a, "db")
        ),
    )
    assert status["status"]["secretName"] == "db-creds"
    assert any(e["reason"] == "Synced" for e in events_of(sync.plane, sync.a, "db"))


def test_kv_v1_sync_and_an_edited_secret_is_restored(sync: Sync) -> None:
    sync.warden.client().secrets.kv.v1.create_or_update_secret(
        "team-a/api", {"token": "t1"}, mount_point="kv1"
    )
    sync.apply(wardensecret(sync.a, "api", "kv1/team-a/api", "api"))
    wait_for("kv v1 synced", lambda: decoded(sync.secret(sync.a, "api")) == {"token": "t1"})
    sync.warden.client().secrets.kv.v1.create_or_update_secret(
        "team-a/api", {"token": "t2"}, mount_point="kv1"
    )
    wait_for(
        "kv v1 change synced",
        lambda: decoded(sync.secret(sync.a, "api")) == {"token": "t2"},
        timeout=REFRESH + 30,
    )
    edited = {"data": {"token": base64.b64encode(b"tampered").decode()}}
    with sync.plane.http() as http:
        answer = http.patch(
            f"/api/v1/namespaces/{sync.a}/secrets/api",
            json=edited,
            headers={"Content-Type": "application/merge-patch+json"},
        )
    assert answer.status_code == 200, answer.text
    wait_for(
        "the edit is undone",
        lambda: decoded(sync.secret(sync.a, "api")) == {"token": "t2"},
        timeout=REFRESH + 30,
    )


def test_a_pinned_kv_v2_version_is_kept(sync: Sync) -> None:
    client = sync.warden.client()
    client.secrets.kv.v2.create_or_update_secret("team-a/pinned", {"v": "first"}, mount_point="kv")
    client.secrets.kv.v2.create_or_update_secret("team-a/pinned", {"v": "second"}, mount_point="kv")
    sync.apply(wardensecret(sync.a, "pinned", "kv/team-a/pinned", "pinned", version=1))
    wait_for("version 1 synced", lambda: decoded(sync.secret(sync.a, "pinned")) == {"v": "first"})
    status = wait_for("Ready", lambda: _ready(sync.resource("wardensecrets", sync.a, "pinned")))["status"]
    assert status["syncedVersion"] == 1


def test_deleting_a_resource_deletes_its_secret(sync: Sync) -> None:
    sync.warden.client().secrets.kv.v2.create_or_update_secret("team-a/gone", {"k": "v"}, mount_point="kv")
    sync.apply(wardensecret(sync.a, "gone", "kv/team-a/gone", "gone"))
    wait_for("synced", lambda: sync.secret(sync.a, "gone"))
    sync.plane.kubectl("delete", "wardensecret", "gone", "-n", sync.a)
    wait_for(
        "the Secret is garbage-collected",
        lambda: sync.secret(sync.a, "gone") is None,
        timeout=120,
        interval=0.5,
    )


def test_a_missing_secret_and_a_foreign_secret_are_reported(sync: Sync) -> None:
    sync.apply(wardensecret(sync.a, "nothing", "kv/team-a/none", "nothing"))
    found = wait_for(
        "NotFound", lambda: _reason(sync.resource("wardensecrets", sync.a, "nothing"), "NotFound")
    )
    assert condition(found, "Ready")["status"] == "False"  # type: ignore[index]
    sync.plane.kubectl("create", "secret", "generic", "hand-made", "-n", sync.a, "--from-literal=x=y")
    sync.warden.client().secrets.kv.v2.create_or_update_secret("team-a/hm", {"k": "v"}, mount_point="kv")
    sync.apply(wardensecret(sync.a, "hm", "kv/team-a/hm", "hand-made"))
    wait_for(
        "SecretNotOwned", lambda: _reason(sync.resource("wardensecrets", sync.a, "hm"), "SecretNotOwned")
    )
    assert decoded(sync.secret(sync.a, "hand-made")) == {"x": "y"}


# -- tenancy -----------------------------------------------------------------------------------


def test_namespace_b_cannot_reach_namespace_a_paths(sync: Sync) -> None:
    client = sync.warden.client()
    client.secrets.kv.v2.create_or_update_secret("team-a/secret", {"only": "for-a"}, mount_point="kv")
    client.secrets.kv.v2.create_or_update_secret("team-b/own", {"mine": "b"}, mount_point="kv")
    sync.apply(wardensecret(sync.b, "steal", "kv/team-a/secret", "stolen"))
    sync.apply(wardencertificate(sync.b, "steal-cert", "stolen-tls", commonName="b.example.com"))
    sync.apply(wardensecret(sync.b, "own", "kv/team-b/own", "own"))
    wait_for("B reads its own path", lambda: decoded(sync.secret(sync.b, "own")) == {"mine": "b"})
    denied = wait_for(
        "PermissionDenied",
        lambda: _reason(sync.resource("wardensecrets", sync.b, "steal"), "PermissionDenied"),
    )
    assert sync.b in condition(denied, "Ready")["message"]  # type: ignore[index]
    wait_for(
        "certificate PermissionDenied",
        lambda: _reason(sync.resource("wardencertificates", sync.b, "steal-cert"), "PermissionDenied"),
    )
    time.sleep(REFRESH + 1)  # and it stays so across refreshes
    assert sync.secret(sync.b, "stolen") is None and sync.secret(sync.b, "stolen-tls") is None
    assert _reason(sync.resource("wardensecrets", sync.b, "steal"), "PermissionDenied")
    assert any(e["reason"] == "PermissionDenied" for e in events_of(sync.plane, sync.b, "steal"))
    # the same resource in A works: the difference is the namespace's login, nothing else
    sync.apply(wardensecret(sync.a, "steal", "kv/team-a/secret", "stolen"))
    wait_for("A reads it", lambda: decoded(sync.secret(sync.a, "stolen")) == {"only": "for-a"})


# -- WardenCertificate -----------------------------------------------------------------------


def test_certificate_issued_renewed_before_expiry_and_reissued_on_spec_change(sync: Sync) -> None:
    sync.apply(
        wardencertificate(
            sync.a,
            "web",
            "web-tls",
            commonName="web.example.com",
            dnsNames=["web.example.com"],
            duration="60s",
            renewBefore="52s",
        )
    )
    first = wait_for("issued", lambda: _revision(sync.resource("wardencertificates", sync.a, "web"), 1))
    secret = sync.secret(sync.a, "web-tls")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    leaf, key, ca = _tls(secret)
    _verify(leaf, ca, "web.example.com")
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    status = first["status"]
    assert _ts(status["notAfter"]) == leaf.not_valid_after_utc
    assert _ts(status["renewalTime"]) == leaf.not_valid_after_utc - dt.timedelta(seconds=52)
    assert status["serialNumber"].replace(":", "").lstrip("0") == f"{leaf.serial_number:x}".lstrip("0")
    assert condition(first, "Ready")["status"] == "True" and condition(first, "Issuing") is None  # type: ignore[index]
    reasons = {e["reason"] for e in events_of(sync.plane, sync.a, "web")}
    assert {"Issuing", "Issued"} <= reasons

    renewed = wait_for(
        "renewed before expiry",
        lambda: _revision(sync.resource("wardencertificates", sync.a, "web"), 2),
        timeout=90,
    )
    new_leaf = _tls(sync.secret(sync.a, "web-tls"))[0]  # type: ignore[arg-type]
    assert new_leaf.serial_number != leaf.serial_number
    assert dt.datetime.now(dt.UTC) < leaf.not_valid_after_utc, "renewed before the old one expired"
    assert renewed["status"]["serialNumber"] != status["serialNumber"]

    spec_change = wardencertificate(
        sync.a,
        "web",
        "web-tls",
        commonName="web.example.com",
        dnsNames=["web.example.com", "www.example.com"],
        duration="1h",
    )
    sync.apply(spec_change)

    def reissued() -> x509.Certificate | None:
        found = sync.secret(sync.a, "web-tls")
        leaf = _tls(found)[0] if found else None
        return (
            leaf
            if leaf is not None and sorted(_dns_names(leaf)) == ["web.example.com", "www.example.com"]
            else None
        )

    leaf3 = wait_for("re-issued for the new spec", reissued)
    assert _revision(wait_for("Ready", lambda: _ready(sync.resource("wardencertificates", sync.a, "web"))), 3)
    assert 3500 <= (leaf3.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() <= 3600


def test_a_certificate_never_takes_over_a_foreign_secret(sync: Sync) -> None:
    sync.plane.kubectl("create", "secret", "generic", "taken-tls", "-n", sync.a, "--from-literal=x=y")
    sync.apply(wardencertificate(sync.a, "taken", "taken-tls", commonName="taken.example.com"))
    wait_for(
        "SecretNotOwned",
        lambda: _reason(sync.resource("wardencertificates", sync.a, "taken"), "SecretNotOwned"),
    )
    assert decoded(sync.secret(sync.a, "taken-tls")) == {"x": "y"}


def test_while_the_ca_rotates_ca_crt_holds_the_old_and_the_new_ca(sync: Sync) -> None:
    api = RootApi(sync.warden)
    api.mount("rotating", "pki", max_ttl="87600h")
    old = api.write("rotating/root/generate/internal", common_name="old-ca", ttl="87600h")
    api.write("rotating/roles/web", allowed_domains="example.com", allow_subdomains=True,
              key_type="any", ttl="1h")
    new = api.write("rotating/root/generate/internal", common_name="new-ca", ttl="87600h", issuer_name="next")
    sync.apply(wardencertificate(sync.a, "rot", "rot-tls", mount="rotating", commonName="rot.example.com"))
    wait_for("issued", lambda: _revision(sync.resource("wardencertificates", sync.a, "rot"), 1))
    bundle = x509.load_pem_x509_certificates(decoded(sync.secret(sync.a, "rot-tls"))["ca.crt"].encode())
    subjects = sorted(c.subject.rfc4514_string() for c in bundle)
    assert subjects == ["CN=new-ca", "CN=old-ca"], subjects
    assert old["data"]["issuer_id"] != new["data"]["issuer_id"]
    leaf = _tls(sync.secret(sync.a, "rot-tls"))[0]  # type: ignore[arg-type]
    verifier = PolicyBuilder().store(Store(bundle)).build_server_verifier(x509.DNSName("rot.example.com"))
    verifier.verify(leaf, [])


def test_a_refused_certificate_fails_with_reason_and_event(sync: Sync) -> None:
    sync.apply(wardencertificate(sync.a, "evil", "evil-tls", commonName="evil.other.org"))
    failed = wait_for(
        "Failed", lambda: _reason(sync.resource("wardencertificates", sync.a, "evil"), "WardenRefused")
    )
    issuing = condition(failed, "Issuing")
    assert issuing is not None and issuing["status"] == "False" and issuing["reason"] == "Failed"
    assert failed["status"]["failedIssuanceAttempts"] >= 1 and failed["status"]["lastFailureTime"]
    assert sync.secret(sync.a, "evil-tls") is None
    assert any(
        e["reason"] == "Failed" and e["type"] == "Warning" for e in events_of(sync.plane, sync.a, "evil")
    )


# -- helpers -----------------------------------------------------------------------------------


def _ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    found = condition(obj, "Ready")
    return obj if found is not None and found["status"] == "True" else None


def _reason(obj: dict[str, Any] | None, reason: str) -> dict[str, Any] | None:
    found = condition(obj, "Ready")
    return obj if found is not None and found.get("reason") == reason else None


def _revision(obj: dict[str, Any] | None, revision: int) -> dict[str, Any] | None:
    status = (obj or {}).get("status") or {}
    return obj if status.get("revision", 0) >= revision and _ready(obj) else None


def _dns_names(cert: x509.Certificate) -> list[str]:
    return list(
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    )


def _tls(secret: dict[str, Any]) -> tuple[x509.Certificate, Any, x509.Certificate]:
    data = decoded(secret)
    leaf = x509.load_pem_x509_certificates(data["tls.crt"].encode())[0]
    key = serialization.load_pem_private_key(data["tls.key"].encode(), None)
    return leaf, key, x509.load_pem_x509_certificate(data["ca.crt"].encode())


def _verify(leaf: x509.Certificate, ca: x509.Certificate, name: str) -> None:
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [])


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(autouse=True)
def _controller_alive(sync: Sync) -> Iterator[None]:
    yield
    assert sync.controller.alive(), sync.controller.text()[-3000:]
