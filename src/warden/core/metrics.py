"""Prometheus metrics for one core: its own registry, never the process-global one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from warden.logical.storage import BatchOp, Check, Versioned

if TYPE_CHECKING:
    from warden.storage.base import PhysicalBackend

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self, *, sealed: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("warden_requests", "Requests handled, by mount, operation and "
                                "outcome (ok or the HTTP status of the error).",
                                ["mount", "operation", "outcome"], registry=r)
        self.request_seconds = Histogram("warden_request_duration_seconds",
                                         "Time spent in the core per request.",
                                         ["mount", "operation"], buckets=_LATENCY_BUCKETS,
                                         registry=r)
        self.certificates = Counter("warden_certificates_issued",
                                    "Certificates issued or signed, by mount and role.",
                                    ["mount", "role"], registry=r)
        self.tokens = Counter("warden_tokens_created", "Tokens created, by the auth mount "
                              "that created them (auth/token/, auth/approle/, ...).",
                              ["source"], registry=r)
        self.logins = Counter("warden_logins", "Login attempts by auth method and outcome.",
                              ["method", "outcome"], registry=r)
        self.storage_seconds = Histogram("warden_storage_operation_duration_seconds",
                                         "Physical storage operation latency.", ["operation"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        sealed_gauge = Gauge("warden_sealed", "1 while the server is sealed.", registry=r)
        sealed_gauge.set_function(lambda: 1.0 if sealed() else 0.0)

    def observe_request(self, mount: str, operation: str, outcome: str, seconds: float) -> None:
        key = (mount, operation, outcome)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(mount, operation, outcome),
                        self.request_seconds.labels(mount, operation))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def snapshot(self) -> dict[str, Any]:
        """The same numbers as JSON (sys/metrics without format=prometheus)."""
        out: dict[str, Any] = {}
        for family in self.registry.collect():
            out[family.name] = [
                {"name": s.name, "labels": dict(s.labels), "value": s.value}
                for s in family.samples
            ]
        return out


class InstrumentedPhysical:
    """Times every physical storage operation; otherwise a transparent wrapper."""

    def __init__(self, inner: PhysicalBackend, metrics: Metrics) -> None:
        self._inner = inner
        self._hist = {op: metrics.storage_seconds.labels(operation=op)
                      for op in ("get", "put", "delete", "list", "batch", "transaction")}

    async def get(self, key: str) -> bytes | None:
        start = time.perf_counter()
        try:
            return await self._inner.get(key)
        finally:
            self._hist["get"].observe(time.perf_counter() - start)

    async def put(self, key: str, value: bytes) -> None:
        start = time.perf_counter()
        try:
            await self._inner.put(key, value)
        finally:
            self._hist["put"].observe(time.perf_counter() - start)

    async def delete(self, key: str) -> None:
        start = time.perf_counter()
        try:
            await self._inner.delete(key)
        finally:
            self._hist["delete"].observe(time.perf_counter() - start)

    async def list(self, prefix: str) -> list[str]:
        start = time.perf_counter()
        try:
            return await self._inner.list(prefix)
        finally:
            self._hist["list"].observe(time.perf_counter() - start)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        start = time.perf_counter()
        try:
            await self._inner.batch(ops)
        finally:
            self._hist["batch"].observe(time.perf_counter() - start)

    async def get_versioned(self, key: str) -> Versioned:
        start = time.perf_counter()
        try:
            return await self._inner.get_versioned(key)
        finally:
            self._hist["get"].observe(time.perf_counter() - start)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        start = time.perf_counter()
        try:
            return await self._inner.transaction(checks, ops)
        finally:
            self._hist["transaction"].observe(time.perf_counter() - start)

    async def close(self) -> None:
        await self._inner.close()
