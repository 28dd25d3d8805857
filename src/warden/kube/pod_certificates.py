"""``warden k8s bootstrap -pod-certificates``: what warden needs so that ``warden k8s
controller`` signs the cluster's PodCertificateRequests and publishes its trust bundles,
and what the cluster must change to let it.

In warden: a separate CA for workload identities (``<cluster>/pki/workloads``, never the
Kubernetes CA: the apiserver trusts that one for client certificates); a role that issues
only ``spiffe://<trust domain>/ns/*/sa/*`` URI SANs, takes nothing from the kubelet's stub
CSR, accepts every key type kubelets make, for client and server TLS, at most 24 h (what
kubelets ask by default); a policy that may only sign with that role and read it.

The controller's configuration gets a ``pod_certificate_signer`` block (signerName
``warden.dev/<cluster>-workloads``) and a ``cluster_trust_bundle`` block per cluster CA
pods may want to trust (Kubernetes, front-proxy, the kubelet-serving CA), labelled
``warden.dev/cluster=<cluster>``.

In the cluster: the apiserver's feature gates and runtime-config for the v1beta1 APIs
(Kubernetes 1.36), the kubelets' feature gates.
"""

from __future__ import annotations

from typing import Any

from warden.kube.cluster import ClusterSpec
from warden.kube.inventory import CAS, CaSpec

MOUNT_KEY, ROLE = "workloads", "workloads"
POLICY_UNIT = "pod-certificates"
MAX_TTL = "24h"
CA = CaSpec(MOUNT_KEY, "workloads-ca", "", "workload identity CA: pod certificates (PodCertificateRequest)")
PUBLISHED_CAS = ("k8s", "front-proxy", "kubelet")  # what a pod may need to trust; never etcd
APISERVER_FLAGS = (
    "--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true",
    "--runtime-config=certificates.k8s.io/v1beta1=true",
)
KUBELET_FLAGS = ("--feature-gates=PodCertificateRequest=true,ClusterTrustBundleProjection=true",)


def signer_name(spec: ClusterSpec) -> str:
    return f"warden.dev/{spec.name}-workloads"


def trust_domain(spec: ClusterSpec) -> str:
    """The SPIFFE trust domain: the -trust-domain given, else ``<cluster>.<cluster domain>``
    (one per cluster, so identities of two clusters never collide)."""
    return spec.trust_domain or f"{spec.name}.{spec.cluster_domain}"


def mount(spec: ClusterSpec) -> str:
    return spec.mount(MOUNT_KEY)


def ca_data(spec: ClusterSpec) -> dict[str, Any]:
    """The body that makes the workloads CA (a root, or a CSR with -intermediate)."""
    data: dict[str, Any] = {"common_name": CA.common_name, "ou": [spec.name],
                            "key_type": spec.key_type, "key_bits": spec.bits}
    if not spec.intermediate:
        data["ttl"] = spec.ca_ttl
    return data


def role_data(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "key_type": "any", "key_bits": 0, "ttl": "1h", "max_ttl": MAX_TTL,
        "allowed_uri_sans": [f"spiffe://{trust_domain(spec)}/ns/*/sa/*"],
        "allow_any_name": False, "allowed_domains": [], "allow_bare_domains": False,
        "allow_subdomains": False, "allow_glob_domains": False, "allow_wildcard_certificates": False,
        "allow_localhost": False, "allow_ip_sans": False, "allowed_ip_sans_cidr": [],
        "allowed_other_sans": [],
        "enforce_hostnames": True, "require_cn": False, "use_csr_common_name": False, "use_csr_sans": False,
        "server_flag": True, "client_flag": True, "code_signing_flag": False, "email_protection_flag": False,
        "key_usage": ["DigitalSignature", "KeyEncipherment"], "ext_key_usage": [], "organization": [],
        "ou": [], "no_store": False, "generate_lease": False,
    }


def policy_name(spec: ClusterSpec) -> str:
    return spec.policy(POLICY_UNIT)


def policy_rules(spec: ClusterSpec) -> list[tuple[str, str]]:
    return [(f"{mount(spec)}/sign/{ROLE}", "update"), (f"{mount(spec)}/roles/{ROLE}", "read")]


def controller_blocks(spec: ClusterSpec) -> str:
    """The ``warden k8s controller`` blocks: the signer and the cluster CAs' bundles."""
    out = [f'pod_certificate_signer "{signer_name(spec)}" {{\n  mount = "{mount(spec)}"\n  role = "{ROLE}"\n'
           f'  trust_domain = "{trust_domain(spec)}"\n'
           f'  bundle_labels = {{ "warden.dev/cluster" = "{spec.name}" }}\n}}']
    for ca in CAS:
        if ca.key in PUBLISHED_CAS and (not ca.optional or spec.kubelet_serving_ca):
            out.append(f'cluster_trust_bundle "{spec.name}-{ca.key}" {{\n  mount = "{spec.mount(ca.key)}"\n'
                       f'  labels = {{ "warden.dev/cluster" = "{spec.name}" }}\n}}')
    return "\n".join(out) + "\n"


def cluster_settings(spec: ClusterSpec) -> list[str]:
    """What to change in the cluster (one line each)."""
    return [
        *(f"kube-apiserver: {flag}" for flag in APISERVER_FLAGS),
        *(f"kubelet: {flag}" for flag in KUBELET_FLAGS),
        f"pods: a projected podCertificate volume with signerName {signer_name(spec)}, and a "
        f"clusterTrustBundle source with that signerName to trust it (see the README)",
        f"RBAC: 'warden k8s bootstrap {spec.name} -pod-certificates -print-rbac | kubectl apply -f -'",
    ]
