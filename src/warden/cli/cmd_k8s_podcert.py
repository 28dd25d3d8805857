"""``warden k8s bootstrap -pod-certificates``: the warden side of ``warden k8s controller``'s
pod certificate signer and trust bundles, and what the cluster must change."""

from __future__ import annotations

import argparse

from warden.cli.common import Streams, add_bool_flag
from warden.kube import pod_certificates
from warden.kube.cluster import ClusterSpec


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_bool_flag(parser, "pod-certificates", "A workload CA (CLUSTER/pki/workloads), role and policy for "
                  "'warden k8s controller' to sign PodCertificateRequests and publish ClusterTrustBundles.",
                  default=None)
    parser.add_argument("--trust-domain", default=None, metavar="DOMAIN",
                        help="The pods' SPIFFE trust domain (default CLUSTER.<cluster domain>).")


def after_bootstrap(spec: ClusterSpec, streams: Streams, table: bool) -> dict[str, object]:
    """Print (table) or return (json) the signer and what the cluster must change."""
    settings = pod_certificates.cluster_settings(spec)
    if table:
        streams.out(f"Pod certificates: signerName {pod_certificates.signer_name(spec)}, SPIFFE IDs "
                    f"spiffe://{pod_certificates.trust_domain(spec)}/ns/<namespace>/sa/<service account>.")
        streams.out("Cluster settings for pod certificates (Kubernetes 1.36):")
        for line in settings:
            streams.out(f"  {line}")
    return {"signer_name": pod_certificates.signer_name(spec),
            "trust_domain": pod_certificates.trust_domain(spec), "mount": pod_certificates.mount(spec),
            "role": pod_certificates.ROLE, "cluster_settings": settings}
