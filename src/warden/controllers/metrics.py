"""The controller process's Prometheus metrics: its warden token, its leadership, its
watches and reconciles. Controllers add their own metrics to the same ``registry``.

One registry per process (no module-level state), served at ``/metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

PREFIX = "warden_controller"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RuntimeMetrics:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # the names TokenKeeper records (see warden.agent.lifetime.TokenMetrics)
        self.logins = Counter(f"{PREFIX}_auth_logins", "Logins to warden.", ["result"], registry=r)
        self.token_renewals = Counter(f"{PREFIX}_token_renewals", "Renewals of the warden token.",
                                      ["result"], registry=r)
        self.token_expires_at = math.nan
        self.leader = Gauge(f"{PREFIX}_leader", "1 while this process holds the Lease.", registry=r)
        self.leader_changes = Counter(f"{PREFIX}_leader_changes", "Times this process became the leader.",
                                      registry=r)
        self.reconciles = Counter(f"{PREFIX}_reconciles", "Reconciles by result (ok, requeue, error).",
                                  ["controller", "result"], registry=r)
        self.reconcile_seconds = Histogram(f"{PREFIX}_reconcile_seconds", "Time spent in reconcile.",
                                           ["controller"], buckets=LATENCY_BUCKETS, registry=r)
        self.watch_events = Counter(f"{PREFIX}_watch_events", "Watch events received.",
                                    ["resource", "type"], registry=r)
        self.watch_restarts = Counter(f"{PREFIX}_watch_restarts",
                                      "Watches started again (reason: error, gone = relist after 410).",
                                      ["resource", "reason"], registry=r)
        self.queue_depth: dict[str, Callable[[], int]] = {}
        r.register(_Collector(self))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: RuntimeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Keys waiting in a controller's work queue.",
                                  labels=["controller"])
        for name, size in sorted(self.metrics.queue_depth.items()):
            depth.add_metric([name], size())
        yield depth
        token = GaugeMetricFamily(f"{PREFIX}_token_ttl_seconds",
                                  "Seconds until the warden token expires (+Inf: never).")
        if not math.isnan(self.metrics.token_expires_at):
            token.add_metric([], self.metrics.token_expires_at - self.metrics.now())
        yield token
