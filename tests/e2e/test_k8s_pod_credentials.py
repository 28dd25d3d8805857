"""Seed 003's pod credentials against the real kube-apiserver and a real warden server: the
``pod_credentials`` controller pushes a wrapped AppRole secret-id to a pod's init container
(a ``warden agent -receive-secret-id`` process on its own loopback address, standing in
for the pod's IP; Pod objects get their IP and init container state through the status
subresource), which turns it into a token file bound to that IP. Replayed, tampered and
expired pushes are refused, a second push is refused, an untrusted listener gets nothing,
the controller's token cannot make secret-ids for other roles, and a root token is refused.

One warden dev server and one controller process per module."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.csr_controller import ControllerProcess, unique
from support.envtest import ControlPlane
from support.kube_tree import LeafSpec, cert_pem, key_pem, make_ca, make_leaf
from support.server import WARDEN, ServerProcess
from support.warden_kube import (
    RootApi,
    account_kubeconfig,
    configure_kubernetes_auth,
    events_of,
    get,
    ok,
    printed_rbac,
    run_warden,
    wait_for,
)
from warden.kube.inventory import Usage

CONTROLLER_NS, CONTROLLER_SA = "kube-system", "warden-pod-credentials"
WEB_POLICY = 'path "kv/data/web/*" { capabilities = ["read"] }\n'
SERVING_POLICY = 'path "pods-pki/issue/pod" { capabilities = ["update"] }\n'
LISTENING = re.compile(r"waiting for the secret-id push: address=([0-9.]+):(\d+)")


def loopback_ip() -> str:
    """A pod IP of our own: a loopback address other helpers' tests do not use."""
    return f"127.{random.randint(20, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@dataclass
class Agent:
    """One ``warden agent -receive-secret-id`` (the init container) on its own address."""

    ip: str
    folder: Path
    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def token_file(self) -> Path:
        return self.folder / "token.json"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_listening(self) -> int:
        def found() -> int:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited ({self.proc.returncode}):\n{self.text()}")
            match = LISTENING.search(self.text())
            return int(match.group(2)) if match else 0

        self.port = wait_for("the agent listens", found)
        return self.port

    def wait_exit(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the agent did not exit:\n{self.text()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Pods:
    plane: ControlPlane
    warden: ServerProcess
    namespace: str
    folder: Path
    pod_ca: str
    controller_token: str
    controller: ControllerProcess
    agents: list[Agent] = field(default_factory=list)

    def agent(self, *extra: str, ip: str = "", timeout: str = "120s") -> Agent:
        ip = ip or loopback_ip()
        folder = self.folder / f"agent-{len(self.agents)}"
        folder.mkdir()
        jwt = folder / "sa-token"
        jwt.write_text(self.plane.service_account_token(self.namespace, "app", seconds=3600))
        log = folder / "agent.log"
        args = [
            WARDEN,
            "agent",
            "-receive-secret-id",
            "-role=web",
            f"-listen={ip}:0",
            f"-address={self.warden.url}",
            "-tls-issue=pods-pki/issue/pod",
            "-tls-login-role=pod-serving",
            f"-service-account-token={jwt}",
            f"-token-file={folder / 'token.json'}",
            f"-timeout={timeout}",
            *extra,
        ]
        with open(log, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        made = Agent(ip, folder, proc, log)
        self.agents.append(made)
        made.wait_listening()
        return made

    def create_pod(self, name: str, agent: Agent, role: str = "web", container_id: str = "") -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "annotations": {"warden.dev/approle": role, "warden.dev/receive-port": str(agent.port)},
            },
            "spec": {
                "serviceAccountName": "app",
                "initContainers": [{"name": "warden-init", "image": "warden:test"}],
                "containers": [{"name": "app", "image": "app:test"}],
            },
        }
        self.plane.apply(pod)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "status": {
                "phase": "Pending",
                "podIP": agent.ip,
                "podIPs": [{"ip": agent.ip}],
                "initContainerStatuses": [
                    {
                        "name": "warden-init",
                        "ready": False,
                        "restartCount": 0,
                        "image": "warden:test",
                        "imageID": "",
                        "containerID": container_id or f"containerd://{unique('c')}",
                        "state": {"running": {"startedAt": now}},
                    }
                ],
            }
        }
        with self.plane.http() as http:
            answer = http.patch(
                f"/api/v1/namespaces/{self.namespace}/pods/{name}/status",
                json=status,
                headers={"Content-Type": "application/merge-patch+json"},
            )
        assert answer.status_code == 200, answer.text

    def pod(self, name: str) -> dict[str, Any]:
        found = get(self.plane, f"/api/v1/namespaces/{self.namespace}/pods/{name}")
        assert found is not None
        return found

    def wrapped_secret_id(self, ip: str, wrap_ttl: str = "60s") -> dict[str, Any]:
        """What the controller makes, made with the controller's own token."""
        with httpx.Client(base_url=self.warden.url, timeout=30) as http:
            answer = http.put(
                "/v1/auth/approle/role/web/secret-id",
                json={"cidr_list": [f"{ip}/32"], "token_bound_cidrs": [f"{ip}/32"]},
                headers={"X-Vault-Token": self.controller_token, "X-Vault-Wrap-TTL": wrap_ttl},
            )
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["wrap_info"])

    def role_id(self) -> str:
        return str(self.warden.client().read("auth/approle/role/web/role-id")["data"]["role_id"])

    def push(self, agent: Agent, body: dict[str, Any]) -> httpx.Response:
        context = ssl.create_default_context(cadata=self.pod_ca)
        with httpx.Client(verify=context, timeout=30, trust_env=False) as http:
            return http.put(f"https://{agent.ip}:{agent.port}/v1/secret-id", json=body)


@pytest.fixture(scope="module")
def pods(
    kube_control_plane: ControlPlane, dev_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pods]:
    plane, server = kube_control_plane, dev_server
    folder = tmp_path_factory.mktemp("pods")
    namespace = unique("pods")
    plane.ensure_service_account(namespace, "app")
    configure_kubernetes_auth(server, plane)
    api = RootApi(server)
    api.mount("kv", "kv", version="2")
    api.write("kv/data/web/config", data={"greeting": "hello"})
    api.auth("approle", "approle")
    api.policy("web-app", WEB_POLICY)
    api.write("auth/approle/role/web", token_policies="web-app", secret_id_ttl="10m", token_ttl="1h")
    api.write("auth/approle/role/other", token_policies="default")
    api.mount("pods-pki", "pki", max_ttl="87600h")
    pod_ca = api.write("pods-pki/root/generate/internal", common_name="pods-ca", ttl="87600h")["data"][
        "certificate"
    ]
    api.write(
        "pods-pki/roles/pod",
        allow_any_name=True,
        enforce_hostnames=False,
        allow_ip_sans=True,
        key_type="ec",
        key_bits=256,
        ttl="1h",
        max_ttl="2h",
    )
    api.policy("pod-serving", SERVING_POLICY)
    api.write(
        "auth/kubernetes/role/pod-serving",
        bound_service_account_names="app",
        bound_service_account_namespaces=namespace,
        token_policies="pod-serving",
        ttl="5m",
    )
    config = folder / "controller.hcl"
    token_file = folder / "token"
    kubeconfig = account_kubeconfig(plane, CONTROLLER_NS, CONTROLLER_SA, folder / "kc")
    config.write_text(controller_config(server, token_file, kubeconfig, namespace))
    policy = ok(run_warden("k8s", "controller", f"-config={config}", "-print-policy"))
    api.policy("pod-controller", policy)
    token = api.orphan_token("pod-controller")
    token_file.write_text(token)
    rbac = printed_rbac(config, CONTROLLER_NS, CONTROLLER_SA)
    plane.kubectl("apply", "-f", "-", input=rbac)
    controller = ControllerProcess(config, folder / "controller.log").start()
    made = Pods(plane, server, namespace, folder, pod_ca, token, controller)
    try:
        controller.wait_log("watching")
        yield made
    finally:
        controller.stop()
        for agent in made.agents:
            agent.stop()


def controller_config(
    server: ServerProcess, token_file: Path, kubeconfig: Path, namespace: str, lease: str = ""
) -> str:
    return (
        f'warden {{ address = "{server.url}" }}\n'
        f'auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{token_file}" }} }} }}\n'
        f'kubernetes {{ kubeconfig = "{kubeconfig}" }}\n'
        f'leader_election {{ namespace = "{CONTROLLER_NS}"  name = "{lease or unique("pods-lease")}"\n'
        f'  lease_duration = "5s"  renew_deadline = "2.5s"  retry_period = "1s" }}\n'
        f'pod_credentials {{\n  roles = ["web"]  ca_mount = "pods-pki"  namespaces = ["{namespace}"]\n'
        f'  wrap_ttl = "60s"\n}}\n'
    )



def from_ip(ip: str, warden: ServerProcess, token: str, path: str) -> httpx.Response:
    """A request to warden leaving from ``ip`` (as the pod's would)."""
    transport = httpx.HTTPTransport(local_address=ip)
    with httpx.Client(base_url=warden.url, transport=transport, timeout=30) as http:
        return http.get(f"/v1/{path}", headers={"X-Vault-Token": token})


# -- the flow ----------------------------------------------------------------------------------


def test_a_pushed_secret_id_becomes_a_working_token_file(pods: Pods) -> None:
    agent = pods.agent()
    name = unique("web")
    pods.create_pod(name, agent)
    assert agent.wait_exit() == 0, agent.text()
    token = json.loads(agent.token_file.read_text())
    assert set(token) == {"clientToken", "accessor", "leaseDuration", "renewable", "vaultAddr"}
    assert token["vaultAddr"] == pods.warden.url and token["leaseDuration"] == 3600 and token["renewable"]
    assert agent.token_file.stat().st_mode & 0o777 == 0o600
    # the token works from the pod's IP, and only from there (token_bound_cidrs = IP/32)
    answer = from_ip(agent.ip, pods.warden, token["clientToken"], "kv/data/web/config")
    assert answer.status_code == 200 and answer.json()["data"]["data"] == {"greeting": "hello"}
    elsewhere = from_ip("127.0.0.1", pods.warden, token["clientToken"], "auth/token/lookup-self")
    assert elsewhere.status_code == 403
    looked_up = from_ip(agent.ip, pods.warden, token["clientToken"], "auth/token/lookup-self").json()["data"]
    assert looked_up["bound_cidrs"] == [f"{agent.ip}/32"] and "web-app" in looked_up["policies"]
    delivered = wait_for(
        "the pod is marked",
        lambda: pods.pod(name)["metadata"]["annotations"].get("warden.dev/secret-id-delivered"),
    )
    assert delivered.startswith("containerd://")
    assert any(e["reason"] == "SecretIdDelivered" for e in events_of(pods.plane, pods.namespace, name))
    pods.controller.wait_log(f"pod={pods.namespace}/{name}")
    assert token["clientToken"] not in pods.controller.text()


def test_expired_tampered_and_replayed_pushes_are_refused(pods: Pods) -> None:
    agent = pods.agent()
    role_id = pods.role_id()
    expired = pods.wrapped_secret_id(agent.ip, wrap_ttl="1s")
    time.sleep(2.5)
    refused = pods.push(agent, {"wrappedSecretId": expired["token"], "roleId": role_id})
    assert refused.status_code == 403, refused.text
    # a wrapping token made anywhere but the role's secret-id path (a man in the middle's)
    with httpx.Client(base_url=pods.warden.url, timeout=30) as http:
        forged = http.put(
            "/v1/sys/wrapping/wrap",
            json={"secret_id": "chosen-by-attacker"},
            headers={"X-Vault-Token": pods.warden.root_token, "X-Vault-Wrap-TTL": "60s"},
        )
    refused = pods.push(agent, {"wrappedSecretId": forged.json()["wrap_info"]["token"], "roleId": role_id})
    assert refused.status_code == 403 and "was created at 'sys/wrapping/wrap'" in refused.text, refused.text
    assert pods.push(agent, {"nonsense": True}).status_code == 400
    assert agent.proc.poll() is None, "refusals leave the agent waiting for a good push"
    good = {"wrappedSecretId": pods.wrapped_secret_id(agent.ip)["token"], "roleId": role_id}
    assert pods.push(agent, good).status_code == 200
    assert agent.wait_exit() == 0 and agent.token_file.exists()
    # the same push again, to another init container: the wrapping token is spent
    other = pods.agent()
    replayed = pods.push(other, good)
    assert replayed.status_code == 403, replayed.text
    assert not other.token_file.exists()


def test_a_second_push_is_refused(pods: Pods) -> None:
    agent = pods.agent()
    role_id = pods.role_id()
    bodies = [
        {"wrappedSecretId": pods.wrapped_secret_id(agent.ip)["token"], "roleId": role_id} for _ in range(4)
    ]
    results: list[int | str] = []
    lock = threading.Lock()

    def push(body: dict[str, Any]) -> None:
        try:
            status: int | str = pods.push(agent, body).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__  # the agent was already gone
        with lock:
            results.append(status)

    threads = [threading.Thread(target=push, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) == 1, results
    assert all(r in (200, 409) or isinstance(r, str) for r in results), results
    assert agent.wait_exit() == 0


def test_a_listener_with_another_ca_is_not_pushed_to(pods: Pods, tmp_path: Path) -> None:
    ip = loopback_ip()
    rogue = make_ca("rogue-ca")
    leaf, key = make_leaf(LeafSpec(ip, (), (), (ip,), (Usage.SERVER,)), rogue)
    (tmp_path / "tls.crt").write_text(cert_pem(leaf))
    (tmp_path / "tls.key").write_text(key_pem(key))
    log = tmp_path / "rogue.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                WARDEN,
                "agent",
                "-receive-secret-id",
                "-role=web",
                f"-listen={ip}:0",
                f"-address={pods.warden.url}",
                f"-tls-cert-file={tmp_path / 'tls.crt'}",
                f"-tls-key-file={tmp_path / 'tls.key'}",
                f"-token-file={tmp_path / 'token.json'}",
                "-timeout=60s",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    rogue_agent = Agent(ip, tmp_path, proc, log)
    pods.agents.append(rogue_agent)
    rogue_agent.wait_listening()
    name = unique("rogue")
    pods.create_pod(name, rogue_agent)
    pods.controller.wait_log(f"{pods.namespace}/{name}")  # it tried, and failed certificate verification
    time.sleep(3)
    assert (
        "CERTIFICATE_VERIFY_FAILED" in pods.controller.text()
        or "certificate verify failed" in pods.controller.text()
    )
    assert "warden.dev/secret-id-delivered" not in (pods.pod(name)["metadata"].get("annotations") or {})
    assert not (tmp_path / "token.json").exists() and proc.poll() is None
    rogue_agent.stop()


# -- least privilege ----------------------------------------------------------------------------


def test_the_controller_token_makes_secret_ids_for_its_roles_only(pods: Pods) -> None:
    denied = pods.warden.cli("write", "-f", "auth/approle/role/other/secret-id", token=pods.controller_token)
    assert denied.returncode != 0 and "permission denied" in denied.stderr.lower()
    denied = pods.warden.cli("read", "auth/approle/role/other/role-id", token=pods.controller_token)
    assert denied.returncode != 0
    agent = pods.agent()
    name = unique("other")
    pods.create_pod(name, agent, role="other")
    wait_for(
        "a RoleNotAllowed event",
        lambda: any(
            e["reason"] == "RoleNotAllowed" and e["type"] == "Warning"
            for e in events_of(pods.plane, pods.namespace, name)
        ),
    )
    time.sleep(2)
    assert agent.proc.poll() is None and not agent.token_file.exists()
    assert "warden.dev/secret-id-delivered" not in (pods.pod(name)["metadata"].get("annotations") or {})


def test_a_root_token_is_refused(pods: Pods, tmp_path: Path) -> None:
    token_file = tmp_path / "root-token"
    token_file.write_text(pods.warden.root_token)
    config = tmp_path / "root.hcl"
    config.write_text(controller_config(pods.warden, token_file, pods.folder / "kc", pods.namespace))
    done = run_warden("k8s", "controller", f"-config={config}")
    assert done.returncode == 2, done.stderr
    assert "refusing to run with a root token" in done.stderr
