"""The pod certificate signer's metrics, by signerName: requests seen, issued, denied
(by reason), failed (by reason), and how long warden took to sign."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from warden.controllers.metrics import LATENCY_BUCKETS, PREFIX


class PodCertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        name = f"{PREFIX}_pod_certificate"
        self.seen = Counter(f"{name}_requests_seen", "PodCertificateRequests seen (each once).", ["signer"],
                            registry=registry)
        self.issued = Counter(f"{name}_issued", "Certificates written to PodCertificateRequests.", ["signer"],
                              registry=registry)
        self.denied = Counter(f"{name}_denied", "PodCertificateRequests denied.", ["signer", "reason"],
                              registry=registry)
        self.failed = Counter(f"{name}_failed", "PodCertificateRequests marked Failed.", ["signer", "reason"],
                              registry=registry)
        self.sign_seconds = Histogram(f"{name}_sign_seconds", "Time warden took to sign.", ["signer"],
                                      buckets=LATENCY_BUCKETS, registry=registry)
