"""What the load generator is asked to do and what it answers: plain data, passed as JSON files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One measured run against one server.

    mode "closed": ``connections`` clients each send the next request as soon as the last
    answered (throughput). mode "open": requests are due at ``rate`` per second whatever the
    server does, and latency counts from when a request was due, so a slow server cannot hide
    its queue (no coordinated omission). mode "storm": ``agents`` clients each fetch a first
    certificate, then all renew at the same instant on fresh connections.
    """

    host: str
    port: int
    requests: tuple[HttpRequest, ...]
    server_pid: int
    mode: str = "closed"
    connections: int = 16
    warmup_s: float = 3.0
    duration_s: float = 15.0
    rate: float = 0.0
    agents: int = 0
    sample: int = 50
    seed: int = 1
    grace_s: float = 120.0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> LoadSpec:
        raw: dict[str, Any] = json.loads(path.read_text())
        raw["requests"] = tuple(HttpRequest(**r) for r in raw["requests"])
        return cls(**raw)
