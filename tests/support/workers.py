"""Keep-alive connections to a server of several worker processes, each known to be served
by a given worker (read from /proc: which process holds the server end of the socket)."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from support.server import ServerProcess

# A production-mode server (SQLite, no TLS, any port) of two worker processes.
WORKERS_CONFIG = """
storage "sqlite" { path = "data/warden.db" }
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
workers = 2
"""


class Conn:
    """One keep-alive HTTP connection; ``worker`` is the pid of the process serving it."""

    def __init__(self, server: ServerProcess, token: str = "") -> None:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.http = http.client.HTTPConnection(host, int(port), timeout=60)
        self.http.connect()
        self.token = token
        self.worker = _server_side_owner(server, self.http.sock.getsockname()[1])

    def request(self, method: str, path: str, body: Any = None, token: str | None = None
                ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["X-Vault-Token"] = token or self.token
        self.http.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        resp = self.http.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)

    def close(self) -> None:
        self.http.close()


def workers_of(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    stat = fh.read()
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == server.proc.pid and b"sqlite_writer" not in cmd:
                children.append(int(entry))
    return sorted(children)


def connections(server: ServerProcess, count: int, token: str = "") -> list[Conn]:
    """``count`` connections, at least one served by each worker (more are opened until so)."""
    workers = set(workers_of(server))
    conns: list[Conn] = []
    deadline = time.monotonic() + 30
    while len(conns) < count or {c.worker for c in conns} != workers:
        if time.monotonic() > deadline:
            raise AssertionError(f"connections reached only workers {sorted({c.worker for c in conns})} "
                                 f"of {sorted(workers)}")
        conns.append(Conn(server, token))
    return conns


def _server_side_owner(server: ServerProcess, client_port: int) -> int:
    """The worker holding the accepted socket whose peer is ``client_port``."""
    inode = ""
    deadline = time.monotonic() + 10
    while not inode:
        inode = _inode_of(client_port, int(server.url.rsplit(":", 1)[1]))
        if not inode:
            if time.monotonic() > deadline:
                raise AssertionError(f"no server socket for client port {client_port}")
            time.sleep(0.01)
    for pid in workers_of(server):
        for link in _fd_links(pid):
            if link == f"socket:[{inode}]":
                return pid
    time.sleep(0.05)  # accepted, but not yet by a worker: ask again
    return _server_side_owner(server, client_port)


def _inode_of(client_port: int, server_port: int) -> str:
    with open("/proc/net/tcp", encoding="ascii") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (int(local.split(":")[1], 16) == server_port
                    and int(remote.split(":")[1], 16) == client_port and inode != "0"):
                return inode
    return ""


def _fd_links(pid: int) -> Iterator[str]:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                yield os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
    except OSError:
        return
