"""``warden k8s controller`` against the real kube-apiserver and a real warden server: kubelet
serving and client CSRs approved and signed through warden's PKI, denials with reasons,
Failed conditions, expirationSeconds, custom signers waiting for a human, unknown signers
left alone, two replicas signing each CSR exactly once, a killed leader replaced within the
lease duration, root tokens refused, health and metrics.

One warden dev server and one bootstrapped cluster (c1, with -kubelet-signer) per module;
each test starts its own controller processes with their own Lease, and stops them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support import kube_auth
from support.csr_controller import (
    CLIENT_USAGES,
    KUBELET_CLIENT,
    KUBELET_SERVING,
    SA_NAME,
    SA_NAMESPACE,
    SERVING_USAGES,
    Cluster,
    ControllerProcess,
    certificate,
    condition,
    controller_kubeconfig,
    issued,
    pkcs10,
    unique,
)
from support.envtest import ControlPlane, free_port
from support.server import ServerProcess, ok
from support.warden_kube import printed_rbac

APPS = "warden.dev/c1-apps"
SERVER = ["digital signature", "server auth"]
RACE = "warden.dev/c1-race"
UNKNOWN = "example.com/not-warden"
Starter = Callable[..., ControllerProcess]
FAST_LEASE = 'lease_duration = "5s"\n  renew_deadline = "2.5s"\n  retry_period = "1s"'


@dataclass
class Setup:
    plane: ControlPlane
    cluster: Cluster
    warden: ServerProcess
    folder: Path
    kubeconfig: Path
    token_file: Path

    def config(self, lease: str, *, signers: str = "", auth: str = "", lease_settings: str = FAST_LEASE,
               listener: int | None = None, warden_address: str = "") -> Path:
        auth = auth or token_file_auth(self.token_file)
        signers = signers or SIGNERS
        listen = f'listener "tcp" {{ address = "127.0.0.1:{listener}" }}\n' if listener else ""
        text = (f'warden {{ address = "{warden_address or self.warden.url}" }}\n{auth}\n'
                f'kubernetes {{ kubeconfig = "{self.kubeconfig}" }}\n'
                f'leader_election {{ namespace = "{SA_NAMESPACE}"  name = "{lease}"\n'
                f"  {lease_settings}\n}}\n"
                f"{listen}{signers}\n")
        path = self.folder / f"{lease}.hcl"
        path.write_text(text)
        return path


def token_file_auth(path: Path) -> str:
    return f'auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{path}" }} }} }}'


SIGNERS = f"""
signer "{KUBELET_SERVING}" {{
  mount = "c1/pki/kubelet"  role = "kubelet-serving"  approve = "node-addresses"
}}
signer "{KUBELET_CLIENT}" {{ mount = "c1/pki/k8s"  role = "kubelet-client"  approve = "node-client" }}
signer "{APPS}" {{ mount = "c1/pki/apps"  role = "apps" }}
signer "{RACE}" {{ mount = "c1/pki/race"  role = "race" }}
"""
DOWN = "warden.dev/c1-down"
DOWN_SIGNER = f'signer "{DOWN}" {{ mount = "down/pki"  role = "down" }}'

APPS_POLICY = """
path "c1/pki/apps/sign/apps" { capabilities = ["update"] }
path "c1/pki/apps/roles/apps" { capabilities = ["read"] }
path "c1/pki/race/sign/race" { capabilities = ["update"] }
path "c1/pki/race/roles/race" { capabilities = ["read"] }
"""


def _custom_mount(server: ServerProcess, mount: str, role: str) -> None:
    ok(server.cli("secrets", "enable", f"-path={mount}", "pki"))
    ok(server.cli("secrets", "tune", "-max-lease-ttl=87600h", mount))
    ok(server.cli("write", f"{mount}/root/generate/internal", f"common_name={role}-ca", "ttl=87600h"))
    ok(server.cli("write", f"{mount}/roles/{role}", "allow_any_name=true", "enforce_hostnames=false",
                  "key_type=any", "server_flag=true", "client_flag=false", "ttl=1h", "max_ttl=24h"))


@pytest.fixture(scope="module")
def setup(kube_control_plane: ControlPlane, dev_server: ServerProcess,
          tmp_path_factory: pytest.TempPathFactory) -> Setup:
    plane, server = kube_control_plane, dev_server
    folder = tmp_path_factory.mktemp("csr-controller")
    server.client().sys.enable_auth_method("kubernetes")  # bootstrap then adds the controller's login role
    kube_auth.configure(server.client(), plane)
    ok(server.cli("k8s", "bootstrap", "c1", "-control-plane", "cp1=10.0.0.10", "-kubelet-signer",
                  "-kubelet-serving-ca"))
    _custom_mount(server, "c1/pki/apps", "apps")
    _custom_mount(server, "c1/pki/race", "race")
    ok(server.cli("policy", "write", "c1-custom-signers", "-", input=APPS_POLICY))
    token = ok(server.cli("token", "create", "-policy=c1/k8s/csr-controller", "-policy=c1-custom-signers",
                          "-period=24h", "-orphan", "-field=token")).strip()
    token_file = folder / "token"
    token_file.write_text(token)
    kubeconfig = controller_kubeconfig(plane, folder)
    made = Setup(plane, Cluster(plane), server, folder, kubeconfig, token_file)
    rbac_config = made.config("rbac", signers=SIGNERS + DOWN_SIGNER)
    rbac = printed_rbac(rbac_config, SA_NAMESPACE, SA_NAME)
    plane.kubectl("apply", "-f", "-", input=rbac)
    # the printed RBAC allows the one Lease named in the configuration; tests use one per test
    plane.kubectl("create", "role", "test-any-lease", "-n", SA_NAMESPACE, "--verb=get,update,create",
                  "--resource=leases.coordination.k8s.io", check=False)
    plane.kubectl("create", "rolebinding", "test-any-lease", "-n", SA_NAMESPACE, "--role=test-any-lease",
                  f"--serviceaccount={SA_NAMESPACE}:{SA_NAME}", check=False)
    # kubeadm binds these for kubelets: renewing their own client certificate
    plane.kubectl("create", "clusterrolebinding", "nodes-renew-client-certs",
                  "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                  "--group=system:nodes", check=False)
    return made


@pytest.fixture
def controllers(setup: Setup, tmp_path: Path) -> Iterator[Starter]:
    started: list[ControllerProcess] = []

    def start(config: Path, name: str = "") -> ControllerProcess:
        proc = ControllerProcess(config, tmp_path / f"{name or config.stem}-{len(started)}.log").start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def leader(setup: Setup, controllers: Starter, **kwargs: object) -> ControllerProcess:
    proc = controllers(setup.config(unique("lease"), **kwargs))  # type: ignore[arg-type]
    proc.wait_log("became the leader")
    proc.wait_log("watching")
    return proc


def ca_of(server: ServerProcess, mount: str) -> x509.Certificate:
    pem = ok(server.cli("read", "-field=certificate", f"{mount}/cert/ca"))
    return x509.load_pem_x509_certificate(pem.encode())


def verify_chain(leaf: x509.Certificate, ca: x509.Certificate) -> None:
    ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes,  # type: ignore[call-arg,arg-type]
                           *_sig_args(ca, leaf))
    assert leaf.issuer == ca.subject


def _sig_args(ca: x509.Certificate, leaf: x509.Certificate) -> tuple[object, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    key = ca.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return (ec.ECDSA(leaf.signature_hash_algorithm),)
    return (padding.PKCS1v15(), leaf.signature_hash_algorithm)


def names(cert: x509.Certificate) -> tuple[str, list[str], list[str], list[str]]:
    cn = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    orgs = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    return cn, orgs, sorted(dns), sorted(ips)


def ekus(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def hexed(serial: str) -> str:
    """warden's colon-separated serial as Python prints an int in hex."""
    return serial.replace(":", "").lstrip("0")


def serials(server: ServerProcess, mount: str) -> set[str]:
    body = server.client().secrets.pki.list_certificates(mount_point=mount)
    return set(body["data"]["keys"])


# -- kubelet serving: node-addresses ---------------------------------------------------------------

def test_kubelet_serving_csr_from_the_node_is_approved_and_signed(
        setup: Setup, controllers: Starter) -> None:
    n = unique("n")
    setup.cluster.create_node(n, [("Hostname", n), ("InternalIP", "10.1.0.5"),
                                  ("ExternalDNS", f"{n}.example.net"), ("ExternalIP", "2001:db8::5")])
    proc = leader(setup, controllers)
    pem, key = pkcs10(f"system:node:{n}", ["system:nodes"], dns=[n, f"{n}.example.net"],
                      ips=["10.1.0.5", "2001:db8::5"])
    name = unique("serving")
    with setup.cluster.as_node(n) as client:
        setup.cluster.create_csr(client, name, pem, KUBELET_SERVING, SERVING_USAGES)
    done = setup.cluster.wait_csr(name, issued)
    approved = condition(done, "Approved")
    assert approved and approved["reason"] == "AutoApproved" and n in approved["message"]
    chain = certificate(done)
    leaf = chain[0]
    assert names(leaf) == (f"system:node:{n}", ["system:nodes"], sorted([n, f"{n}.example.net"]),
                           sorted(["10.1.0.5", "2001:db8::5"]))
    assert ekus(leaf) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    verify_chain(leaf, ca_of(setup.warden, "c1/pki/kubelet"))
    serial = f"{leaf.serial_number:x}"
    assert serial.lstrip("0") in {hexed(s) for s in serials(setup.warden, "c1/pki/kubelet")}
    proc.wait_log(f"csr={name}", count=2)
    log = proc.text()
    assert re.search(rf"decision: controller=csr-signer csr={name} .*decision=approved", log)
    assert re.search(rf"decision: controller=csr-signer csr={name} .*decision=signed", log)


@pytest.mark.parametrize("case", ["foreign-ip", "extra-dns", "missing-node", "cn-not-requester", "email-san"])
def test_kubelet_serving_csr_that_does_not_match_is_denied_with_the_reason(
        setup: Setup, controllers: Starter, case: str) -> None:
    n = unique("n")
    if case != "missing-node":
        setup.cluster.create_node(n, [("Hostname", n), ("InternalIP", "10.2.0.7")])
    cn, dns, ips, emails, requester = f"system:node:{n}", [n], ["10.2.0.7"], [], n
    expected = ""
    if case == "foreign-ip":
        ips, expected = ["10.2.0.7", "10.9.9.9"], "IP address 10.9.9.9 is not an address of Node"
    elif case == "extra-dns":
        dns, expected = [n, "evil.example.com"], "DNS name evil.example.com is not an address of Node"
    elif case == "missing-node":
        expected = f"Node {n} does not exist"
    elif case == "cn-not-requester":
        # NodeRestriction already stops a real node asking for another node's CN; a requester
        # named like a node but outside system:nodes gets past it, not past the approver.
        requester = unique("other")
        expected = f"is not the requester 'system:node:{requester}'"
    else:
        emails, expected = ["kubelet@example.com"], "e-mail SANs are not allowed"
    leader(setup, controllers)
    pem, _ = pkcs10(cn, ["system:nodes"], dns=dns, ips=ips, emails=emails)
    name = unique(case)
    if case == "cn-not-requester":
        setup.plane.kubectl("create", "clusterrolebinding", unique("csr-creator"),
                            "--clusterrole=system:node-bootstrapper", f"--user=system:node:{requester}")
        as_requester = setup.cluster.as_user(f"system:node:{requester}")
    else:
        as_requester = setup.cluster.as_node(requester)
    with as_requester as client:
        setup.cluster.create_csr(client, name, pem, KUBELET_SERVING, SERVING_USAGES)
    done = setup.cluster.wait_csr(name, lambda c: condition(c, "Denied") is not None)
    denied = condition(done, "Denied")
    assert denied is not None and expected in denied["message"], denied
    assert not issued(done) and condition(done, "Approved") is None


# -- kubelet client: node-client -------------------------------------------------------------------

def test_kubelet_client_renewal_by_the_node_is_approved_and_signed(
        setup: Setup, controllers: Starter) -> None:
    n = unique("n")
    leader(setup, controllers)
    pem, _ = pkcs10(f"system:node:{n}", ["system:nodes"])
    name = unique("client")
    with setup.cluster.as_node(n) as client:
        setup.cluster.create_csr(client, name, pem, KUBELET_CLIENT, CLIENT_USAGES)
    done = setup.cluster.wait_csr(name, issued)
    assert "self kubelet client certificate" in (condition(done, "Approved") or {})["message"]
    leaf = certificate(done)[0]
    assert names(leaf) == (f"system:node:{n}", ["system:nodes"], [], [])
    assert ekus(leaf) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    verify_chain(leaf, ca_of(setup.warden, "c1/pki/k8s"))


def test_kubelet_client_csr_from_someone_else_waits_for_a_human(
        setup: Setup, controllers: Starter) -> None:
    proc = leader(setup, controllers)
    pem, _ = pkcs10("system:node:intruder", ["system:nodes"])
    name = unique("foreign-client")
    with setup.cluster.as_user("mallory") as client:
        setup.plane.kubectl("create", "clusterrolebinding", unique("mallory-csr"),
                            "--clusterrole=system:node-bootstrapper", "--user=mallory")
        setup.cluster.create_csr(client, name, pem, KUBELET_CLIENT, CLIENT_USAGES)
    proc.wait_log(f"csr={name} signer={KUBELET_CLIENT} requester=mallory decision=left")
    found = setup.cluster.csr(name)
    assert not issued(found) and not (found.get("status") or {}).get("conditions")


def test_an_approved_csr_that_breaks_the_signer_rules_fails_with_the_rule(
        setup: Setup, controllers: Starter) -> None:
    leader(setup, controllers)
    pem, _ = pkcs10("system:node:w9", ["system:nodes"], dns=["w9.example.net"])
    name = unique("client-with-san")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, KUBELET_CLIENT, CLIENT_USAGES)
    setup.cluster.approve(name)
    done = setup.cluster.wait_csr(name, lambda c: condition(c, "Failed") is not None)
    failed = condition(done, "Failed")
    assert failed is not None and failed["reason"] == "SignerValidationFailure"
    assert "subjectAltName" in failed["message"] and "w9.example.net" in failed["message"]
    assert not issued(done)


# -- custom and unknown signers, lifetimes ---------------------------------------------------------

def test_custom_signer_waits_for_kubectl_certificate_approve_then_signs(
        setup: Setup, controllers: Starter) -> None:
    proc = leader(setup, controllers)
    pem, _ = pkcs10("app.c1.example", dns=["app.c1.example"])
    name = unique("apps")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, APPS, SERVER)
    proc.wait_log(f"csr={name} signer={APPS}")
    time.sleep(1)
    assert not issued(setup.cluster.csr(name))
    setup.cluster.approve(name)
    done = setup.cluster.wait_csr(name, issued)
    assert names(certificate(done)[0])[0] == "app.c1.example"
    verify_chain(certificate(done)[0], ca_of(setup.warden, "c1/pki/apps"))


def test_unknown_signer_is_left_untouched(setup: Setup, controllers: Starter) -> None:
    proc = leader(setup, controllers)
    pem, _ = pkcs10("other.example")
    name = unique("unknown")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, UNKNOWN, ["digital signature", "client auth"])
    setup.cluster.approve(name)
    version = setup.cluster.csr(name)["metadata"]["resourceVersion"]
    marker_pem, _ = pkcs10("marker.example")
    marker = unique("marker")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, marker, marker_pem, APPS, SERVER)
    setup.cluster.approve(marker)
    setup.cluster.wait_csr(marker, issued)  # the controller has seen everything created before
    after = setup.cluster.csr(name)
    assert after["metadata"]["resourceVersion"] == version and not issued(after)
    assert [c["type"] for c in after["status"]["conditions"]] == ["Approved"]
    assert f"csr={name}" not in proc.text()


@pytest.mark.parametrize(("asked", "expected"), [(900, 900), (7 * 86400, 86400)])
def test_expiration_seconds_is_honoured_and_capped_by_the_role(
        setup: Setup, controllers: Starter, asked: int, expected: int) -> None:
    leader(setup, controllers)
    pem, _ = pkcs10("short.c1.example")
    name = unique("expiry")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, APPS, SERVER, expiration=asked)
    setup.cluster.approve(name)
    leaf = certificate(setup.cluster.wait_csr(name, issued))[0]
    now = dt.datetime.now(dt.UTC)
    lifetime = (leaf.not_valid_after_utc - now).total_seconds()
    assert expected - 120 <= lifetime <= expected + 5, lifetime


# -- replicas, leadership --------------------------------------------------------------------------

def _race_trial(setup: Setup, controllers: Starter, count: int) -> None:
    lease = unique("race")
    config = setup.config(lease)
    first, second = controllers(config, "a"), controllers(config, "b")
    for proc in (first, second):
        proc.wait_log("waiting to lead")
    before = serials(setup.warden, "c1/pki/race")
    names_ = [unique("race") for _ in range(count)]
    with setup.cluster.admin() as client:
        for name in names_:
            pem, _ = pkcs10(f"{name}.c1.example")
            setup.cluster.create_csr(client, name, pem, RACE, SERVER)
    setup.plane.kubectl("certificate", "approve", *names_)
    done = [setup.cluster.wait_csr(name, issued) for name in names_]
    new = serials(setup.warden, "c1/pki/race") - before
    assert len(new) == count, f"{len(new)} certificates signed for {count} CSRs"
    assert {f"{certificate(c)[0].serial_number:x}" for c in done} == {hexed(s) for s in new}
    assert first.leading() != second.leading(), "exactly one replica leads"
    for proc in (first, second):
        proc.stop()


def test_two_replicas_sign_each_csr_exactly_once(setup: Setup, controllers: Starter) -> None:
    for _ in range(3):
        _race_trial(setup, controllers, count=8)


def _became_leader_at(proc: ControllerProcess) -> float:
    for line in proc.text().splitlines():
        if "became the leader" in line:
            stamp = line.split(" ", 1)[0]
            return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    raise AssertionError("never became the leader:\n" + proc.text()[-3000:])


def test_a_killed_leader_is_replaced_within_the_lease_duration(
        setup: Setup, controllers: Starter) -> None:
    config = setup.config(unique("kill"))
    first = controllers(config, "first")
    first.wait_log("watching")
    second = controllers(config, "second")
    second.wait_log("waiting to lead")
    time.sleep(2.5)  # a few renewals observed by the standby
    killed_at = time.time()
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)
    second.wait_log("became the leader", timeout=30)
    handover = _became_leader_at(second) - killed_at
    print(f"handover after SIGKILL: {handover:.2f}s (lease_duration 5s)")
    assert handover <= 5.0 + 1.0, handover  # 5 s lease; 1 s for a loaded machine's scheduling
    second.wait_log("watching")
    pem, _ = pkcs10("after-kill.c1.example")
    name = unique("after-kill")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, APPS, SERVER)
    setup.cluster.approve(name)
    setup.cluster.wait_csr(name, issued)


def test_sigterm_releases_the_lease_for_an_immediate_handover(
        setup: Setup, controllers: Starter) -> None:
    lease_settings = 'lease_duration = "30s"\n  renew_deadline = "20s"\n  retry_period = "1s"'
    config = setup.config(unique("term"), lease_settings=lease_settings)
    first = controllers(config, "first")
    first.wait_log("watching")
    second = controllers(config, "second")
    second.wait_log("waiting to lead")
    stopped_at = time.time()
    assert first.stop() == 0
    assert "released the lease" in first.text()
    second.wait_log("became the leader", timeout=30)
    assert _became_leader_at(second) - stopped_at < 5, "a released lease is taken without waiting 30 s"


# -- login -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["root-token", "root-policy"])
def test_a_root_token_is_refused_at_start(setup: Setup, tmp_path: Path, which: str) -> None:
    token = setup.warden.root_token if which == "root-token" else ok(setup.warden.cli(
        "token", "create", "-policy=root", "-field=token")).strip()
    token_file = tmp_path / "root-token"
    token_file.write_text(token)
    auth = token_file_auth(token_file)
    proc = ControllerProcess(setup.config(unique("root"), auth=auth), tmp_path / "root.log").start()
    assert proc.proc is not None
    assert proc.proc.wait(timeout=60) == 2
    assert "refusing to run with a root token" in proc.text()
    assert "became the leader" not in proc.text()


# -- health and metrics ----------------------------------------------------------------------------

def test_healthz_and_metrics(setup: Setup, controllers: Starter) -> None:
    port = free_port()
    leader(setup, controllers, listener=port)
    pem, _ = pkcs10("metrics.c1.example")
    name = unique("metrics")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, APPS, SERVER)
    setup.cluster.approve(name)
    setup.cluster.wait_csr(name, issued)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").text == "ok (leader)\n"
    assert httpx.get(f"{base}/readyz").status_code == 200
    metrics = httpx.get(f"{base}/metrics").text
    assert f'warden_controller_csr_signed_total{{signer="{APPS}"}} 1.0' in metrics
    assert f'warden_controller_csr_seen_total{{signer="{APPS}"}}' in metrics
    assert f'warden_controller_csr_sign_seconds_count{{signer="{APPS}"}} 1.0' in metrics
    assert "warden_controller_leader 1.0" in metrics


# -- outages ---------------------------------------------------------------------------------------

def test_the_watch_resumes_after_an_apiserver_restart(
        setup: Setup, controllers: Starter) -> None:
    slow = 'lease_duration = "20s"\n  renew_deadline = "15s"\n  retry_period = "2s"'
    proc = leader(setup, controllers, lease_settings=slow)
    assert setup.plane.apiserver is not None
    setup.plane.apiserver.stop(signal.SIGKILL)  # abrupt: a graceful stop holds watches open for 20 s
    setup.plane.apiserver = None
    compact_etcd(setup.plane.etcd_url)  # the version the watch resumes from is gone for good
    setup.plane.start_apiserver()
    proc.wait_log("watch failed; resuming")
    pem, _ = pkcs10("after-restart.c1.example")
    name = unique("after-restart")
    with setup.cluster.admin() as client:
        setup.cluster.create_csr(client, name, pem, APPS, SERVER)
    setup.cluster.approve(name)
    setup.cluster.wait_csr(name, issued)
    assert "watch expired; listing again" in proc.text()  # 410 Gone: listed again


def compact_etcd(url: str) -> None:
    """Write a key outside Kubernetes' prefix and compact etcd's history up to it (etcd's JSON
    gateway), as the apiserver does every 5 minutes: every version before is gone."""
    key = base64.b64encode(b"/warden-test/compaction-marker").decode()
    put = httpx.post(f"{url}/v3/kv/put", json={"key": key, "value": key})
    revision = put.json()["header"]["revision"]
    answer = httpx.post(f"{url}/v3/kv/compaction", json={"revision": revision, "physical": True})
    assert answer.status_code == 200, answer.text


SQLITE_SERVER = """
storage "sqlite" {{ path = "data/warden.db" }}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
}}
"""
DOWN_POLICY = """
path "down/pki/sign/down" { capabilities = ["update"] }
path "down/pki/roles/down" { capabilities = ["read"] }
"""


def test_while_warden_is_down_csrs_wait_and_are_signed_once_it_returns(
        setup: Setup, controllers: Starter,
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory(dev=False, config_text=SQLITE_SERVER.format(port=free_port())).start()
    client = server.client(token="")
    init = client.sys.initialize(secret_shares=1, secret_threshold=1)
    client.sys.submit_unseal_keys(init["keys"])
    server.root_token = init["root_token"]
    _custom_mount(server, "down/pki", "down")
    ok(server.cli("policy", "write", "down-signer", "-", input=DOWN_POLICY))
    token_file = tmp_path / "down-token"
    token_file.write_text(ok(server.cli("token", "create", "-policy=down-signer", "-period=1h",
                                        "-field=token")))
    config = setup.config(unique("down"), signers=DOWN_SIGNER, auth=token_file_auth(token_file),
                          warden_address=server.url)
    proc = controllers(config, "down")
    proc.wait_log("watching")
    before = serials(server, "down/pki")  # the CA's own
    server.stop()
    names_ = [unique("down") for _ in range(3)]
    with setup.cluster.admin() as kube:
        for name in names_:
            pem, _ = pkcs10(f"{name}.c1.example")
            setup.cluster.create_csr(kube, name, pem, DOWN, SERVER)
    setup.plane.kubectl("certificate", "approve", *names_)
    proc.wait_log("reconcile failed; will retry", count=3)
    assert not any(issued(setup.cluster.csr(n)) for n in names_)
    server.start()
    proc.wait_log("503: Vault is sealed")  # up but sealed: still waiting
    assert not any(issued(setup.cluster.csr(n)) for n in names_)
    server.client(token="").sys.submit_unseal_keys(init["keys"])
    done = [setup.cluster.wait_csr(n, issued, timeout=90) for n in names_]
    new = serials(server, "down/pki") - before
    assert len(new) == len(names_), f"{len(new)} certificates for {len(names_)} CSRs"
    assert {f"{certificate(c)[0].serial_number:x}" for c in done} == {hexed(s) for s in new}


# -- bootstrap -kubelet-signer: the controller's login and RBAC as printed ---------------------------

def test_the_controller_logs_in_with_its_service_account_and_the_role_bootstrap_made(
        setup: Setup, controllers: Starter, tmp_path: Path) -> None:
    jwt = tmp_path / "sa-token"
    jwt.write_text(kube_auth.sa_token(setup.plane, SA_NAMESPACE, SA_NAME))
    method = f'method "kubernetes" {{ config = {{ role = "c1-csr-controller"  token_path = "{jwt}" }} }}'
    auth = f"auto_auth {{ {method} }}"
    kubelet_only = "\n".join(x for x in SIGNERS.splitlines() if "-apps" not in x and "-race" not in x)
    proc = leader(setup, controllers, auth=auth, signers=kubelet_only)
    assert "authenticated: method=kubernetes" in proc.text()
    n = unique("n")
    pem, _ = pkcs10(f"system:node:{n}", ["system:nodes"])
    name = unique("client-k8s-auth")
    with setup.cluster.as_node(n) as client:
        setup.cluster.create_csr(client, name, pem, KUBELET_CLIENT, CLIENT_USAGES)
    setup.cluster.wait_csr(name, issued)


def test_bootstrap_prints_rbac_the_apiserver_accepts(setup: Setup) -> None:
    text = ok(setup.warden.cli("k8s", "bootstrap", "c1", "-kubelet-signer", "-print-rbac"))
    docs = list(yaml.safe_load_all(text))
    kinds = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    assert [d["kind"] for d in docs] == kinds
    signers = next(r for r in docs[1]["rules"] if r["resources"] == ["signers"] and r["verbs"] == ["sign"])
    assert signers["resourceNames"] == [KUBELET_CLIENT, KUBELET_SERVING]
    setup.plane.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    again = ok(setup.warden.cli("k8s", "bootstrap", "c1", "-kubelet-signer", "-kubelet-serving-ca"))
    assert "No changes" in again and "auth/kubernetes/role/c1-csr-controller (unchanged)" in again
    assert "--controllers=*,-csrsigning" in again and "pki/kubelet-serving-ca.crt" in again
    as_json = json.loads(ok(setup.warden.cli("k8s", "bootstrap", "c1", "-kubelet-signer", "-format=json")))
    assert as_json["cluster"] == "c1" and as_json["changed"] is False and "kubelet_signer" in as_json


def test_a_missing_role_or_permission_stops_the_controllers_with_what_to_fix(
        setup: Setup, controllers: Starter) -> None:
    missing_role = f'signer "{APPS}" {{ mount = "c1/pki/apps"  role = "no-such-role" }}'
    proc = controllers(setup.config(unique("norole"), signers=missing_role))
    proc.wait_log("a controller failed; giving up the lease")
    assert "cannot read role c1/pki/apps/roles/no-such-role (permission denied)" in proc.text()
    unlisted = 'signer "example.com/not-in-rbac" { mount = "c1/pki/apps"  role = "apps" }'
    proc = controllers(setup.config(unique("norbac"), signers=unlisted))
    proc.wait_log("a controller failed; giving up the lease")
    assert "may not sign signers.certificates.k8s.io example.com/not-in-rbac" in proc.text()
    assert "print-rbac" in proc.text() and "decision:" not in proc.text()
