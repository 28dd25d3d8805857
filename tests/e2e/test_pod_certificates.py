"""Pod certificates against the real kube-apiserver v1.36 and a real warden server: the test
plays the kubelet (PodCertificateRequests created as the pod's node, with a stub PKCS#10
request or the older proof of possession, both checked by the apiserver), and
``warden k8s controller`` answers them through warden's PKI and publishes the trust bundles
as ClusterTrustBundles.

One warden dev server, one cluster (pc1, bootstrapped with -pod-certificates) and one
controller (its own Lease) per module; the replica race starts its own pair for a signer
the module's controller does not serve."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from support.csr_controller import ControllerProcess, controller_kubeconfig, unique
from support.envtest import ControlPlane, free_port
from support.pod_certs import (
    Kubelet,
    Workload,
    bundle_certs,
    chain_of,
    condition,
    dns_names,
    issued,
    kube_time,
    new_key,
    public_der,
    stub_csr,
    uris,
)
from support.server import ServerProcess, ok
from support.warden_kube import printed_rbac

CLUSTER = "pc1"
WORKLOADS = "warden.dev/pc1-workloads"
TEAM = "warden.dev/pc1-team-a"
MISFIT = "warden.dev/pc1-misfit"
RACE = "warden.dev/pc1-race"
TRUST_DOMAIN = "pc1.cluster.local"
WORKLOADS_BUNDLE = "warden.dev:pc1-workloads:trust-bundle"
TEAM_BUNDLE = "warden.dev:pc1-team-a:trust-bundle"
FAST_LEASE = 'lease_duration = "5s"\n  renew_deadline = "2.5s"\n  retry_period = "1s"'
SA_NAMESPACE, SA_NAME = "kube-system", "warden-csr-controller"

SIGNERS = f"""
pod_certificate_signer "{WORKLOADS}" {{
  mount = "pc1/pki/workloads"  role = "workloads"  trust_domain = "{TRUST_DOMAIN}"
  bundle_refresh = "1s"  bundle_labels = {{ "warden.dev/cluster" = "pc1" }}
}}
pod_certificate_signer "{TEAM}" {{
  mount = "pc1/pki/team"  role = "team-a"  trust_domain = "{TRUST_DOMAIN}"  bundle_refresh = "1s"
  allowed_namespaces = ["team-a-*"]
  allowed_service_accounts = ["*/api", "*/web"]
  dns_names = ["{{{{pod}}}}.{{{{namespace}}}}.pod.cluster.local"]
}}
pod_certificate_signer "{MISFIT}" {{
  mount = "pc1/pki/workloads"  role = "workloads"  trust_domain = "elsewhere.example"  trust_bundle = false
}}
cluster_trust_bundle "pc1-k8s" {{ mount = "pc1/pki/k8s"  refresh = "1s" }}
cluster_trust_bundle "pc1-front-proxy" {{
  mount = "pc1/pki/front-proxy"  refresh = "1s"  labels = {{ "warden.dev/cluster" = "pc1" }}
}}
"""
RACE_SIGNER = f"""
pod_certificate_signer "{RACE}" {{
  mount = "pc1/pki/race"  role = "race"  trust_domain = "{TRUST_DOMAIN}"  trust_bundle = false
}}
"""
CUSTOM_POLICY = """
path "pc1/pki/team/sign/team-a" { capabilities = ["update"] }
path "pc1/pki/team/roles/team-a" { capabilities = ["read"] }
path "pc1/pki/race/sign/race" { capabilities = ["update"] }
path "pc1/pki/race/roles/race" { capabilities = ["read"] }
"""
POD_ROLE = ("require_cn=false", "use_csr_common_name=false", "use_csr_sans=false",
            "server_flag=true", "client_flag=true", "ttl=1h")


@dataclass
class Setup:
    plane: ControlPlane
    warden: ServerProcess
    kubelet: Kubelet
    folder: Path
    kubeconfig: Path
    token_file: Path
    bootstrap_output: str

    def config(self, lease: str, signers: str, *, listener: int | None = None) -> Path:
        listen = f'listener "tcp" {{ address = "127.0.0.1:{listener}" }}\n' if listener else ""
        text = (f'warden {{ address = "{self.warden.url}" }}\n'
                f'auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{self.token_file}" }} }}'
                ' }\n'
                f'kubernetes {{ kubeconfig = "{self.kubeconfig}" }}\n'
                f'leader_election {{\n  namespace = "{SA_NAMESPACE}"  name = "{lease}"\n  {FAST_LEASE}\n}}\n'
                f"{listen}{signers}\n")
        path = self.folder / f"{lease}.hcl"
        path.write_text(text)
        return path

    def serials(self, mount: str) -> set[str]:
        body = self.warden.client().secrets.pki.list_certificates(mount_point=mount)
        return {s.replace(":", "").lstrip("0") for s in body["data"]["keys"]}


def _team_mounts(server: ServerProcess, folder: Path) -> None:
    """pc1/pki/team: an intermediate under the root in pc1/pki/team-root, so chains have two links."""
    ok(server.cli("secrets", "enable", "-path=pc1/pki/team-root", "-max-lease-ttl=87600h", "pki"))
    ok(server.cli("write", "pc1/pki/team-root/root/generate/internal", "common_name=pc1 team root",
                  "ttl=87600h"))
    ok(server.cli("secrets", "enable", "-path=pc1/pki/team", "-max-lease-ttl=87600h", "pki"))
    csr = ok(server.cli("write", "-field=csr", "pc1/pki/team/intermediate/generate/internal",
                        "common_name=pc1 team-a CA"))
    (folder / "team.csr").write_text(csr)
    signed = ok(server.cli("write", "-field=certificate", "pc1/pki/team-root/root/sign-intermediate",
                           f"csr=@{folder / 'team.csr'}", "common_name=pc1 team-a CA", "ttl=43800h"))
    root = ok(server.cli("read", "-field=certificate", "pc1/pki/team-root/cert/ca"))
    (folder / "team-chain.pem").write_text(signed.strip() + "\n" + root.strip() + "\n")
    ok(server.cli("write", "pc1/pki/team/intermediate/set-signed",
                  f"certificate=@{folder / 'team-chain.pem'}"))
    ok(server.cli("write", "pc1/pki/team/roles/team-a", *POD_ROLE, "key_type=ec", "key_bits=256",
                  "max_ttl=2h",
                  f"allowed_uri_sans=spiffe://{TRUST_DOMAIN}/ns/team-a-*/sa/*",
                  "allowed_domains=pod.cluster.local", "allow_subdomains=true"))
    ok(server.cli("secrets", "enable", "-path=pc1/pki/race", "-max-lease-ttl=87600h", "pki"))
    ok(server.cli("write", "pc1/pki/race/root/generate/internal", "common_name=pc1 race", "ttl=87600h"))
    ok(server.cli("write", "pc1/pki/race/roles/race", *POD_ROLE, "key_type=any", "max_ttl=24h",
                  f"allowed_uri_sans=spiffe://{TRUST_DOMAIN}/*"))


def _apply_rbac(setup: Setup, lease: str) -> None:
    """The RBAC the controller prints for this configuration, under its own names."""
    config = setup.config(lease, SIGNERS + RACE_SIGNER)
    printed = printed_rbac(config, SA_NAMESPACE, SA_NAME)
    docs = list(yaml.safe_load_all(printed))
    for doc in docs:
        if doc["kind"] != "ServiceAccount":
            doc["metadata"]["name"] = doc["metadata"]["name"].replace("warden-controller", "warden-pod-certs")
        if "roleRef" in doc:
            doc["roleRef"]["name"] = doc["roleRef"]["name"].replace("warden-controller", "warden-pod-certs")
    setup.plane.apply(docs)
    # the printed Role allows the one Lease named in the configuration; tests use one per controller
    setup.plane.kubectl("create", "role", "test-any-lease-pods", "-n", SA_NAMESPACE,
                        "--verb=get,update,create",
                        "--resource=leases.coordination.k8s.io", check=False)
    setup.plane.kubectl("create", "rolebinding", "test-any-lease-pods", "-n", SA_NAMESPACE,
                        "--role=test-any-lease-pods", f"--serviceaccount={SA_NAMESPACE}:{SA_NAME}",
                        check=False)


@pytest.fixture(scope="module")
def setup(kube_control_plane: ControlPlane, dev_server: ServerProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    plane, server = kube_control_plane, dev_server
    folder = tmp_path_factory.mktemp("pod-certificates")
    output = ok(server.cli("k8s", "bootstrap", CLUSTER, "-control-plane", "cp1=10.0.0.10",
                           "-pod-certificates"))
    _team_mounts(server, folder)
    ok(server.cli("policy", "write", "pc1-custom-pod-signers", "-", input=CUSTOM_POLICY))
    token = ok(server.cli("token", "create", "-policy=pc1/k8s/pod-certificates",
                          "-policy=pc1-custom-pod-signers", "-period=24h", "-orphan", "-field=token")).strip()
    token_file = folder / "token"
    token_file.write_text(token)
    kubeconfig = controller_kubeconfig(plane, folder)
    made = Setup(plane, server, Kubelet(plane), folder, kubeconfig, token_file, output)
    _apply_rbac(made, unique("rbac"))
    try:
        yield made
    finally:
        made.kubelet.close()


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def controller(setup: Setup, metrics_port: int, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ControllerProcess]:
    """The module's controller: every signer but the race's, the cluster CAs' bundles, metrics."""
    proc = ControllerProcess(setup.config(unique("pods"), SIGNERS, listener=metrics_port),
                             tmp_path_factory.mktemp("controller") / "controller.log").start()
    try:
        proc.wait_log("became the leader")
        proc.wait_log("watching: controller=pod-certificate-signer")
        yield proc
    finally:
        proc.stop()


def issue(setup: Setup, w: Workload, signer: str, **options: object) -> dict[str, object]:
    name = setup.kubelet.request(w, signer, **options)  # type: ignore[arg-type]
    return setup.kubelet.wait(w.namespace, name)


def verify(leaf: x509.Certificate, intermediates: list[x509.Certificate],
           anchors: list[x509.Certificate]) -> None:
    """RFC 5280 path validation (cryptography) as a TLS server would check this client."""
    verifier = PolicyBuilder().store(Store(anchors)).build_client_verifier()
    verifier.verify(leaf, intermediates)


def openssl_verify(folder: Path, leaf: x509.Certificate, intermediates: list[x509.Certificate],
                   bundle_pem: str) -> None:
    pem = serialization.Encoding.PEM
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "untrusted.pem").write_bytes(b"".join(c.public_bytes(pem) for c in intermediates) or b"")
    (folder / "bundle.pem").write_text(bundle_pem)
    args = ["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(folder / "bundle.pem")]
    if intermediates:
        args += ["-untrusted", str(folder / "untrusted.pem")]
    done = subprocess.run([*args, str(folder / "leaf.pem")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and ": OK" in done.stdout, done.stdout + done.stderr


# -- bootstrap -------------------------------------------------------------------------------------

def test_bootstrap_makes_the_signer_and_prints_the_apiserver_flags(setup: Setup) -> None:
    out = setup.bootstrap_output
    assert ("--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,"
            "ClusterTrustBundleProjection=true") in out
    assert "--runtime-config=certificates.k8s.io/v1beta1=true" in out
    assert f'pod_certificate_signer "{WORKLOADS}"' in out and 'cluster_trust_bundle "pc1-front-proxy"' in out
    role = setup.warden.client().read("pc1/pki/workloads/roles/workloads")["data"]
    assert role["allowed_uri_sans"] == [f"spiffe://{TRUST_DOMAIN}/ns/*/sa/*"]
    assert not role["use_csr_sans"] and not role["use_csr_common_name"] and not role["require_cn"]
    policy = ok(setup.warden.cli("policy", "read", "pc1/k8s/pod-certificates"))
    assert 'path "pc1/pki/workloads/sign/workloads"' in policy
    again = ok(setup.warden.cli("k8s", "bootstrap", CLUSTER, "-pod-certificates"))
    assert "No changes" in again


# -- issuing ---------------------------------------------------------------------------------------

def test_a_pod_gets_its_spiffe_identity_verifying_against_the_published_bundle(
        setup: Setup, controller: ControllerProcess, tmp_path: Path) -> None:
    w = setup.kubelet.workload([WORKLOADS], service_account="frontend")
    key = new_key("ECDSAP256")
    before = setup.serials("pc1/pki/workloads")
    done = issue(setup, w, WORKLOADS, key=key)
    assert condition(done, "Issued") is not None, done["status"]
    status = done["status"]
    chain = chain_of(done)
    leaf = chain[0]
    assert uris(leaf) == [f"spiffe://{TRUST_DOMAIN}/ns/{w.namespace}/sa/frontend"]
    assert leaf.subject == x509.Name([])  # nothing from the pod's claims, no CN
    assert public_der(key) == leaf.public_key().public_bytes(serialization.Encoding.DER,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    not_before, not_after = kube_time(status["notBefore"]), kube_time(status["notAfter"])
    assert (not_before, not_after) == (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    refresh = kube_time(status["beginRefreshAt"])
    lifetime = (not_after - not_before).total_seconds()
    assert 0.6 * lifetime <= (refresh - not_before).total_seconds() <= 0.72 * lifetime
    # stored in warden (listed, readable by serial, hence revocable and in the audit log)
    new = setup.serials("pc1/pki/workloads") - before
    assert new == {f"{leaf.serial_number:x}"}
    # the chain verifies against the ClusterTrustBundle the controller published for this signer
    ctb = setup.kubelet.wait_bundle(WORKLOADS_BUNDLE, lambda b: True)
    assert ctb["spec"]["signerName"] == WORKLOADS
    assert ctb["metadata"]["labels"]["warden.dev/cluster"] == "pc1"
    verify(leaf, chain[1:], bundle_certs(ctb))
    openssl_verify(tmp_path, leaf, chain[1:], ctb["spec"]["trustBundle"])
    controller.wait_log(f"request={w.namespace}/{done['metadata']['name']}")
    assert re.search(rf"decision: controller=pod-certificate-signer request={w.namespace}/\S+ .*"
                     rf"identity=spiffe://{TRUST_DOMAIN}/ns/{w.namespace}/sa/frontend .*decision=issued",
                     controller.text())


def test_chain_carries_the_intermediate_and_templated_dns_names(
        setup: Setup, controller: ControllerProcess, tmp_path: Path) -> None:
    w = setup.kubelet.workload([TEAM], namespace=unique("team-a"), service_account="api")
    # the stub request lies about its names: they are ignored
    key = new_key("ECDSAP256")
    done = issue(setup, w, TEAM, key=key, stub=stub_csr(key, cn="admin", dns=["evil.example.com"]))
    assert issued(done), done["status"]
    chain = chain_of(done)
    assert len(chain) == 2 and chain[1].subject.rfc4514_string() == "CN=pc1 team-a CA"
    leaf = chain[0]
    assert dns_names(leaf) == [f"{w.pod}.{w.namespace}.pod.cluster.local"]
    assert uris(leaf) == [f"spiffe://{TRUST_DOMAIN}/ns/{w.namespace}/sa/api"]
    assert leaf.subject == x509.Name([])
    ctb = setup.kubelet.wait_bundle(TEAM_BUNDLE, lambda b: True)
    anchors = bundle_certs(ctb)
    assert {c.subject.rfc4514_string() for c in anchors} == {"CN=pc1 team-a CA", "CN=pc1 team root"}
    roots = [c for c in anchors if c.subject == c.issuer]
    verify(leaf, chain[1:], roots)  # from the root alone, through the intermediate the chain carries
    openssl_verify(tmp_path, leaf, chain[1:], "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                                                      for c in roots))


@pytest.mark.parametrize(("signer", "asked", "expected"), [
    (WORKLOADS, 3600, 3600),          # the shortest Kubernetes allows, exactly
    (WORKLOADS, 5400, 5400),
    (WORKLOADS, None, 86400),         # the apiserver's default, 24 h
    # capped by the role: max_ttl counts from now, as in warden, plus the 30 s backdating
    (WORKLOADS, 7 * 86400, 86400 + 30),   # the workloads role: 24 h
    (TEAM, 86400, 7200 + 30),             # the team role: 2 h
])
def test_max_expiration_seconds_is_honoured_and_the_role_caps_it(
        setup: Setup, controller: ControllerProcess, signer: str, asked: int | None, expected: int) -> None:
    kwargs = {"namespace": unique("team-a"), "service_account": "web"} if signer == TEAM else {}
    w = setup.kubelet.workload([signer], **kwargs)  # type: ignore[arg-type]
    done = issue(setup, w, signer, max_expiration=asked)
    assert issued(done), done["status"]
    leaf = chain_of(done)[0]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == expected
    refresh = kube_time(done["status"]["beginRefreshAt"])
    assert leaf.not_valid_before_utc + dt.timedelta(minutes=10) <= refresh
    assert refresh <= leaf.not_valid_after_utc - dt.timedelta(minutes=10)


# -- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "reason", "message"), [
    ("namespace", "NamespaceNotAllowed", "does not issue to namespace"),
    ("service-account", "ServiceAccountNotAllowed", "does not issue to service account"),
    ("role-forbids", "IdentityNotAllowed", "spiffe://elsewhere.example/ns/"),
    ("key-type", "UnsupportedKeyType", "set keyType: ECDSAP256"),
    ("annotations", "UnsupportedUserAnnotations", "example.com/tier"),
    ("v1.35-kubelet", "StubPKCS10RequestRequired", "upgrade the kubelet"),
    ("not-the-pod", "PodMismatch", "spec.podUID"),
])
def test_a_request_the_signer_will_not_serve_is_denied_with_the_reason(
        setup: Setup, controller: ControllerProcess, case: str, reason: str, message: str) -> None:
    signer, options, namespace, account = TEAM, {}, unique("team-a"), "api"
    key = new_key()
    if case == "namespace":
        namespace = unique("team-b")  # another tenant asks for the team-a signer
    elif case == "service-account":
        account = "backup"
    elif case == "role-forbids":
        signer = MISFIT  # its trust domain is not what the workloads role allows
    elif case == "key-type":
        key = new_key("ED25519")  # the team role issues EC keys only
    elif case == "annotations":
        options = {"annotations": {"example.com/tier": "gold"}}
    elif case == "v1.35-kubelet":
        signer, options = WORKLOADS, {"legacy": True}  # a real proof of possession, checked by the apiserver
    w = setup.kubelet.workload([signer], namespace=namespace, service_account=account)
    mount = "pc1/pki/workloads" if signer != TEAM else "pc1/pki/team"
    before = setup.serials(mount)
    if case == "not-the-pod":
        # the apiserver checks the pod binding for nodes only; an admin may name any pod UID
        spec = setup.kubelet.spec(w, signer, key)
        spec["podUID"] = "00000000-0000-0000-0000-000000000000"
        answer = setup.kubelet.post(w, spec, admin=True)
        assert answer.status_code == 201, answer.text
        done = setup.kubelet.wait(w.namespace, answer.json()["metadata"]["name"])
    else:
        done = issue(setup, w, signer, key=key, **options)
    denied = condition(done, "Denied")
    assert denied is not None, done["status"]
    assert denied["reason"] == reason and message in denied["message"], denied
    assert not done["status"].get("certificateChain")
    assert setup.serials(mount) == before, "nothing was issued"


def test_the_apiserver_checks_the_proof_and_the_node(setup: Setup, controller: ControllerProcess) -> None:
    """What the test's kubelet gets wrong, the apiserver refuses before any signer sees it."""
    w = setup.kubelet.workload([WORKLOADS])
    key, other = new_key(), new_key()
    setup.kubelet.request(w, WORKLOADS, key=key)  # the node may (the authorizer has seen the pod)
    legacy = setup.kubelet.spec(w, WORKLOADS, key, legacy=True)
    legacy["pkixPublicKey"] = setup.kubelet.spec(w, WORKLOADS, other, legacy=True)["pkixPublicKey"]
    answer = setup.kubelet.post(w, legacy)
    assert answer.status_code == 422 and "proof-of-possession" in answer.text, answer.text
    answer = setup.kubelet.post(w, setup.kubelet.spec(w, WORKLOADS, key), as_node=unique("other-node"))
    assert answer.status_code == 403, answer.text


def test_requests_of_other_signers_are_left_alone(setup: Setup, controller: ControllerProcess) -> None:
    w = setup.kubelet.workload(["example.com/not-warden", WORKLOADS])
    other = setup.kubelet.request(w, "example.com/not-warden")
    mine = setup.kubelet.request(w, WORKLOADS)
    setup.kubelet.wait(w.namespace, mine, issued)  # the controller has seen both by now
    untouched = setup.kubelet.get(w.namespace, other)
    assert not untouched.get("status"), untouched.get("status")
    assert f"request={w.namespace}/{other}" not in controller.text()


# -- two replicas ----------------------------------------------------------------------------------

def test_two_replicas_issue_each_request_exactly_once(setup: Setup, tmp_path: Path) -> None:
    config = setup.config(unique("race"), RACE_SIGNER)
    count, trials = 10, 3
    for trial in range(trials):
        first = ControllerProcess(config, tmp_path / f"a-{trial}.log").start()
        second = ControllerProcess(config, tmp_path / f"b-{trial}.log").start()
        try:
            for proc in (first, second):
                proc.wait_log("waiting to lead")
            before = setup.serials("pc1/pki/race")
            w = setup.kubelet.workload([RACE])
            names = [setup.kubelet.request(w, RACE) for _ in range(count)]
            done = [setup.kubelet.wait(w.namespace, n, issued) for n in names]
            new = setup.serials("pc1/pki/race") - before
            assert len(new) == count, f"trial {trial}: {len(new)} certificates issued for {count} requests"
            assert {f"{chain_of(d)[0].serial_number:x}" for d in done} == new
            assert first.leading() != second.leading(), "exactly one replica leads"
        finally:
            first.stop()
            second.stop()


# -- trust bundles ---------------------------------------------------------------------------------

def _rotate(setup: Setup, phase: str, *extra: str) -> str:
    return ok(setup.warden.cli("k8s", "rotate", CLUSTER, "front-proxy", phase, *extra))


def test_the_cluster_ca_bundle_follows_a_rotation_in_place(setup: Setup,
                                                           controller: ControllerProcess) -> None:
    kubelet = setup.kubelet
    first = kubelet.wait_bundle(f"{CLUSTER}-front-proxy", lambda b: len(bundle_certs(b)) == 1)
    assert "signerName" not in first["spec"]
    assert first["metadata"]["labels"]["warden.dev/cluster"] == "pc1"
    old = bundle_certs(first)[0]
    started = time.monotonic()
    _rotate(setup, "begin")
    both = kubelet.wait_bundle(f"{CLUSTER}-front-proxy", lambda b: len(bundle_certs(b)) == 2, timeout=30)
    print(f"bundle holds old + new {time.monotonic() - started:.1f}s after begin (refresh 1s)")
    new = next(c for c in bundle_certs(both) if c != old)
    assert old in bundle_certs(both)
    _rotate(setup, "switch")
    time.sleep(2.5)  # a few refreshes: still both until finish
    assert len(bundle_certs(kubelet.bundle(f"{CLUSTER}-front-proxy") or {})) == 2
    _rotate(setup, "finish")
    last = kubelet.wait_bundle(f"{CLUSTER}-front-proxy", lambda b: bundle_certs(b) == [new], timeout=30)
    for later in (both, last):  # updated, never recreated
        assert later["metadata"]["uid"] == first["metadata"]["uid"]
        assert later["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"]
    assert int(last["metadata"]["resourceVersion"]) > int(both["metadata"]["resourceVersion"])
    assert re.search(r"decision: controller=cluster-trust-bundles bundle=pc1-front-proxy .*certificates=2 "
                     r".*decision=updated", controller.text())


def test_the_signer_bundle_follows_its_mount_and_new_certificates_verify(
        setup: Setup, controller: ControllerProcess) -> None:
    """The signer's own mount rotated with the PKI API (a second issuer, then the default
    switched, then the old one deleted): the pods' bundle is old + new, then new only."""
    kubelet, cli = setup.kubelet, setup.warden.cli
    first = kubelet.wait_bundle(WORKLOADS_BUNDLE, lambda b: len(bundle_certs(b)) == 1)
    old_issuer = ok(cli("read", "-field=default", "pc1/pki/workloads/config/issuers")).strip()
    new_issuer = ok(cli("write", "-field=issuer_id", "pc1/pki/workloads/root/rotate/internal",
                        "common_name=workloads-ca 2", "ttl=87600h")).strip()
    kubelet.wait_bundle(WORKLOADS_BUNDLE, lambda b: len(bundle_certs(b)) == 2, timeout=30)
    ok(cli("write", "pc1/pki/workloads/config/issuers", f"default={new_issuer}"))
    w = kubelet.workload([WORKLOADS])
    done = issue(setup, w, WORKLOADS)
    leaf = chain_of(done)[0]
    assert leaf.issuer.rfc4514_string() == "CN=workloads-ca 2"
    ok(cli("delete", f"pc1/pki/workloads/issuer/{old_issuer}"))
    last = kubelet.wait_bundle(WORKLOADS_BUNDLE, lambda b: len(bundle_certs(b)) == 1, timeout=30)
    assert last["metadata"]["uid"] == first["metadata"]["uid"]
    verify(leaf, [], bundle_certs(last))
    assert bundle_certs(last)[0].subject.rfc4514_string() == "CN=workloads-ca 2"


def test_an_edited_bundle_is_put_back(setup: Setup, controller: ControllerProcess) -> None:
    kubelet = setup.kubelet
    current = kubelet.wait_bundle(f"{CLUSTER}-k8s", lambda b: True)
    wanted = current["spec"]["trustBundle"]
    foreign = setup.plane.ca_pem  # a CA certificate nobody asked the pods to trust
    patch = {"spec": {"trustBundle": foreign}}
    with kubelet.admin() as client:
        answer = client.patch(f"/apis/certificates.k8s.io/v1beta1/clustertrustbundles/{CLUSTER}-k8s",
                              json=patch, headers={"Content-Type": "application/merge-patch+json"})
    assert answer.status_code == 200, answer.text
    restored = kubelet.wait_bundle(f"{CLUSTER}-k8s", lambda b: b["spec"]["trustBundle"] == wanted, timeout=30)
    assert restored["metadata"]["uid"] == current["metadata"]["uid"]


def _counter(metrics: str, name: str, labels: str) -> float:
    found = re.search(rf"^{name}{{{re.escape(labels)}}} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_issued_and_denied(setup: Setup, controller: ControllerProcess,
                                         metrics_port: int) -> None:
    base = f"http://127.0.0.1:{metrics_port}"
    issued_name, denied_name = ("warden_controller_pod_certificate_issued_total",
                                "warden_controller_pod_certificate_denied_total")
    issued_labels = f'signer="{WORKLOADS}"'
    denied_labels = f'reason="StubPKCS10RequestRequired",signer="{WORKLOADS}"'
    before = httpx.get(f"{base}/metrics").text
    w = setup.kubelet.workload([WORKLOADS])
    assert issued(issue(setup, w, WORKLOADS))
    assert condition(issue(setup, w, WORKLOADS, legacy=True), "Denied")
    after = httpx.get(f"{base}/metrics").text
    assert _counter(after, issued_name, issued_labels) == _counter(before, issued_name, issued_labels) + 1
    assert _counter(after, denied_name, denied_labels) == _counter(before, denied_name, denied_labels) + 1
    assert 'warden_controller_trust_bundle_certificates{bundle="pc1-k8s"} 1.0' in after
    assert httpx.get(f"{base}/healthz").text == "ok (leader)\n"
