"""``warden k8s rotate`` against a real server with the real CLI: the phases, the bundles they
leave in the tree, the state in KV, every refusal (out of order, live old leaves, two begins
at once as a race, a kv v1 mount), resuming a crashed begin, an offline root (-csr/-import
signed with openssl), and the service-account key pair."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from support.server import WARDEN, ServerProcess
from warden.api import Client
from warden.kube import rotate, rotate_begin
from warden.kube.rotate_leaves import parse_rfc3339
from warden.kube.rotation_state import Conflict, RotationStore
from warden.kube.state import read_cluster

OPENSSL_CA_EXT = ("basicConstraints=critical,CA:TRUE\n"
                  "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
                  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout + result.stderr


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, f"not refused ({result.returncode}):\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stderr


def bootstrap(server: ServerProcess, name: str, *extra: str) -> None:
    ok(server.cli("k8s", "bootstrap", name, "-control-plane", "cp1=127.0.0.1", "-key-type", "ec", *extra))


def rot(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return server.cli("k8s", "rotate", *args)


def certs(server: ServerProcess, name: str, out: Path, node: str = "cp1") -> Path:
    ok(server.cli("k8s", "certs", name, "-node", node, "-out", str(out)))
    return out


def bundle(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def kubeconfig_cas(path: Path) -> list[x509.Certificate]:
    doc = yaml.safe_load(path.read_text())
    data = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
    return x509.load_pem_x509_certificates(data)


def state(server: ServerProcess, cluster: str, ca: str) -> dict[str, Any]:
    with server.http() as http:
        answer = http.get(f"/v1/secret/data/{cluster}/k8s/rotation/{ca}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["data"])


def openssl_verify(ca: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True,
                          text=True, check=False)


def test_a_full_rotation_moves_trust_then_leaves_then_drops_the_old_ca(dev_server: ServerProcess,
                                                                       tmp_path: Path) -> None:
    server = dev_server
    bootstrap(server, "r1")
    tree = certs(server, "r1", tmp_path / "before")
    [old_ca] = bundle(tree / "pki/ca.crt")
    plan = ok(rot(server, "r1", "k8s", "plan"))
    assert "kube-controller-manager on cp1: restart (--client-ca-file, --root-ca-file" in plan
    assert max(len(line) for line in plan.splitlines()) <= 100

    out = ok(rot(server, "r1", "k8s", "begin"))
    assert "Next: warden k8s rotate r1 k8s switch" in out
    st = state(server, "r1", "k8s")
    assert st["phase"] == "begun" and st["old_issuer"] and st["new_issuer"] and st["begun_at"].endswith("Z")
    assert st["switched_at"] == "" and st["finished_at"] == ""
    assert "No changes" in ok(rot(server, "r1", "k8s", "begin"))  # idempotent
    tree = certs(server, "r1", tmp_path / "begun")
    cas = bundle(tree / "pki/ca.crt")
    assert len(cas) == 2 and cas[0] == old_ca  # old + new, the default (old) first
    assert kubeconfig_cas(tree / "admin.conf") == cas and kubeconfig_cas(tree / "kubelet.conf") == cas
    assert openssl_verify(tree / "pki/ca.crt", tree / "pki/apiserver.crt").returncode == 0
    assert len(bundle(tree / "pki/etcd/ca.crt")) == 1  # other CAs are not touched
    raw = httpx.get(f"{server.url}/v1/r1/pki/k8s/trust_bundle", timeout=10)  # no token: public
    assert raw.status_code == 200 and x509.load_pem_x509_certificates(raw.content) == cas
    view = httpx.get(f"{server.url}/v1/r1/pki/k8s/cert/trust_bundle", timeout=10).json()["data"]
    assert view["issuer_ids"] == [st["old_issuer"], st["new_issuer"]]
    assert [(i["issuer_id"], i["default"], i["issuing"]) for i in view["issuers"]] == [
        (st["old_issuer"], True, True), (st["new_issuer"], False, True)]

    ok(rot(server, "r1", "k8s", "switch"))
    st = state(server, "r1", "k8s")
    assert st["phase"] == "switched" and st["switched_at"] >= st["begun_at"]
    listed = refused(rot(server, "r1", "k8s", "finish"))
    assert "still come from the old CA" in listed and "apiserver CN=kube-apiserver" in listed
    assert "kubelet-client-cp1 CN=system:node:cp1" in listed and "-force" in listed
    ok(rot(server, "r1", "k8s", "switch", "-reissue", "-out", str(tmp_path / "trees")))
    tree = tmp_path / "trees/cp1"
    new_ca = bundle(tree / "pki/ca.crt")[0]
    assert new_ca != old_ca and tree.joinpath("pki/apiserver.crt").exists()
    leaf = x509.load_pem_x509_certificate((tree / "pki/apiserver.crt").read_bytes())
    assert leaf.issuer == new_ca.subject
    leaf.verify_directly_issued_by(new_ca)
    status = json.loads(rot(server, "-format=json", "r1", "k8s", "status").stdout)
    assert {r["issuer"] for r in status["leaves"] if r["issuer"] != "none"} == {"new"}

    ok(rot(server, "r1", "k8s", "finish"))
    st = state(server, "r1", "k8s")
    assert st["phase"] == "finished" and st["finished_at"] >= st["switched_at"] and st["forced"] == ""
    tree = certs(server, "r1", tmp_path / "after")
    assert bundle(tree / "pki/ca.crt") == [new_ca]
    assert openssl_verify(tree / "pki/ca.crt", tmp_path / "before/pki/apiserver.crt").returncode != 0
    assert "No changes" in ok(rot(server, "r1", "k8s", "finish"))
    check = server.cli("k8s", "check", str(tree))
    assert check.returncode == 0, check.stdout


def test_phases_out_of_order_are_refused_with_the_next_command(dev_server: ServerProcess) -> None:
    server = dev_server
    bootstrap(server, "r2")
    msg = refused(rot(server, "r2", "etcd", "switch"))
    assert "nothing to switch" in msg and "next: warden k8s rotate r2 etcd begin" in msg
    msg = refused(rot(server, "r2", "etcd", "finish"))
    assert "nothing to finish" in msg and "next: warden k8s rotate r2 etcd begin" in msg
    ok(rot(server, "r2", "etcd", "begin"))
    msg = refused(rot(server, "r2", "etcd", "finish"))
    assert "begun but not switched" in msg and "next: warden k8s rotate r2 etcd switch" in msg
    ok(rot(server, "r2", "etcd", "switch", "-force"))  # nobody fetched: forced on purpose
    msg = refused(rot(server, "r2", "etcd", "begin"))
    assert "next: warden k8s rotate r2 etcd finish" in msg
    assert state(server, "r2", "etcd")["phase"] == "switched"
    usage = server.cli("k8s", "rotate", "r2", "nope", "begin")
    assert usage.returncode == 1 and "use one of k8s, etcd, front-proxy, sa" in usage.stderr
    usage = server.cli("k8s", "rotate", "r2", "k8s", "finish", "-reissue")
    assert usage.returncode == 1 and "-reissue goes with switch" in usage.stderr


def test_switch_is_refused_while_components_have_not_fetched_the_bundle(dev_server: ServerProcess,
                                                                       tmp_path: Path) -> None:
    server = dev_server
    bootstrap(server, "r3")
    certs(server, "r3", tmp_path / "t")
    ok(rot(server, "r3", "front-proxy", "begin"))
    msg = refused(rot(server, "r3", "front-proxy", "switch"))
    assert "have not fetched their files" in msg and "front-proxy-client" in msg
    certs(server, "r3", tmp_path / "t")
    ok(rot(server, "r3", "front-proxy", "switch"))


def test_finish_force_says_what_it_breaks(dev_server: ServerProcess, tmp_path: Path) -> None:
    server = dev_server
    bootstrap(server, "r4")
    ok(rot(server, "r4", "front-proxy", "begin"))
    certs(server, "r4", tmp_path / "t")
    ok(rot(server, "r4", "front-proxy", "switch"))
    out = rot(server, "r4", "front-proxy", "finish", "-force")
    assert out.returncode == 0, out.stderr
    assert "WARNING! no longer verifies: front-proxy-client" in out.stderr
    assert state(server, "r4", "front-proxy")["forced"] == "1 leaves of the old CA stopped verifying"


def _client(server: ServerProcess) -> Client:
    return Client(server.url, server.root_token)


class GatedClient(Client):
    """A client that, after reading the rotation state, waits until every racer has read it:
    all of them then write against the same version, as two operators at once would."""

    def __init__(self, server: ServerProcess, barrier: threading.Barrier, state_path: str) -> None:
        super().__init__(server.url, server.root_token)
        self.barrier, self.state_path, self.gated = barrier, state_path, False

    def read(self, path: str, params: Any = None) -> Any:
        found = super().read(path, params)
        if path == self.state_path and not self.gated:
            self.gated = True
            self.barrier.wait(timeout=30)
        return found


@pytest.mark.parametrize("trial", range(3))
def test_two_begins_at_once_one_wins_the_others_are_refused(dev_server: ServerProcess, trial: int) -> None:
    server = dev_server
    name = f"race{trial}"
    bootstrap(server, name)
    with _client(server) as client:
        spec = read_cluster(client, "secret", name)
    racers = 4
    barrier = threading.Barrier(racers)
    results: list[str] = []

    def run(n: int) -> None:
        with GatedClient(server, barrier, f"secret/data/{name}/k8s/rotation/k8s") as api:
            env = rotate.Env(api, spec, time.time, f"operator-{n}")
            try:
                results.append("began" if rotate_begin.begin(env, "k8s").changed else "unchanged")
            except Conflict as exc:
                results.append("refused: " + str(exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r[:7] for r in results) == ["began", "refused", "refused", "refused"], results
    assert all("another begin of the k8s CA ran at the same time" in r for r in results if r != "began")
    with server.http() as http:
        issuers = http.request("LIST", f"/v1/{name}/pki/k8s/issuers").json()["data"]["keys"]
    assert len(issuers) == 2  # exactly one new issuer
    st = state(server, name, "k8s")
    assert st["phase"] == "begun" and st["new_issuer"] in issuers


def test_begins_from_many_cli_processes_make_one_new_issuer(dev_server: ServerProcess) -> None:
    server = dev_server
    bootstrap(server, "race-cli")
    env = {**os.environ, "WARDEN_ADDR": server.url, "WARDEN_TOKEN": server.root_token}
    procs = [subprocess.Popen([WARDEN, "k8s", "rotate", "race-cli", "k8s", "begin"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    outs = [(p.wait(timeout=60), p.communicate()[1]) for p in procs]
    assert sum(1 for code, err in outs if code == 0 and "Success!" in err) == 1, outs
    for code, err in outs:
        done = code == 0 and ("Success!" in err or "No changes" in err)
        assert done or (code == 2 and "refused" in err), err
    with server.http() as http:
        assert len(http.request("LIST", "/v1/race-cli/pki/k8s/issuers").json()["data"]["keys"]) == 2


def test_a_crashed_begin_is_resumed_and_a_running_one_is_left_alone(dev_server: ServerProcess) -> None:
    server = dev_server
    bootstrap(server, "crash")
    with _client(server) as client:
        spec = read_cluster(client, "secret", "crash")
        store = RotationStore(client, spec)
        old = client.read("crash/pki/k8s/config/issuers")["data"]["default"]  # type: ignore[index]
        # A begin claimed the rotation and made its issuer, then died before recording it.
        client.write("crash/pki/k8s/root/rotate/internal", {"common_name": "kubernetes", "key_type": "ec",
                                                            "issuer_name": "k8s-crashed"})
        pending = rotate.RotationState("k8s", "crash/pki/k8s", old_issuer=old, pending="begin",
                                       pending_since="2020-01-01T00:00:00Z", pending_by="ghost@box",
                                       new_issuer_name="k8s-crashed")
        store.write(pending)
        out = ok(rot(server, "crash", "k8s", "begin"))
        assert "continuing the begin ghost@box started" in out and "adopting the issuer k8s-crashed" in out
        st = state(server, "crash", "k8s")
        made = client.read("crash/pki/k8s/issuer/k8s-crashed")["data"]["issuer_id"]  # type: ignore[index]
        assert st["phase"] == "begun" and st["new_issuer"] == made and st["pending"] == ""
        issuers = client.list("crash/pki/k8s/issuers")["data"]["keys"]  # type: ignore[index]
        assert len(issuers) == 2
        # A begin that is still running (fresh claim) is not taken over.
        ok(rot(server, "crash", "k8s", "switch", "-force"))
        ok(rot(server, "crash", "k8s", "finish", "-force"))
        fresh = store.read("k8s").replace(pending="begin", pending_by="alice@box", new_issuer_name="k8s-x",
                                          pending_since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        store.write(fresh)
    msg = refused(rot(server, "crash", "k8s", "begin"))
    assert "alice@box is beginning the rotation" in msg and "run begin again after" in msg


def test_a_kv_version_1_mount_is_refused_with_the_fix(dev_server: ServerProcess) -> None:
    server = dev_server
    ok(server.cli("secrets", "enable", "-path=kv1", "-version=1", "kv"))
    bootstrap(server, "v1c", "-kv-mount", "kv1")
    msg = refused(rot(server, "-kv-mount", "kv1", "v1c", "k8s", "begin"))
    assert "version 1, which has no check-and-set" in msg
    assert "warden secrets tune -options=version=2 kv1" in msg
    ok(server.cli("secrets", "tune", "-options=version=2", "kv1"))
    ok(server.cli("k8s", "bootstrap", "v1c", "-kv-mount", "kv1"))
    out = ok(rot(server, "-kv-mount", "kv1", "v1c", "k8s", "begin"))
    assert "Next: warden k8s rotate -kv-mount kv1 v1c k8s switch" in out


def test_an_offline_root_signs_the_new_ca_from_a_csr(dev_server: ServerProcess, tmp_path: Path) -> None:
    server = dev_server
    csr_dir = tmp_path / "csr"
    ok(server.cli("k8s", "bootstrap", "off", "-control-plane", "cp1=127.0.0.1", "-intermediate",
                  "-csr-dir", str(csr_dir)))
    root_key, root_crt = tmp_path / "root.key", tmp_path / "root.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(root_key), "-out", str(root_crt), "-days", "3650",
                    "-subj", "/CN=offline-root"], check=True, capture_output=True)
    ext = tmp_path / "ca.ext"
    ext.write_text(OPENSSL_CA_EXT)

    def sign(csr: Path, out: Path) -> None:
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(root_crt), "-CAkey",
                        str(root_key), "-CAcreateserial", "-days", "1825", "-extfile", str(ext),
                        "-out", str(out)], check=True, capture_output=True)

    for ca in ("k8s", "etcd", "front-proxy"):
        sign(csr_dir / f"off-{ca}.csr", csr_dir / f"off-{ca}.crt")
    ok(server.cli("k8s", "import-signed", "off", "-csr-dir", str(csr_dir), "-root", str(root_crt)))
    certs(server, "off", tmp_path / "t")

    msg = refused(rot(server, "off", "etcd", "begin"))
    assert "intermediates of an offline root" in msg and "begin -csr" in msg
    new_csr = tmp_path / "etcd-new.csr"
    out = ok(rot(server, "off", "etcd", "begin", "-csr", "-csr-out", str(new_csr)))
    assert "Next: warden k8s rotate off etcd begin -import SIGNED.crt" in out
    again = rot(server, "off", "etcd", "begin", "-csr")
    assert again.returncode == 0 and again.stdout == new_csr.read_text()  # the same CSR, printed again
    assert state(server, "off", "etcd")["phase"] == ""  # nothing is trusted yet
    msg = refused(rot(server, "off", "etcd", "switch"))
    assert "waiting for a signed certificate" in msg and "begin -import SIGNED.crt" in msg
    wrong = tmp_path / "wrong.crt"
    sign(csr_dir / "off-etcd.csr", wrong)  # the old CSR: a certificate for the old key
    msg = refused(rot(server, "off", "etcd", "begin", "-import", str(wrong)))
    assert "was not made from the CSR" in msg
    signed = tmp_path / "etcd-new.crt"
    sign(new_csr, signed)
    ok(rot(server, "off", "etcd", "begin", "-import", str(signed)))
    st = state(server, "off", "etcd")
    assert st["phase"] == "begun" and st["csr"] == "" and st["new_issuer"]
    tree = certs(server, "off", tmp_path / "t")
    names = [c.subject.rfc4514_string() for c in bundle(tree / "pki/etcd/ca.crt")]
    assert names == ["CN=etcd-ca,OU=off", "CN=offline-root", "CN=etcd-ca,OU=off"]  # root once
    ok(rot(server, "off", "etcd", "switch"))
    ok(rot(server, "off", "etcd", "switch", "-reissue", "-out", str(tmp_path / "re")))
    leaf = x509.load_pem_x509_certificate((tmp_path / "re/cp1/pki/etcd/server.crt").read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(signed.read_bytes()))
    certs(server, "off", tmp_path / "t")
    ok(rot(server, "off", "etcd", "finish"))
    tree = certs(server, "off", tmp_path / "t")
    assert [c.subject.rfc4514_string() for c in bundle(tree / "pki/etcd/ca.crt")] == [
        "CN=etcd-ca,OU=off", "CN=offline-root"]
    assert bundle(tree / "pki/etcd/ca.crt")[0] == x509.load_pem_x509_certificate(signed.read_bytes())


def _public_keys(path: Path) -> list[bytes]:
    text = path.read_text()
    blocks = [b + "-----END PUBLIC KEY-----\n" for b in text.split("-----END PUBLIC KEY-----")[:-1]]
    return [serialization.load_pem_public_key(b.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) for b in blocks]


def _public_of(key_file: Path) -> bytes:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_service_account_key_pair_rotates_in_three_steps(dev_server: ServerProcess,
                                                             tmp_path: Path) -> None:
    server = dev_server
    bootstrap(server, "sa1")
    tree = certs(server, "sa1", tmp_path / "t")
    old = _public_of(tree / "pki/sa.key")
    assert _public_keys(tree / "pki/sa.pub") == [old]
    msg = refused(rot(server, "sa1", "sa", "switch"))
    assert "next: warden k8s rotate sa1 sa begin" in msg
    ok(rot(server, "sa1", "sa", "begin"))
    certs(server, "sa1", tree)
    pubs = _public_keys(tree / "pki/sa.pub")
    assert len(pubs) == 2 and pubs[0] == old and _public_of(tree / "pki/sa.key") == old
    ok(rot(server, "sa1", "sa", "switch", "-token-lifetime", "2h"))
    certs(server, "sa1", tree)
    new = _public_of(tree / "pki/sa.key")
    assert new != old and _public_keys(tree / "pki/sa.pub") == [old, new]
    assert ok(server.cli("k8s", "check", str(tree))).rstrip().endswith("0 with problems.")
    msg = refused(rot(server, "sa1", "sa", "finish"))  # the wait itself: the apiserver test
    assert "may be valid until" in msg and "(token lifetime 2h)" in msg and "-force" in msg
    st = state(server, "sa1", "sa")
    assert st["old_issuer"].startswith("sha256:") and st["token_lifetime"] == "2h"
    assert parse_rfc3339(st["finish_after"]) - parse_rfc3339(st["switched_at"]) == 7200
    ok(rot(server, "sa1", "sa", "finish", "-force"))
    assert "tokens of the old key stopped authenticating" in state(server, "sa1", "sa")["forced"]
    certs(server, "sa1", tree)
    assert _public_keys(tree / "pki/sa.pub") == [new] and _public_of(tree / "pki/sa.key") == new
    assert state(server, "sa1", "sa")["phase"] == "finished"
    status = json.loads(rot(server, "-format=json", "sa1", "sa", "status").stdout)
    assert status["phase"] == "finished" and status["next"] == ""
