"""warden as a production server: SQLite storage, barrier on, a file audit device, certificates stored.

The bench client uses a non-root token whose policy allows exactly issue/ and sign/ on the
role, so every request pays for the token lookup and the ACL check as it would in a cluster.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.items import DOMAIN, CertRequest
from bench.keys import KeyType
from bench.loadspec import HttpRequest
from bench.process import ManagedProcess, free_port

MOUNT = "pki"
ROLE = "bench"
SHORT_TTL = "5m"
POLICY = f"""
path "{MOUNT}/issue/{ROLE}" {{ capabilities = ["update"] }}
path "{MOUNT}/sign/{ROLE}" {{ capabilities = ["update"] }}
"""


def server_config(db_path: Path, etcd_address: str = "", port: int = 0, workers: int = 1) -> str:
    """HCL for one plain-HTTP listener on a loopback port (port 0: the banner reports which).

    With ``etcd_address`` the store is etcd in HA mode (one node: it holds the lock, and
    every write carries the lock's fence, as in a real HA deployment).
    """
    listener = f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
    if not etcd_address:
        return (f'storage "sqlite" {{\n  path = "{db_path}"\n}}\n' + listener
                + (f"workers = {workers}\n" if workers > 1 else ""))
    return (f'storage "etcd" {{\n  address = "{etcd_address}"\n  path = "/warden-bench/"\n'
            f'  ha_enabled = "true"\n}}\n' + listener + f'api_addr = "http://127.0.0.1:{port}"\n')


def role_body(key: KeyType) -> dict[str, Any]:
    return {"allowed_domains": DOMAIN, "allow_subdomains": True, "key_type": key.algo,
            "key_bits": key.bits, "ttl": "24h", "max_ttl": "72h", "server_flag": True,
            "client_flag": True}


def warden_executable() -> str:
    return str(Path(sys.executable).parent / "warden")


class WardenServer:
    def __init__(self, workdir: Path, key: KeyType, *, etcd_address: str = "",
                 workers: int = 1) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = "warden-etcd" if etcd_address else "warden" if workers == 1 else f"warden-{workers}w"
        self.workers = workers
        self.etcd_address = etcd_address
        self.workdir = workdir
        self.key = key
        self.config_path = workdir / "warden.hcl"
        self.audit_path = workdir / "audit.log"
        self.process = ManagedProcess([warden_executable(), "server", f"-config={self.config_path}"],
                                      workdir, "warden.log")
        self.url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.token = ""
        self.root_token = ""
        self.unseal_key = ""
        self.ca_pem = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> WardenServer:
        port = free_port() if self.etcd_address else 0  # api_addr must name the port
        self.config_path.write_text(server_config(self.workdir / "warden.db", self.etcd_address, port,
                                                  self.workers))
        self._launch()
        self._bootstrap()
        return self

    def _launch(self) -> None:
        proc = self.process.start(stdout=subprocess.PIPE)
        self.url = _await_banner(proc)
        self.host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)

    def restart(self) -> dict[str, float]:
        """Start again over the same store (after ``stop``) and unseal: seconds from launch to
        the listening banner, and to serving unsealed."""
        began = time.perf_counter()
        self._launch()
        listening = time.perf_counter() - began
        with httpx.Client(base_url=self.url, timeout=600) as http:
            _ok(http.put("/v1/sys/unseal", json={"key": self.unseal_key}))
            _await_active(http, timeout=600)
        return {"listening_s": round(listening, 3), "unsealed_s": round(time.perf_counter() - began, 3)}

    def _bootstrap(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            init = _ok(http.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}))
            self.root_token, self.unseal_key = init["root_token"], init["keys"][0]
            _ok(http.put("/v1/sys/unseal", json={"key": self.unseal_key}))
            _await_active(http)
            http.headers["X-Vault-Token"] = self.root_token
            _ok(http.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": str(self.audit_path)}}))
            _ok(http.post(f"/v1/sys/mounts/{MOUNT}", json={
                "type": "pki", "config": {"max_lease_ttl": "87600h"}}))
            root = _ok(http.post(f"/v1/{MOUNT}/root/generate/internal", json={
                "common_name": f"warden bench root {self.key.label}", "key_type": self.key.algo,
                "key_bits": self.key.bits, "ttl": "87600h"}))
            self.ca_pem = root["data"]["certificate"]
            _ok(http.post(f"/v1/{MOUNT}/roles/{ROLE}", json=role_body(self.key)))
            _ok(http.put(f"/v1/sys/policies/acl/{ROLE}", json={"policy": POLICY}))
            token = _ok(http.post("/v1/auth/token/create", json={"policies": [ROLE], "ttl": "72h"}))
            self.token = token["auth"]["client_token"]

    def request(self, operation: str, item: CertRequest) -> HttpRequest:
        return vault_request(operation, item, self.token)

    @staticmethod
    def extract(body: str) -> tuple[str, str]:
        """(certificate PEM, private key PEM or "") from a response body."""
        data = json.loads(body)["data"]
        return data["certificate"], data.get("private_key", "")

    def checks(self) -> dict[str, int]:
        """What the server kept: certificates stored and audit lines written (after a workload)."""
        with httpx.Client(base_url=self.url, timeout=300,
                          headers={"X-Vault-Token": self.root_token}) as http:
            listed = http.request("LIST", f"/v1/{MOUNT}/certs")
            stored = len(listed.json()["data"]["keys"]) if listed.status_code == 200 else -1
        with open(self.audit_path, "rb") as fh:
            audit_lines = sum(1 for _ in fh)
        return {"stored_certificates": stored, "audit_lines": audit_lines}

    def stop(self) -> None:
        self.process.stop()


def vault_request(operation: str, item: CertRequest, token: str) -> HttpRequest:
    """``pki/issue/bench`` or ``pki/sign/bench`` for one item, as Vault's API takes it."""
    body: dict[str, Any]
    if operation == "sign":
        body = {"csr": item.csr_pem}
    else:
        body = {"common_name": item.common_name,
                "alt_names": ",".join(n for n in item.dns_names if n != item.common_name)}
    if item.short_ttl:
        body["ttl"] = SHORT_TTL
    return HttpRequest("POST", f"/v1/{MOUNT}/{operation}/{ROLE}", json.dumps(body), {"X-Vault-Token": token})


def _await_banner(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    result: dict[str, str] = {}

    def pump() -> None:  # keeps draining stdout after start-up so the server never blocks on it
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            lines.append(line)
            if m := re.search(r"Api Address: (\S+)", line):
                result["url"] = m.group(1)
            if "server started" in line:
                result["started"] = "yes"

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and "started" not in result:
        if proc.poll() is not None:
            raise RuntimeError("warden exited during start-up:\n" + "".join(lines))
        time.sleep(0.05)
    if "url" not in result:
        raise RuntimeError("warden did not print its address:\n" + "".join(lines))
    return result["url"]


def _await_active(http: httpx.Client, timeout: float = 30.0) -> None:
    """An HA node serves once it holds the lock (standby: 429)."""
    deadline = time.monotonic() + timeout
    while http.get("/v1/sys/health").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("warden did not become the active node")
        time.sleep(0.1)


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text}")
    return response.json() if response.content else {}
