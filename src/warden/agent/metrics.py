"""The agent's Prometheus metrics, and a small HTTP listener that serves them.

Each agent has its own registry (no process-wide state). Seconds until expiry are computed
when scraped, from the recorded expiry times and the agent's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from warden.agent.clock import Clock
from warden.agent.config import MetricsListener
from warden.agent.logs import AgentLog


class AgentMetrics:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.logins = Counter("warden_agent_auth_logins", "Logins by the auto-auth method.",
                              ["result"], registry=r)
        self.token_renewals = Counter("warden_agent_token_renewals", "Renewals of the agent's token.",
                                      ["result"], registry=r)
        self.cert_renewals = Counter("warden_agent_certificate_renewals",
                                     "Certificates issued and written.", ["certificate"], registry=r)
        self.cert_failures = Counter("warden_agent_certificate_failures",
                                     "Failed attempts to issue or write a certificate.",
                                     ["certificate"], registry=r)
        self.template_renders = Counter("warden_agent_template_renders",
                                        "Templates rendered (changed or not).", ["template"], registry=r)
        self.template_failures = Counter("warden_agent_template_failures",
                                         "Failed template renders.", ["template"], registry=r)
        self.commands = Counter("warden_agent_commands", "Commands run after a change.",
                                ["target", "result"], registry=r)
        self.token_expires_at: float = math.nan
        self.cert_expires_at: dict[str, float] = {}
        r.register(_ExpiryCollector(self))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ExpiryCollector(Collector):
    def __init__(self, metrics: AgentMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        now = self.metrics.clock.time()
        certs = GaugeMetricFamily("warden_agent_certificate_expiry_seconds",
                                  "Seconds until the current certificate expires.",
                                  labels=["certificate"])
        for name, expires in sorted(self.metrics.cert_expires_at.items()):
            certs.add_metric([name], expires - now)
        yield certs
        token = GaugeMetricFamily("warden_agent_token_ttl_seconds",
                                  "Seconds until the agent's token expires (+Inf: never).")
        if not math.isnan(self.metrics.token_expires_at):
            token.add_metric([], self.metrics.token_expires_at - now)
        yield token


class Exposition(Protocol):
    def exposition(self) -> bytes: ...


# (status line, content type, body) for a GET of an extra path, e.g. a controller's /healthz
Page = tuple[str, str, bytes]


@dataclass(slots=True)
class MetricsServer:
    """Plain HTTP/1.1 on ``listener``: GET <path> gives the exposition, GET of a path in
    ``pages`` what its function returns, anything else 404."""

    listener: MetricsListener
    metrics: Exposition
    log: AgentLog
    server: asyncio.Server | None = None
    pages: Mapping[str, Callable[[], Page]] = field(default_factory=dict)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.listener.host, self.listener.port,
                                                 reuse_address=True)
        bound = self.server.sockets[0].getsockname()
        self.log.info("serving metrics", address=f"{bound[0]}:{bound[1]}", path=self.listener.path)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = request.decode("latin-1").partition(" ")
            target = rest.partition(" ")[0].split("?", 1)[0]
            if method == "GET" and target in (self.listener.path, "/agent/v1/metrics"):
                self._respond(writer, "200 OK", CONTENT_TYPE_LATEST, self.metrics.exposition())
            elif method == "GET" and target in self.pages:
                self._respond(writer, *self.pages[target]())
            else:
                self._respond(writer, "404 Not Found", "text/plain", b"not found\n")
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    def _respond(writer: asyncio.StreamWriter, status: str, content_type: str, body: bytes) -> None:
        head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + body)
