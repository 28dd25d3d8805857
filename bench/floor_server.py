"""The floor (``bench/floor_app.py``) as one more system in a workload's table."""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
from pathlib import Path

from bench.items import CertRequest
from bench.keys import KeyType
from bench.loadspec import HttpRequest
from bench.process import ManagedProcess, free_port, wait_for_port
from bench.warden_server import WardenServer

REPO = Path(__file__).resolve().parent.parent  # where ``python -m bench.floor_app`` is found


class FloorServer:
    name = "floor"

    def __init__(self, workdir: Path, key: KeyType) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.key = key
        self.host = "127.0.0.1"
        self.port = 0
        self.token = secrets.token_urlsafe(24)
        self.ca_pem = ""
        self.process: ManagedProcess | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> FloorServer:
        self.port = free_port(self.host)
        argv = [sys.executable, "-m", "bench.floor_app", str(self.workdir), self.key.algo,
                str(self.key.bits), str(self.port), self.token]
        self.process = ManagedProcess(argv, self.workdir, "floor.log", cwd=REPO)
        wait_for_port(self.host, self.port, self.process.start())
        self.ca_pem = (self.workdir / "ca.pem").read_text()
        return self

    def request(self, operation: str, item: CertRequest) -> HttpRequest:
        """The very request warden is sent (same body, same token header)."""
        asked = WardenServer.request_body(operation, item)
        return HttpRequest("POST", f"/v1/pki/{operation}/bench", json.dumps(asked),
                           {"X-Vault-Token": self.token})

    extract = staticmethod(WardenServer.extract)

    def checks(self) -> dict[str, int]:
        """What it kept: certificates stored and audit lines written."""
        with sqlite3.connect(self.workdir / "floor.db") as conn:
            stored = conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'certs/%'").fetchone()[0]
        with open(self.workdir / "audit.log", "rb") as fh:
            return {"stored_certificates": int(stored), "audit_lines": sum(1 for _ in fh)}

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
