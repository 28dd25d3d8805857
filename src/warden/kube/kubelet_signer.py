"""``warden k8s bootstrap -kubelet-signer``: what warden needs so that ``warden k8s controller``
signs the kubelet signerNames, and what the cluster must change to let it.

In warden: a role per kubelet signer that issues any node's certificate with only that
signer's usage (``kubelet-client`` in the Kubernetes CA: CN ``system:node:*``,
``O=system:nodes``, client auth, no SANs; ``kubelet-serving`` in the kubelet-serving CA
when there is one: server auth, DNS and IP SANs), keys of any type (kubelets make ECDSA
keys), the cluster's leaf lifetime as maximum; a policy that may only sign with those two
roles and read them; and, when a Kubernetes auth method is mounted, a login role for the
controller's service account. The controller itself checks who may get which name
(approvers, signer rules); the roles bound what any caller could get.

In the cluster: kube-controller-manager must stop signing the kubelet signerNames
(``--controllers=*,-csrsigning``), the apiserver should verify kubelets' serving
certificates (``--kubelet-certificate-authority``), kubelets rotate both certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.kube import pod_certificates
from warden.kube.cluster import ClusterSpec
from warden.kube.inventory import signing_ca

CLIENT_ROLE, SERVING_ROLE = "kubelet-client", "kubelet-serving"
POLICY_UNIT = "csr-controller"
SERVICE_ACCOUNT, NAMESPACE = "warden-csr-controller", "kube-system"
LEASE = "warden-csr-controller"
AUTH_MOUNT = "auth/kubernetes"
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODES_GROUP = "system:nodes"


@dataclass(frozen=True, slots=True)
class SignerRole:
    signer: str
    mount: str
    name: str
    data: dict[str, Any]
    approver: str


def _base(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "key_type": "any", "key_bits": 0, "ttl": spec.cert_ttl, "max_ttl": spec.cert_ttl,
        "key_usage": ["DigitalSignature", "KeyEncipherment"], "ext_key_usage": [],
        "code_signing_flag": False, "email_protection_flag": False, "organization": [NODES_GROUP],
        "ou": [], "allow_localhost": False, "allow_wildcard_certificates": False, "allow_subdomains": False,
        "allow_bare_domains": False, "allowed_uri_sans": [], "allowed_other_sans": [], "require_cn": True,
        "use_csr_common_name": True, "use_csr_sans": True, "no_store": False, "generate_lease": False,
    }


def signer_roles(spec: ClusterSpec) -> tuple[SignerRole, ...]:
    client = {**_base(spec), "server_flag": False, "client_flag": True, "allow_any_name": False,
              "allowed_domains": ["system:node:*"], "allow_glob_domains": True, "enforce_hostnames": False,
              "allow_ip_sans": False, "allowed_ip_sans_cidr": []}
    serving = {**_base(spec), "server_flag": True, "client_flag": False, "allow_any_name": True,
               "allowed_domains": [], "allow_glob_domains": False, "enforce_hostnames": True,
               "cn_validations": ["disabled"], "allow_ip_sans": True, "allowed_ip_sans_cidr": []}
    serving_mount = spec.mount(signing_ca("kubelet", kubelet_serving_ca=spec.kubelet_serving_ca).key)
    return (SignerRole(KUBELET_CLIENT_SIGNER, spec.mount("k8s"), CLIENT_ROLE, client, "node-client"),
            SignerRole(KUBELET_SERVING_SIGNER, serving_mount, SERVING_ROLE, serving, "node-addresses"))


def policy_name(spec: ClusterSpec) -> str:
    return spec.policy(POLICY_UNIT)


def policy_rules(spec: ClusterSpec) -> list[tuple[str, str]]:
    rules = []
    for role in signer_roles(spec):
        rules += [(f"{role.mount}/sign/{role.name}", "update"), (f"{role.mount}/roles/{role.name}", "read")]
    return rules


def auth_role_name(spec: ClusterSpec) -> str:
    return f"{spec.name}-csr-controller"


def controller_policies(spec: ClusterSpec) -> list[str]:
    """The policies of the controller process: the kubelet signers' and/or the pod certificate signer's."""
    return ([policy_name(spec)] if spec.kubelet_signer else []) + \
        ([pod_certificates.policy_name(spec)] if spec.pod_certificates else [])


def auth_role_data(spec: ClusterSpec) -> dict[str, Any]:
    return {"bound_service_account_names": [SERVICE_ACCOUNT], "bound_service_account_namespaces": [NAMESPACE],
            "token_policies": controller_policies(spec), "token_ttl": 3600, "token_max_ttl": 86400}


def controller_config(spec: ClusterSpec, address: str) -> str:
    """The ``warden k8s controller`` configuration that uses what bootstrap made."""
    signers = "\n".join(
        f'signer "{r.signer}" {{\n  mount = "{r.mount}"\n  role = "{r.name}"\n  approve = "{r.approver}"\n}}'
        for r in (signer_roles(spec) if spec.kubelet_signer else ()))
    if spec.pod_certificates:
        signers = f"{signers}\n{pod_certificates.controller_blocks(spec)}".strip("\n")
    return (f'warden {{ address = "{address}" }}\n'
            f'auto_auth {{\n  method "kubernetes" {{ config = {{ role = "{auth_role_name(spec)}" }} }}\n}}\n'
            f'leader_election {{\n  namespace = "{NAMESPACE}"\n  name = "{LEASE}"\n}}\n'
            f'listener "tcp" {{ address = "0.0.0.0:9102" }}\n{signers}\n')


def cluster_settings(spec: ClusterSpec) -> list[str]:
    """What to change in the cluster (one line each)."""
    ca_file = "pki/kubelet-serving-ca.crt" if spec.kubelet_serving_ca else "pki/ca.crt"
    return [
        "kube-controller-manager: --controllers=*,-csrsigning (warden signs the kubelet signerNames; "
        "keep its csrapproving and csrcleaner)",
        "kube-controller-manager: leave --cluster-signing-cert-file and --cluster-signing-key-file unset",
        f"kube-apiserver: --kubelet-certificate-authority=/etc/kubernetes/{ca_file} "
        "(verify kubelets' serving certificates)",
        "kubelet: rotateCertificates: true and serverTLSBootstrap: true (KubeletConfiguration)",
        f"RBAC: 'warden k8s bootstrap {spec.name} -kubelet-signer -print-rbac | kubectl apply -f -'",
    ]


def ensure_auth_role(api: Any, spec: ClusterSpec) -> str:
    """Create or update the controller's Kubernetes-auth login role when ``auth/kubernetes``
    is mounted; a line saying what happened (or how to do it by hand)."""
    path = f"{AUTH_MOUNT}/role/{auth_role_name(spec)}"
    mounts = api.read("sys/auth") or {}
    mounts = mounts.get("data") or mounts
    if f"{AUTH_MOUNT.removeprefix('auth/')}/" not in mounts:
        return (f"no Kubernetes auth method at {AUTH_MOUNT}/: enable and configure it, then write "
                f"{path} (bound to {NAMESPACE}/{SERVICE_ACCOUNT}, policies "
                f"{', '.join(controller_policies(spec))}), "
                "or give the controller a token with that policy")
    wanted = auth_role_data(spec)
    current = ((api.read(path) or {}).get("data")) or {}
    same = all(sorted(map(str, current.get(k) or [])) == sorted(map(str, v))
               for k, v in wanted.items() if isinstance(v, list))
    if current and same:
        return f"Kubernetes auth role {path} (unchanged)"
    api.write(path, wanted)
    return (f"Kubernetes auth role {path}: {NAMESPACE}/{SERVICE_ACCOUNT} logs in with policies "
            f"{', '.join(controller_policies(spec))}")
