"""Three (or more) real ``warden server`` processes sharing an etcd store in HA mode.

Each node listens with TLS (a certificate warden issued), advertises its own ``api_addr``,
and is unsealed on its own with the cluster's unseal keys.
"""

from __future__ import annotations

import signal
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.etcd_cluster import EtcdCluster, free_port
from support.server import ServerProcess

HOST = "127.0.0.1"


@dataclass
class Node:
    name: str
    port: int
    server: ServerProcess

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None


@dataclass
class HACluster:
    workdir: Path
    etcd: EtcdCluster
    path: str
    size: int = 3
    extra_storage: dict[str, str] = field(default_factory=dict)
    extra_config: str = ""
    nodes: list[Node] = field(default_factory=list)
    unseal_keys: list[str] = field(default_factory=list)
    root_token: str = ""

    def __post_init__(self) -> None:
        for i in range(self.size):
            port = free_port(HOST)
            workdir = self.workdir / f"node-{i}"
            workdir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(Node(f"node-{i}", port, ServerProcess(
                workdir, dev=False, config_text=self._config(port))))

    def _config(self, port: int) -> str:
        pki = self.etcd.pki
        storage = self.etcd.storage_block(self.path, ha_enabled="true", request_timeout="3s",
                                          **self.extra_storage)
        return storage + f'''
listener "tcp" {{
  address = "{HOST}:{port}"
  tls_cert_file = "{pki.listener_cert}"
  tls_key_file = "{pki.listener_key}"
}}
api_addr = "https://{HOST}:{port}"
cluster_addr = "https://{HOST}:{port + 1}"
log_level = "info"
{self.extra_config}
'''

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.etcd.pki.listener_ca))

    def http(self, node: Node, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=node.url, verify=self.tls(),
                            headers={"X-Vault-Token": self.root_token}, timeout=60,
                            follow_redirects=False, **kwargs)

    def start(self) -> HACluster:
        with ThreadPoolExecutor(len(self.nodes)) as pool:  # start-ups overlap
            list(pool.map(lambda node: node.server.start(), self.nodes))
        return self

    def initialize(self, shares: int = 3, threshold: int = 2) -> None:
        with self.http(self.nodes[0]) as client:
            done = client.put("/v1/sys/init", json={"secret_shares": shares,
                                                    "secret_threshold": threshold})
        assert done.status_code == 200, done.text
        self.unseal_keys = done.json()["keys"]
        self.root_token = done.json()["root_token"]

    def unseal(self, node: Node) -> None:
        with self.http(node) as client:
            for key in self.unseal_keys[:2]:
                answer = client.put("/v1/sys/unseal", json={"key": key})
                assert answer.status_code == 200, answer.text
        assert answer.json()["sealed"] is False

    def health(self, node: Node) -> int:
        try:
            with self.http(node) as client:
                return client.get("/v1/sys/health", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def active(self, timeout: float = 20.0) -> Node:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.running and self.health(node) == 200:
                    return node
            time.sleep(0.05)
        raise AssertionError("no node became active")

    def standbys(self) -> list[Node]:
        active = self.active()
        return [n for n in self.nodes if n is not active and n.running]

    def kill(self, node: Node) -> None:
        node.server.stop(signal.SIGKILL)

    def restart(self, node: Node) -> None:
        node.server.start()
        self.unseal(node)

    def wait_all_up(self) -> None:
        for node in self.nodes:
            if not node.running:
                self.restart(node)
        deadline = time.monotonic() + 20
        while sorted(self.health(n) for n in self.nodes) != [200, 429, 429][: len(self.nodes)]:
            assert time.monotonic() < deadline, [self.health(n) for n in self.nodes]
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.server.stop()
