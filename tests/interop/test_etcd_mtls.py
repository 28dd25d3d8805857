"""A real two-member etcd cluster with peer and client mutual TLS, using only files that
``warden k8s certs`` wrote: the API server's etcd client certificate writes and reads (on
either member, so the write crossed the peer link), a Kubernetes-CA certificate is refused.

Fails, not skips, when etcd or etcdctl is missing: CI installs them (Debian's etcd-server and
etcd-client) and this test is the evidence that the tree works.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.etcd_cluster import free_port, tool
from support.server import ServerProcess

pytestmark = pytest.mark.interop

NODES = {"cp1": "127.0.0.11", "cp2": "127.0.0.12"}
START_TIMEOUT = 20.0


@dataclass
class Member:
    name: str
    ip: str
    tree: Path
    client_port: int
    peer_port: int

    @property
    def client_url(self) -> str:
        return f"https://{self.ip}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:{self.peer_port}"

    def command(self, cluster: str, data_dir: Path) -> list[str]:
        pki = self.tree / "pki/etcd"  # exactly the flags `warden k8s explain` lists for etcd
        return [
            tool("etcd"), "--name", self.name, "--data-dir", str(data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "e1",
            "--cert-file", str(pki / "server.crt"), "--key-file", str(pki / "server.key"),
            "--trusted-ca-file", str(pki / "ca.crt"), "--client-cert-auth",
            "--peer-cert-file", str(pki / "peer.crt"), "--peer-key-file", str(pki / "peer.key"),
            "--peer-trusted-ca-file", str(pki / "ca.crt"), "--peer-client-cert-auth",
            "--listen-metrics-urls", "", "--log-level", "warn", "--logger", "zap",
        ]


@pytest.fixture(scope="module")
def members(dev_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Member]]:
    tool("etcd"), tool("etcdctl")
    work = tmp_path_factory.mktemp("etcd")
    nodes = [arg for name, ip in NODES.items() for arg in ("-control-plane", f"{name}={ip}")]
    assert dev_server.cli("k8s", "bootstrap", "e1", *nodes).returncode == 0
    members = []
    for name, ip in NODES.items():
        tree = work / name
        done = dev_server.cli("k8s", "certs", "e1", "-node", name, "-out", str(tree))
        assert done.returncode == 0, done.stderr
        members.append(Member(name, ip, tree, free_port(ip), free_port(ip)))
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in members)
    procs = []
    try:
        for m in members:
            log = open(work / f"{m.name}.log", "w")  # closed with the process
            procs.append((subprocess.Popen(m.command(cluster, work / f"{m.name}.data"), stdout=log,
                                           stderr=subprocess.STDOUT), log))
        wait_healthy(members, work)
        yield members
    finally:
        for proc, log in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def etcdctl(member: Member, cert: str, *args: str, tree: Path | None = None,
            timeout: str = "3s") -> subprocess.CompletedProcess[str]:
    pki = (tree or member.tree) / "pki"
    env = {**os.environ, "ETCDCTL_API": "3"}
    return subprocess.run(
        [tool("etcdctl"), "--endpoints", member.client_url, "--cacert", str(pki / "etcd/ca.crt"),
         "--cert", str(pki / f"{cert}.crt"), "--key", str(pki / f"{cert}.key"), "--dial-timeout", timeout,
         "--command-timeout", timeout, *args],
        capture_output=True, text=True, env=env, timeout=30, check=False)


def wait_healthy(members: list[Member], work: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if all(etcdctl(m, "etcd/healthcheck-client", "endpoint", "health", timeout="1s").returncode == 0
               for m in members):
            return
        time.sleep(0.3)
    logs = "\n".join((work / f"{m.name}.log").read_text()[-2000:] for m in members)
    raise AssertionError(f"etcd did not become healthy:\n{logs}")


def test_the_apiserver_etcd_client_writes_and_reads_across_members(members: list[Member]) -> None:
    cp1, cp2 = members
    put = etcdctl(cp1, "apiserver-etcd-client", "put", "/registry/warden", "issued-by-warden")
    assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    got = etcdctl(cp2, "apiserver-etcd-client", "get", "/registry/warden", "--print-value-only",
                  "--consistency=l")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "issued-by-warden"
    listed = etcdctl(cp2, "apiserver-etcd-client", "member", "list")
    assert listed.returncode == 0 and listed.stdout.count("started") == 2, listed.stdout + listed.stderr


def https_get(member: Member, cert: str, path: str) -> str:
    """GET over etcd's client port (its HTTP gateway) with a client certificate from the tree."""
    pki = member.tree / "pki"
    context = ssl.create_default_context(cafile=str(pki / "etcd/ca.crt"))
    context.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    with socket.create_connection((member.ip, member.client_port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=member.ip) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {member.ip}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_kubernetes_ca_certificate_is_refused(members: list[Member]) -> None:
    cp1, _ = members
    assert https_get(cp1, "apiserver-etcd-client", "/version").startswith("HTTP/1.1 200")
    with pytest.raises(ssl.SSLError, match=r"(?i)unknown.ca|bad.certificate|certificate.unknown"):
        https_get(cp1, "apiserver-kubelet-client", "/version")  # a valid certificate, of the wrong CA
    refused = etcdctl(cp1, "apiserver-kubelet-client", "put", "/registry/evil", "x", timeout="2s")
    assert refused.returncode != 0
    check = etcdctl(cp1, "apiserver-etcd-client", "get", "/registry/evil", "--print-value-only")
    assert check.returncode == 0 and check.stdout.strip() == ""
