"""Rotating the etcd CA under a real three-member etcd cluster (Debian's etcd 3.4) with peer
and client mutual TLS on the files ``warden k8s certs`` writes: between phases the members are
restarted one at a time, as the plan says, while a client (the API server's etcd client
certificate, re-read when it changes) writes and reads without pause through every member in
turn. Reads and writes may fail only while a leader is elected, never for longer than a
member's restart takes; every member ends up on the new CA alone.

Fails, not skips, when etcd is missing: CI installs Debian's etcd-server.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from support.server import ServerProcess, ok

pytestmark = pytest.mark.interop

NODES = {"cp1": "127.0.0.21", "cp2": "127.0.0.22", "cp3": "127.0.0.23"}
HEALTH_TIMEOUT = 60.0
OP_TIMEOUT = 1.5


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tls_context(pki: Path, cert: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "etcd/ca.crt"))
    ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    return ctx


def request(ip: str, port: int, ctx: ssl.SSLContext, method: str, path: str, body: bytes = b"") -> dict:
    """One HTTP/1.1 request over a fresh TLS connection (so every call is a handshake)."""
    with socket.create_connection((ip, port), timeout=OP_TIMEOUT) as raw, \
            ctx.wrap_socket(raw, server_hostname=ip) as tls:
        tls.sendall(f"{method} {path} HTTP/1.1\r\nHost: {ip}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        status = head.split(b"\r\n")[0].decode(errors="replace")
        raise OSError(f"{status} {payload[:200].decode(errors='replace')}")
    if b"transfer-encoding: chunked" in head.lower():  # one chunk, then the last
        payload = payload.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    return dict(json.loads(payload))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Member:
    name: str
    ip: str
    tree: Path
    data: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pki(self) -> Path:
        return self.tree / "pki"

    def command(self, cluster: str) -> list[str]:
        etcd = self.pki / "etcd"
        client = f"https://{self.ip}:{self.client_port}"
        peer = f"https://{self.ip}:{self.peer_port}"
        return [
            shutil.which("etcd") or "etcd", "--name", self.name, "--data-dir", str(self.data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "rot",
            "--cert-file", str(etcd / "server.crt"), "--key-file", str(etcd / "server.key"),
            "--trusted-ca-file", str(etcd / "ca.crt"), "--client-cert-auth",
            "--peer-cert-file", str(etcd / "peer.crt"), "--peer-key-file", str(etcd / "peer.key"),
            "--peer-trusted-ca-file", str(etcd / "ca.crt"), "--peer-client-cert-auth",
            "--listen-metrics-urls", "", "--log-level", "warn", "--logger", "zap", "--unsafe-no-fsync",
        ]

    def start(self, cluster: str) -> None:
        with open(self.data.parent / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(self.command(cluster), stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def healthy(self) -> bool:
        try:
            return request(self.ip, self.client_port, tls_context(self.pki, "etcd/healthcheck-client"),
                           "GET", "/health").get("health") == "true"
        except (OSError, ssl.SSLError, ValueError):
            return False


@dataclass
class Etcd:
    members: list[Member]
    cluster: str
    restarts: list[float] = field(default_factory=list)

    def wait_healthy(self, member: Member) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while not member.healthy():
            if member.proc is not None and member.proc.poll() is not None:
                raise AssertionError(f"{member.name} exited:\n{self.log(member)}")
            assert time.monotonic() < deadline, f"{member.name} not healthy:\n{self.log(member)}"
            time.sleep(0.05)

    def log(self, member: Member) -> str:
        return (member.data.parent / f"{member.name}.log").read_text(errors="replace")[-3000:]

    def rolling_restart(self) -> None:
        for member in self.members:
            began = time.monotonic()
            member.stop()
            member.start(self.cluster)
            self.wait_healthy(member)
            self.restarts.append(time.monotonic() - began)
            time.sleep(0.3)


class Writer:
    """Puts and linearizable reads through every member in turn with the API server's client
    certificate; an operation fails only when no member answers it. Records how long the
    cluster was unavailable at a stretch."""

    def __init__(self, members: list[Member], pki: Path) -> None:
        self.members, self.pki = members, pki
        self.ctx: ssl.SSLContext | None = None
        self.loaded: tuple[tuple[int, int], ...] = ()
        self.ops = self.failed = 0
        self.windows: list[float] = []
        self.errors: list[str] = []
        self.stale_reads = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _context(self) -> ssl.SSLContext:
        files = [self.pki / "etcd/ca.crt", self.pki / "apiserver-etcd-client.crt",
                 self.pki / "apiserver-etcd-client.key"]
        seen = tuple((os.stat(f).st_ino, os.stat(f).st_mtime_ns) for f in files)
        if seen != self.loaded:
            try:
                self.ctx, self.loaded = tls_context(self.pki, "apiserver-etcd-client"), seen
            except (ssl.SSLError, OSError):
                pass  # half-way through a rewrite: keep the context we have
        assert self.ctx is not None
        return self.ctx

    def _on_any(self, method: str, path: str, body: dict, start: int) -> dict:
        last: Exception | None = None
        for n in range(len(self.members)):
            m = self.members[(start + n) % len(self.members)]
            try:
                return request(m.ip, m.client_port, self._context(), method, path, json.dumps(body).encode())
            except (OSError, ssl.SSLError, ValueError) as exc:
                last = exc
        raise OSError(f"no member answered: {last!r}")

    def _run(self) -> None:
        n, down_since, written = 0, 0.0, 0
        while not self.stop.is_set():
            n += 1
            try:
                if n % 2:
                    self._on_any("POST", "/v3/kv/put", {"key": b64("/rotation/n"), "value": b64(str(n))}, n)
                    written = n
                else:
                    got = self._on_any("POST", "/v3/kv/range", {"key": b64("/rotation/n")}, n)
                    value = int(base64.b64decode(got["kvs"][0]["value"]))
                    self.stale_reads += value < written
                self.ops += 1
                if down_since:
                    self.windows.append(time.monotonic() - down_since)
                    down_since = 0.0
            except (OSError, KeyError) as exc:
                self.ops += 1
                self.failed += 1
                self.errors.append(repr(exc)[:300])
                down_since = down_since or time.monotonic()
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=20)


@pytest.fixture
def etcd(dev_server: ServerProcess, tmp_path: Path) -> Iterator[Etcd]:
    assert shutil.which("etcd"), "etcd is not installed: apt-get install etcd-server (.ci/run does)"
    nodes = [a for name, ip in NODES.items() for a in ("-control-plane", f"{name}={ip}")]
    ok(dev_server.cli("k8s", "bootstrap", "et", "-key-type", "ec", *nodes))
    members = []
    for name, ip in NODES.items():
        tree = tmp_path / "trees" / name
        ok(dev_server.cli("k8s", "certs", "et", "-node", name, "-out", str(tree)))
        members.append(Member(name, ip, tree, tmp_path / "data" / name, free_port(ip), free_port(ip)))
    (tmp_path / "data").mkdir()
    cluster = ",".join(f"{m.name}=https://{m.ip}:{m.peer_port}" for m in members)
    plane = Etcd(members, cluster)
    try:
        for m in members:
            m.start(cluster)
        for m in members:
            plane.wait_healthy(m)
        yield plane
    finally:
        for m in members:
            m.stop()


def test_the_etcd_ca_rotates_under_a_live_cluster(dev_server: ServerProcess, etcd: Etcd,
                                                  tmp_path: Path) -> None:
    cli = dev_server.cli
    trees = tmp_path / "trees"
    old_ca = x509.load_pem_x509_certificate((trees / "cp1/pki/etcd/ca.crt").read_bytes())
    saved = tmp_path / "saved"  # the API server's client certificate from before: old CA
    shutil.copytree(trees / "cp1/pki", saved)

    def write_trees() -> None:
        for name in NODES:
            ok(cli("k8s", "certs", "et", "-node", name, "-out", str(trees / name)))

    writer = Writer(etcd.members, trees / "cp1" / "pki")
    try:
        time.sleep(1)
        ok(cli("k8s", "rotate", "et", "etcd", "begin"))
        write_trees()  # etcd/ca.crt: old + new
        etcd.rolling_restart()
        ok(cli("k8s", "rotate", "et", "etcd", "switch", "-reissue", "-out", str(trees)))  # new leaves
        etcd.rolling_restart()
        ok(cli("k8s", "rotate", "et", "etcd", "finish"))
        write_trees()  # etcd/ca.crt: new only
        etcd.rolling_restart()
        time.sleep(1)
    finally:
        writer.close()
    longest = max(writer.windows, default=0.0)
    print(f"\netcd rotation: {writer.ops} operations, {writer.failed} failed, unavailable at most "
          f"{longest:.2f}s at a stretch ({len(writer.windows)} stretches); member restarts "
          f"{', '.join(f'{r:.2f}s' for r in etcd.restarts)}")
    assert writer.ops > 200
    assert longest <= max(etcd.restarts), (writer.windows, etcd.restarts, writer.errors[-5:])
    assert writer.stale_reads == 0

    # Every member now runs on the new CA alone: a client of the old CA is refused, peers agree.
    [new_ca] = x509.load_pem_x509_certificates((trees / "cp1/pki/etcd/ca.crt").read_bytes())
    assert new_ca != old_ca
    for m in etcd.members:
        server_cert = ssl.get_server_certificate((m.ip, m.client_port))
        x509.load_pem_x509_certificate(server_cert.encode()).verify_directly_issued_by(new_ca)
    ctx = tls_context(trees / "cp2/pki", "apiserver-etcd-client")
    cp2 = etcd.members[1]
    listed = request(cp2.ip, cp2.client_port, ctx, "POST", "/v3/cluster/member/list", b"{}")
    assert len(listed["members"]) == 3
    old_client = ssl.create_default_context(cafile=str(trees / "cp2/pki/etcd/ca.crt"))
    old_client.load_cert_chain(saved / "apiserver-etcd-client.crt", saved / "apiserver-etcd-client.key")
    with pytest.raises((ssl.SSLError, OSError)):  # the old CA's client certificate is refused
        request(cp2.ip, cp2.client_port, old_client, "GET", "/health")
