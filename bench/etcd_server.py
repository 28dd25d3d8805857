"""The etcd cluster warden's etcd-backed runs store into: Debian's etcd, plain HTTP on loopback.

One member by default (the same single machine as SQLite, with etcd's fsync per commit);
``--etcd-members 3`` runs a replicated cluster of three on the same machine.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from bench.process import ManagedProcess, free_port

HOST = "127.0.0.1"


class EtcdCluster:
    def __init__(self, workdir: Path, members: int = 1) -> None:
        if shutil.which("etcd") is None:
            raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server), or "
                               "run with --storage sqlite")
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.ports = [(free_port(HOST), free_port(HOST)) for _ in range(members)]
        names = [f"bench-{i}" for i in range(members)]
        initial = ",".join(f"{n}=http://{HOST}:{peer}" for n, (_, peer) in zip(names, self.ports,
                                                                              strict=True))
        self.members = [ManagedProcess(_command(name, workdir / name, client, peer, initial),
                                       workdir, f"{name}.log")
                        for name, (client, peer) in zip(names, self.ports, strict=True)]

    @property
    def address(self) -> str:
        return ",".join(f"http://{HOST}:{client}" for client, _ in self.ports)

    def start(self) -> EtcdCluster:
        for member in self.members:
            member.start()
        deadline = time.monotonic() + 30
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError("etcd did not become healthy:\n" + self.members[0].log_tail())
            time.sleep(0.2)
        return self

    def _healthy(self) -> bool:
        done = subprocess.run(["etcdctl", "--endpoints", self.address, "endpoint", "health"],
                              capture_output=True, env={"ETCDCTL_API": "3"}, check=False, timeout=30)
        return done.returncode == 0

    def stop(self) -> None:
        for member in self.members:
            member.stop()


def _command(name: str, data: Path, client: int, peer: int, initial: str) -> list[str]:
    return ["etcd", "--name", name, "--data-dir", str(data),
            "--listen-client-urls", f"http://{HOST}:{client}",
            "--advertise-client-urls", f"http://{HOST}:{client}",
            "--listen-peer-urls", f"http://{HOST}:{peer}",
            "--initial-advertise-peer-urls", f"http://{HOST}:{peer}",
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--listen-metrics-urls", "", "--log-level", "error", "--logger", "zap",
            # Keep the history bounded, as an operator would.
            "--auto-compaction-mode", "revision", "--auto-compaction-retention", "10000"]
