"""``warden agent`` logging in against a real server: AppRole with a wrapped secret-id
(seed 003's init container), Kubernetes through the real apiserver's TokenReview, AWS ec2
from a metadata address, token renewal, re-login after revocation and at the max TTL,
and ``-once`` exiting 0 or non-zero with the reason."""

from __future__ import annotations

import base64
import json
import stat
import textwrap
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hvac
import pytest
import yaml

from support import kube_auth
from support.agent import AgentProcess, run_agent_once, setup_pki, verify_issued
from support.aws_identity import AwsSigner, identity_document
from support.envtest import ControlPlane
from support.server import ServerProcess

PKI, ROLE = "apps/pki", "web"
POLICY = f"""
path "{PKI}/issue/{ROLE}" {{ capabilities = ["update"] }}
path "secret/data/app/*" {{ capabilities = ["read"] }}
path "sys/internal/ui/mounts/*" {{ capabilities = ["read"] }}
"""
INSTANCE = "i-0a1b2c3d4e5f60718"
APPS_NS = "agent-apps"


@pytest.fixture(scope="module")
def signer() -> AwsSigner:
    return AwsSigner("dsa")


@pytest.fixture(scope="module")
def root(dev_server: ServerProcess, kube_control_plane: ControlPlane, signer: AwsSigner) -> hvac.Client:
    client = dev_server.client()
    setup_pki(client, PKI, ROLE)
    client.sys.create_or_update_policy("agent-app", POLICY)
    client.secrets.kv.v2.create_or_update_secret("app/db", secret={"password": "hunter2"})
    client.sys.enable_auth_method("approle")
    client.sys.enable_auth_method("kubernetes")
    kube_auth.configure(client, kube_control_plane)
    client.auth.kubernetes.create_role("web", bound_service_account_names=["web"],
                                       bound_service_account_namespaces=[APPS_NS], policies=["agent-app"],
                                       ttl="1h")
    client.sys.enable_auth_method("aws")
    client.auth.aws.create_certificate_configuration("aws-dsa", signer.cert_pem, document_type="pkcs7")
    client.auth.aws.create_role("node", auth_type="ec2", bound_ec2_instance_id=INSTANCE,
                                policies="agent-app", max_ttl="1h")
    return client


def approle(root: hvac.Client, name: str, workdir: Path, *, wrapped: bool = False, **settings: object) -> str:
    """Create the role and write its role-id and secret-id files; the method block."""
    root.auth.approle.create_or_update_approle(name, token_policies=["agent-app"], **settings)
    (workdir / "role-id").write_text(root.auth.approle.read_role_id(name)["data"]["role_id"])
    if wrapped:
        secret = root.auth.approle.generate_secret_id(name, wrap_ttl="60s")["wrap_info"]["token"]
    else:
        secret = root.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    (workdir / "secret-id").write_text(secret + "\n")
    wrapping = f'secret_id_response_wrapping_path = "auth/approle/role/{name}/secret-id"' if wrapped else ""
    return f"""method "approle" {{
        min_backoff = "0.2s"  max_backoff = "1s"
        config = {{ role_id_file_path = "{workdir}/role-id"  secret_id_file_path = "{workdir}/secret-id"
                   {wrapping} }}
      }}"""


def write_config(workdir: Path, server: ServerProcess, method: str, extra: str = "") -> Path:
    path = workdir / "agent.hcl"
    path.write_text(textwrap.dedent(f"""
        warden {{ address = "{server.url}" }}
        auto_auth {{
          {method}
          sink "file" {{ format = "json"  config = {{ path = "{workdir}/out/token.json"  mode = "0600" }} }}
        }}
    """) + extra)
    return path


KUBECONFIG = """
template "kubeconfig" {
  destination = "%(dir)s/out/kubeconfig"
  perms = "0600"
  contents = <<EOT
{%% set c = pki_cert("%(pki)s/issue/%(role)s", common_name="kubeconfig.apps.example", ttl="1h") -%%}
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {{ c.ca | b64encode }}
users:
- name: web
  user:
    client-certificate-data: {{ c.cert | b64encode }}
    client-key-data: {{ c.key | b64encode }}
contexts:
- name: web
  context: {cluster: local, user: web}
current-context: web
db-password: {{ kv("secret/app/db", "password") }}
EOT
}
"""

CERTIFICATE = """
certificate "web" {
  mount = "%(pki)s"  role = "%(role)s"  common_name = "web.apps.example"  ip_sans = ["127.0.0.1"]
  ttl = "1h"
  cert_file = "%(dir)s/out/web.pem"  key_file = "%(dir)s/out/web-key.pem"  ca_file = "%(dir)s/out/ca.pem"
}
"""


def blocks(workdir: Path, role: str = ROLE) -> str:
    values = {"dir": workdir, "pki": PKI, "role": role}
    return CERTIFICATE % values + KUBECONFIG % values


def token_json(workdir: Path) -> dict[str, object]:
    return json.loads((workdir / "out" / "token.json").read_text())  # type: ignore[no-any-return]


def test_once_with_a_wrapped_secret_id_writes_the_token_json_and_the_files(
        root: hvac.Client, dev_server: ServerProcess, tmp_path: Path) -> None:
    method = approle(root, "web-init", tmp_path, wrapped=True, token_ttl="20m", secret_id_num_uses=1)
    wrapping_token = (tmp_path / "secret-id").read_text().strip()
    result = run_agent_once(write_config(tmp_path, dev_server, method, blocks(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr

    token = token_json(tmp_path)
    assert set(token) == {"clientToken", "accessor", "leaseDuration", "renewable", "vaultAddr"}
    assert (token["leaseDuration"], token["renewable"], token["vaultAddr"]) == (1200, True, dev_server.url)
    me = dev_server.client(token=str(token["clientToken"])).auth.token.lookup_self()["data"]
    assert me["accessor"] == token["accessor"] and "agent-app" in me["policies"]
    assert me["meta"]["role_name"] == "web-init"
    assert stat.S_IMODE((tmp_path / "out" / "token.json").stat().st_mode) == 0o600
    assert not (tmp_path / "secret-id").exists()  # read, unwrapped and removed
    with pytest.raises(hvac.exceptions.VaultError):
        dev_server.client(token=wrapping_token).sys.unwrap()  # spent by the agent

    out = tmp_path / "out"
    verify_issued((out / "web.pem").read_bytes(), (out / "web-key.pem").read_bytes(),
                  (out / "ca.pem").read_bytes(), "web.apps.example")
    kubeconfig = yaml.safe_load((out / "kubeconfig").read_text())
    user = kubeconfig["users"][0]["user"]
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    verify_issued(base64.b64decode(user["client-certificate-data"]),
                  base64.b64decode(user["client-key-data"]), ca, "kubeconfig.apps.example")
    assert ca == (out / "ca.pem").read_bytes() and kubeconfig["db-password"] == "hunter2"
    assert stat.S_IMODE((out / "kubeconfig").stat().st_mode) == 0o600
    for secret in (str(token["clientToken"]), wrapping_token, "hunter2", "PRIVATE KEY"):
        assert secret not in result.stderr + result.stdout

    # Run again (a restart of the init container): what is on disk is still good, so
    # neither the certificate nor the kubeconfig is issued or written again.
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    (tmp_path / "root-token").write_text(dev_server.root_token)
    method = f'method "token_file" {{ config = {{ token_file_path = "{tmp_path}/root-token" }} }}'
    again = run_agent_once(write_config(tmp_path, dev_server, method, blocks(tmp_path)), "-allow-root-token")
    assert again.returncode == 0, again.stderr
    assert {p.name: p.stat().st_ino for p in out.iterdir() if p.name != "token.json"} == {
        name: ino for name, ino in inodes.items() if name != "token.json"}
    assert "keeping the certificate on disk" in again.stderr and "template unchanged" in again.stderr


def test_once_with_a_bad_role_exits_non_zero_and_says_why(
        root: hvac.Client, dev_server: ServerProcess, kube_control_plane: ControlPlane,
        tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(kube_auth.sa_token(kube_control_plane, APPS_NS, "web"))
    method = f'method "kubernetes" {{ config = {{ role = "no-such-role"  token_path = "{tmp_path}/jwt" }} }}'
    result = run_agent_once(write_config(tmp_path, dev_server, method))
    assert result.returncode == 2
    assert "Error: could not authenticate with kubernetes" in result.stderr
    assert "no-such-role" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "out" / "token.json").exists()

    method = method.replace("no-such-role", "web")
    result = run_agent_once(write_config(tmp_path, dev_server, method, blocks(tmp_path, role="nope")))
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: certificate web: PUT") and f"{PKI}/issue/nope" in last


def test_kubernetes_login_through_the_apiservers_tokenreview(
        root: hvac.Client, dev_server: ServerProcess, kube_control_plane: ControlPlane,
        tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(kube_auth.sa_token(kube_control_plane, APPS_NS, "web"))
    method = f'method "kubernetes" {{ config = {{ role = "web"  token_path = "{tmp_path}/jwt" }} }}'
    extra = f"""template {{ contents = "{{{{ kv('secret/app/db', 'password') }}}}"
                           destination = "{tmp_path}/out/password" }}"""
    result = run_agent_once(write_config(tmp_path, dev_server, method, extra))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "password").read_text() == "hunter2"
    token = str(token_json(tmp_path)["clientToken"])
    me = dev_server.client(token=token).auth.token.lookup_self()["data"]
    assert me["meta"]["service_account_name"] == "web" and me["display_name"] == f"kubernetes-{APPS_NS}-web"
    assert me["meta"]["service_account_uid"] == kube_auth.sa_uid(kube_control_plane, APPS_NS, "web")


def test_the_token_is_renewed_and_replaced_after_it_is_revoked(
        root: hvac.Client, dev_server: ServerProcess, tmp_path: Path) -> None:
    method = approle(root, "web-short", tmp_path, token_ttl="4s", token_max_ttl="1h")
    agent = AgentProcess(write_config(tmp_path, dev_server, method)).start()
    try:
        agent.wait_log("renewed token", timeout=10)
        first = str(token_json(tmp_path)["clientToken"])
        root.auth.token.revoke(first)
        agent.wait_log("logging in again", timeout=10)
        agent.wait_log("wrote token sink", count=2, timeout=10)
        second = str(token_json(tmp_path)["clientToken"])
        agent.wait_log("renewed token", count=2, timeout=10)  # and the new one is kept alive too
    finally:
        assert agent.stop() == 0
    assert second != first
    me = dev_server.client(token=second).auth.token.lookup_self()["data"]
    assert me["meta"]["role_name"] == "web-short"
    with pytest.raises(hvac.exceptions.Forbidden):
        dev_server.client(token=first).auth.token.lookup_self()
    assert "renewal was refused" in agent.log() and first not in agent.log() and second not in agent.log()


def test_a_token_at_its_max_ttl_is_replaced_before_it_expires(
        root: hvac.Client, dev_server: ServerProcess, tmp_path: Path) -> None:
    method = approle(root, "web-capped", tmp_path, token_ttl="3s", token_max_ttl="5s")
    agent = AgentProcess(write_config(tmp_path, dev_server, method)).start()
    try:
        agent.wait_log("wrote token sink")
        first = str(token_json(tmp_path)["clientToken"])
        first_issued = issue_time(root, first)
        agent.wait_log("the token is near its maximum TTL", timeout=10)
        agent.wait_log("wrote token sink", count=2, timeout=10)
        second = str(token_json(tmp_path)["clientToken"])
    finally:
        assert agent.stop() == 0
    assert second != first, agent.log()
    # By the server's clock: the new token was made before the old one's 5s max TTL ran out.
    assert issue_time(root, second) - first_issued < 5.0, agent.log()


def issue_time(root: hvac.Client, token: str) -> float:
    stamp = root.auth.token.lookup(token)["data"]["issue_time"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class _Metadata(BaseHTTPRequestHandler):
    """IMDSv2: a session token first, then the signed identity document."""

    pkcs7 = ""
    sessions: list[str] = []

    def do_PUT(self) -> None:
        self.sessions.append(self.path)
        self._send(200, "imds-session-token")

    def do_GET(self) -> None:
        ok = self.headers.get("X-aws-ec2-metadata-token") == "imds-session-token"
        if self.path == "/latest/dynamic/instance-identity/pkcs7" and ok:
            self._send(200, self.pkcs7)
        else:
            self._send(401, "")

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_aws_ec2_login_with_the_document_from_the_metadata_address(
        root: hvac.Client, dev_server: ServerProcess, signer: AwsSigner, tmp_path: Path) -> None:
    handler = type("Metadata", (_Metadata,), {
        "pkcs7": signer.sign(identity_document(instanceId=INSTANCE)), "sessions": []})
    metadata = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=metadata.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{metadata.server_address[1]}"
        method = f'method "aws" {{ config = {{ role = "node"  metadata_address = "{address}" }} }}'
        result = run_agent_once(write_config(tmp_path, dev_server, method))
    finally:
        metadata.shutdown()
        metadata.server_close()
    assert result.returncode == 0, result.stderr
    token = str(token_json(tmp_path)["clientToken"])
    me = dev_server.client(token=token).auth.token.lookup_self()["data"]
    assert me["meta"]["instance_id"] == INSTANCE and "agent-app" in me["policies"]
    assert handler.sessions == ["/latest/api/token"]


def test_a_root_token_is_refused_unless_allowed(dev_server: ServerProcess, tmp_path: Path) -> None:
    """Seed 003's rule (issue 15): the agent does not run on a root token by accident."""
    root_token = dev_server.client().auth.token.create(policies=["root"], ttl="1h")["auth"]["client_token"]
    (tmp_path / "token").write_text(root_token)
    config = write_config(tmp_path, dev_server,
                          f'method "token_file" {{ config = {{ token_file_path = "{tmp_path}/token" }} }}')
    refused = run_agent_once(config)
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: could not authenticate with token_file") and "root token" in last
    assert "-allow-root-token" in last and root_token not in refused.stderr
    assert not (tmp_path / "out" / "token.json").exists()

    running = AgentProcess(config).start()  # not only -once: the long-running agent stops too
    try:
        assert running.wait(timeout=60) == 2
    finally:
        running.stop()
    assert not (tmp_path / "out" / "token.json").exists()

    allowed = run_agent_once(config, "-allow-root-token")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads((tmp_path / "out" / "token.json").read_text())["clientToken"] == root_token
