"""A real etcd cluster (Debian's etcd 3.4) with peer and client TLS from warden's own PKI.

``issue_tree`` issues every certificate from PKI mounts of a dev warden server (an etcd CA
with a member role, as an operator would; ``tests/interop/test_etcd_mtls.py`` covers the
``warden k8s certs`` tree itself) and a TLS certificate for warden's own listeners from
another CA. ``EtcdCluster`` starts one etcd process per member on ephemeral ports and can
kill (SIGKILL) and restart members.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from support.server import ServerProcess

START_TIMEOUT = 30.0


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: apt-get install etcd-server etcd-client (.ci/run does)"
    return path


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Pki:
    """Files issued by warden: each member's certificate, a client identity, listener certs."""

    members: dict[str, tuple[Path, Path]]  # name -> (certificate, key): serving and peering
    ca: Path  # the etcd CA
    client_cert: Path  # warden's etcd client certificate
    client_key: Path
    listener_ca: Path  # CA of warden's own listener certificates (another CA)
    listener_cert: Path
    listener_key: Path


def issue_tree(dev: ServerProcess, work: Path, nodes: dict[str, str]) -> Pki:
    """An etcd CA in a PKI mount of the dev server, and every certificate etcd and warden need:
    a member certificate per node (server and client use: it serves clients and peers), and a
    client certificate for warden."""
    work.mkdir(parents=True)
    client = dev.client()
    client.sys.enable_secrets_engine("pki", path="etcd-pki", config={"max_lease_ttl": "48h"})
    root = client.write("etcd-pki/root/generate/internal", common_name="etcd CA", key_type="ec",
                        ttl="48h")["data"]
    client.write("etcd-pki/roles/member", allow_any_name=True, allow_ip_sans=True, key_type="ec",
                 max_ttl="24h", server_flag=True, client_flag=True)
    ca = work / "etcd-ca.pem"
    ca.write_text(root["certificate"] + "\n")
    members = {name: _issue(client, "etcd-pki/issue/member", work / name, common_name=name,
                            ip_sans=f"{ip},127.0.0.1", alt_names="localhost")
               for name, ip in nodes.items()}
    cert, key = _issue(client, "etcd-pki/issue/member", work / "warden-client", common_name="warden")
    listener = _listener_certificate(dev, work / "listener")
    return Pki(members, ca, cert, key, *listener)


def _listener_certificate(dev: ServerProcess, out: Path) -> tuple[Path, Path, Path]:
    """A CA and a 127.0.0.1/localhost server certificate for warden's listeners."""
    out.mkdir(parents=True)
    client = dev.client()
    client.sys.enable_secrets_engine("pki", path="listener-pki")
    root = client.write("listener-pki/root/generate/internal", common_name="warden listeners",
                        key_type="ec", ttl="24h")["data"]
    client.write("listener-pki/roles/node", allow_any_name=True, allow_ip_sans=True,
                 key_type="ec", max_ttl="24h", server_flag=True, client_flag=True)
    cert, key = _issue(client, "listener-pki/issue/node", out / "node", common_name="localhost",
                       ip_sans="127.0.0.1", alt_names="localhost")
    cert.write_text(cert.read_text() + root["certificate"] + "\n")  # leaf, then its CA
    ca = out / "ca.pem"
    ca.write_text(root["certificate"] + "\n")
    return ca, cert, key


def _issue(client: Any, path: str, stem: Path, **fields: str) -> tuple[Path, Path]:
    leaf = client.write(path, ttl="12h", **fields)["data"]
    cert, key = stem.with_suffix(".crt"), stem.with_suffix(".key")
    cert.write_text(leaf["certificate"] + "\n")
    key.write_text(leaf["private_key"] + "\n")
    key.chmod(0o600)
    return cert, key


@dataclass
class Member:
    name: str
    ip: str
    cert: Path
    key: Path
    ca: Path
    data_dir: Path
    client_port: int = 0
    peer_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"https://{self.ip}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:{self.peer_port}"

    def command(self, cluster: str) -> list[str]:
        return [
            tool("etcd"), "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "warden-ha",
            "--cert-file", str(self.cert), "--key-file", str(self.key),
            "--trusted-ca-file", str(self.ca), "--client-cert-auth",
            "--peer-cert-file", str(self.cert), "--peer-key-file", str(self.key),
            "--peer-trusted-ca-file", str(self.ca), "--peer-client-cert-auth",
            "--listen-metrics-urls", "", "--log-level", "error", "--logger", "zap",
        ]


class EtcdCluster:
    def __init__(self, work: Path, pki: Pki, nodes: dict[str, str]) -> None:
        self.work = work
        self.pki = pki
        self.members = [Member(name, ip, *pki.members[name], pki.ca, work / f"{name}.data",
                               free_port(ip), free_port(ip)) for name, ip in nodes.items()]
        self._initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def start(self) -> EtcdCluster:
        for member in self.members:
            self.start_member(member)
        self.wait_healthy()
        return self

    def start_member(self, member: Member) -> None:
        member.log = open(self.work / f"{member.name}.log", "ab")
        member.proc = subprocess.Popen(member.command(self._initial), stdout=member.log,
                                       stderr=subprocess.STDOUT)

    def kill(self, member: Member) -> None:
        """SIGKILL: no goodbye to its peers."""
        if member.proc is not None:
            member.proc.send_signal(signal.SIGKILL)
            member.proc.wait()
            member.proc = None
        if member.log is not None:
            member.log.close()
            member.log = None

    def stop(self) -> None:
        for member in self.members:
            if member.proc is not None:
                member.proc.terminate()
                try:
                    member.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    member.proc.kill()
                    member.proc.wait()
                member.proc = None
            if member.log is not None:
                member.log.close()

    def etcdctl(self, *args: str, member: Member | None = None,
                timeout: str = "3s") -> subprocess.CompletedProcess[str]:
        endpoints = member.client_url if member else ",".join(self.endpoints)
        env = {**os.environ, "ETCDCTL_API": "3"}
        return subprocess.run(
            [tool("etcdctl"), "--endpoints", endpoints, "--cacert", str(self.pki.ca),
             "--cert", str(self.pki.client_cert), "--key", str(self.pki.client_key),
             "--dial-timeout", timeout, "--command-timeout", timeout, *args],
            capture_output=True, text=True, env=env, timeout=60, check=False)

    def healthy(self, member: Member) -> bool:
        return self.etcdctl("endpoint", "health", member=member, timeout="1s").returncode == 0

    def wait_healthy(self, members: list[Member] | None = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        wanted = members or self.members
        while time.monotonic() < deadline:
            if all(self.healthy(m) for m in wanted):
                return
            time.sleep(0.2)
        logs = "\n".join((self.work / f"{m.name}.log").read_text(errors="replace")[-2000:]
                         for m in wanted)
        raise AssertionError(f"etcd did not become healthy:\n{logs}")

    def storage_block(self, path: str, **extra: str) -> str:
        """An HCL ``storage "etcd"`` block for warden, with the client identity above."""
        settings = {
            "address": ",".join(self.endpoints), "path": path,
            "tls_ca_file": str(self.pki.ca), "tls_cert_file": str(self.pki.client_cert),
            "tls_key_file": str(self.pki.client_key), **extra,
        }
        body = "\n".join(f'  {k} = "{v}"' for k, v in settings.items())
        return f'storage "etcd" {{\n{body}\n}}\n'
