"""The floor (``bench/floor_app.py``) as one more system in a workload's table."""

from __future__ import annotations

import secrets
import sqlite3
import sys
from pathlib import Path

from bench.items import CertRequest
from bench.keys import KeyType
from bench.loadspec import HttpRequest
from bench.process import ManagedProcess, SpawnedServer, free_port, wait_for_port
from bench.warden_server import WardenServer, vault_request

REPO = Path(__file__).resolve().parent.parent  # where ``python -m bench.floor_app`` is found


class FloorServer(SpawnedServer):
    name = "floor"

    def __init__(self, workdir: Path, key: KeyType) -> None:
        super().__init__(workdir, key)
        self.token = secrets.token_urlsafe(24)

    def start(self) -> FloorServer:
        self.port = free_port(self.host)
        argv = [sys.executable, "-m", "bench.floor_app", str(self.workdir), self.key.algo,
                str(self.key.bits), str(self.port), self.token]
        self.process = ManagedProcess(argv, self.workdir, "floor.log", cwd=REPO)
        wait_for_port(self.host, self.port, self.process.start())
        self.ca_pem = (self.workdir / "ca.pem").read_text()
        return self

    def request(self, operation: str, item: CertRequest) -> HttpRequest:
        """The very request warden is sent (same path, body and token header)."""
        return vault_request(operation, item, self.token)

    extract = staticmethod(WardenServer.extract)

    def checks(self) -> dict[str, int]:
        """What it kept: certificates stored and audit lines written."""
        with sqlite3.connect(self.workdir / "floor.db") as conn:
            stored = conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'certs/%'").fetchone()[0]
        with open(self.workdir / "audit.log", "rb") as fh:
            return {"stored_certificates": int(stored), "audit_lines": sum(1 for _ in fh)}
