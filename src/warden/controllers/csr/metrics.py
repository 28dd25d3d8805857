"""The CSR controller's metrics, by signerName: requests seen, approved, denied, signed,
failed, and how long warden took to sign."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from warden.controllers.metrics import LATENCY_BUCKETS, PREFIX


class CsrMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, text: str) -> Counter:
            return Counter(f"{PREFIX}_csr_{name}", text, ["signer"], registry=registry)

        self.seen = counter("seen", "CertificateSigningRequests seen (each once).")
        self.approved = counter("approved", "CertificateSigningRequests approved by an approver.")
        self.denied = counter("denied", "CertificateSigningRequests denied by an approver.")
        self.signed = counter("signed", "Certificates written to CertificateSigningRequests.")
        self.failed = counter("failed", "CertificateSigningRequests marked Failed.")
        self.sign_seconds = Histogram(f"{PREFIX}_csr_sign_seconds", "Time warden took to sign.", ["signer"],
                                      buckets=LATENCY_BUCKETS, registry=registry)
