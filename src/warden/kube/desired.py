"""What a bootstrapped cluster looks like in warden: mounts, CAs, roles, policies, the
token role and the KV secrets, all derived from the inventory and a ClusterSpec."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden.kube import kubelet_signer, pod_certificates
from warden.kube.cluster import ClusterSpec
from warden.kube.identity import Identity, nodes_of, role_identities
from warden.kube.inventory import (
    CAS,
    COMPONENTS,
    USER_ROLE_PREFIX,
    CaSpec,
    Component,
    Usage,
    policy_unit,
    role_name,
    signing_ca,
)

KEY_USAGE = ["DigitalSignature", "KeyEncipherment"]  # kubeadm's leaves
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
CLUSTER_INFO = "cluster-info"


@dataclass(frozen=True, slots=True)
class DesiredMount:
    path: str
    type: str
    max_lease_ttl: str = ""
    options: Mapping[str, str] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class DesiredCa:
    ca: CaSpec
    mount: str
    data: Mapping[str, Any]
    csr_file: str  # file name of the CSR in intermediate mode


@dataclass(frozen=True, slots=True)
class DesiredRole:
    mount: str
    name: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Desired:
    spec: ClusterSpec
    kv_version: int
    mounts: tuple[DesiredMount, ...]
    cas: tuple[DesiredCa, ...]
    roles: tuple[DesiredRole, ...]
    policies: Mapping[str, str]
    token_role: str
    token_role_data: Mapping[str, Any]
    sa_path: str  # logical KV paths (as ``warden kv`` takes them)
    cluster_path: str

    def kv_api_path(self, logical: str) -> str:
        """``secret/c1/k8s/sa`` -> ``secret/data/c1/k8s/sa`` on kv v2."""
        if self.kv_version != 2:
            return logical
        mount = self.spec.kv_mount
        return f"{mount}/data/{logical.removeprefix(mount + '/')}"


def is_hostname(name: str) -> bool:
    return bool(_HOSTNAME.match(name))


def ip_cidr(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    return f"{address}/{address.max_prefixlen}"


def cas_in_use(spec: ClusterSpec) -> tuple[CaSpec, ...]:
    return tuple(ca for ca in CAS if not ca.optional or spec.kubelet_serving_ca)


def _key_fields(spec: ClusterSpec) -> dict[str, Any]:
    return {"key_type": spec.key_type, "key_bits": spec.bits}


def _role_base(spec: ClusterSpec, ttl: str) -> dict[str, Any]:
    return {
        **_key_fields(spec), "ttl": ttl, "max_ttl": ttl, "key_usage": KEY_USAGE, "ext_key_usage": [],
        "code_signing_flag": False, "email_protection_flag": False, "allow_subdomains": False,
        "allow_glob_domains": False, "allow_wildcard_certificates": False, "allowed_uri_sans": [],
        "allowed_other_sans": [], "ou": [], "require_cn": True, "no_store": False,
        "generate_lease": False,
    }


def role_data(spec: ClusterSpec, ident: Identity) -> dict[str, Any]:
    """A role that issues exactly this identity: its CN and SANs, its groups, its usages."""
    names = list(dict.fromkeys([ident.common_name, *ident.dns]))
    return {
        **_role_base(spec, ident.ttl),
        "server_flag": Usage.SERVER in ident.cert.usages,
        "client_flag": Usage.CLIENT in ident.cert.usages,
        "allowed_domains": names, "allow_bare_domains": True, "allow_any_name": False,
        "allow_localhost": "localhost" in ident.dns,
        "enforce_hostnames": all(is_hostname(n) for n in names),
        "allow_ip_sans": bool(ident.ips), "allowed_ip_sans_cidr": [ip_cidr(ip) for ip in ident.ips],
        "organization": list(ident.groups),
    }


def user_role_data(spec: ClusterSpec, group: str) -> dict[str, Any]:
    """People (seed 001): the user name as CN, one group, client auth, short-lived.

    A person's name is always an e-mail address (any domain, or only the user domain when
    one is set): no component identity contains "@", so nobody holding the policy can ask
    for a name Kubernetes gives its own components (kube-apiserver-kubelet-client, which
    kubeadm binds to system:kubelet-api-admin; system:kube-scheduler)."""
    names: dict[str, Any] = {"allowed_domains": [], "allow_bare_domains": False, "allow_any_name": True,
                             "enforce_hostnames": False, "cn_validations": ["email"]}
    if spec.user_domain:
        names = {"allowed_domains": [spec.user_domain], "allow_bare_domains": True, "allow_any_name": False,
                 "enforce_hostnames": True, "cn_validations": ["email"]}
    return {
        **_role_base(spec, spec.user_ttl), "server_flag": False, "client_flag": True, **names,
        "allow_localhost": False, "allow_ip_sans": False, "allowed_ip_sans_cidr": [], "organization": [group],
    }


POLICY_MARK = "# warden k8s:"  # the first line of every policy bootstrap writes


def policy_text(title: str, rules: list[tuple[str, str]]) -> str:
    lines = [f"{POLICY_MARK} {title}"]
    for path, capability in rules:
        lines += [f'path "{path}" {{', f'  capabilities = ["{capability}"]', "}"]
    return "\n".join(lines) + "\n"


def _component_rules(spec: ClusterSpec, comp: Component, node: str, sa_api: str) -> list[tuple[str, str]]:
    rules = []
    for cert in comp.certs:
        ca = signing_ca(cert.ca, kubelet_serving_ca=spec.kubelet_serving_ca)
        rules.append((f"{spec.mount(ca.key)}/issue/{role_name(cert, node)}", "update"))
    if comp.reads_sa_key:
        rules.append((sa_api, "read"))
    return rules


def policies(spec: ClusterSpec, kv_api: Any) -> dict[str, str]:
    """Policy name -> HCL: one per component (per node where certificates are), one to read
    the cluster's settings, one per user group."""
    out: dict[str, str] = {}
    sa_api = kv_api(f"{spec.kv_mount}/{spec.kv_base}/sa")
    for comp in COMPONENTS:
        nodes = [n.name for n in nodes_of(spec, comp.nodes)] if comp.per_node else [""]
        for node in nodes:
            unit = policy_unit(comp, node)
            title = f"{comp.name}{' on ' + node if node else ''} of cluster {spec.name}"
            out[spec.policy(unit)] = policy_text(title, _component_rules(spec, comp, node, sa_api))
    cluster_api = kv_api(f"{spec.kv_mount}/{spec.kv_base}/cluster")
    out[spec.policy(CLUSTER_INFO)] = policy_text(f"read the settings of cluster {spec.name}",
                                                 [(cluster_api, "read")])
    if spec.kubelet_signer:
        out[kubelet_signer.policy_name(spec)] = policy_text(
            f"warden k8s controller: sign kubelet CSRs of cluster {spec.name}",
            kubelet_signer.policy_rules(spec))
    if spec.pod_certificates:
        out[pod_certificates.policy_name(spec)] = policy_text(
            f"warden k8s controller: sign pod certificates of cluster {spec.name}",
            pod_certificates.policy_rules(spec))
    for group in spec.user_groups:
        mount = spec.mount("k8s")
        out[spec.policy(USER_ROLE_PREFIX + group)] = policy_text(
            f"kubeconfigs for people in group {group} of cluster {spec.name}",
            [(f"{mount}/issue/{USER_ROLE_PREFIX}{group}", "update"), (cluster_api, "read")])
    return out


def _mounts(spec: ClusterSpec, kv_missing: bool) -> tuple[DesiredMount, ...]:
    out = [DesiredMount(spec.mount(ca.key), "pki", spec.ca_ttl, description=f"{spec.name}: {ca.purpose}")
           for ca in cas_in_use(spec)]
    if spec.pod_certificates:
        out.append(DesiredMount(pod_certificates.mount(spec), "pki", spec.ca_ttl,
                                description=f"{spec.name}: {pod_certificates.CA.purpose}"))
    if kv_missing:
        out.append(DesiredMount(spec.kv_mount, "kv", options={"version": "2"},
                                description="key/value secret storage"))
    return tuple(out)


def _cas(spec: ClusterSpec) -> tuple[DesiredCa, ...]:
    out = []
    for ca in cas_in_use(spec):
        data: dict[str, Any] = {"common_name": ca.common_name, "ou": [spec.name], **_key_fields(spec)}
        if not spec.intermediate:
            data["ttl"] = spec.ca_ttl
        out.append(DesiredCa(ca, spec.mount(ca.key), data, f"{spec.name}-{ca.key}.csr"))
    if spec.pod_certificates:
        ca = pod_certificates.CA
        out.append(DesiredCa(ca, pod_certificates.mount(spec), pod_certificates.ca_data(spec),
                             f"{spec.name}-{ca.key}.csr"))
    return tuple(out)


def _roles(spec: ClusterSpec) -> tuple[DesiredRole, ...]:
    roles = [DesiredRole(i.mount, i.role, role_data(spec, i)) for i in role_identities(spec)]
    roles += [DesiredRole(spec.mount("k8s"), USER_ROLE_PREFIX + g, user_role_data(spec, g))
              for g in spec.user_groups]
    if spec.kubelet_signer:
        roles += [DesiredRole(r.mount, r.name, r.data) for r in kubelet_signer.signer_roles(spec)]
    if spec.pod_certificates:
        roles.append(DesiredRole(pod_certificates.mount(spec), pod_certificates.ROLE,
                                 pod_certificates.role_data(spec)))
    return tuple(roles)


def desired(spec: ClusterSpec, *, kv_version: int) -> Desired:
    """kv_version: 1 or 2 for an existing KV mount, 0 if it must be created (as version 2)."""
    version = kv_version or 2
    draft = Desired(spec, version, (), (), (), {}, "", {}, "", "")
    pols = policies(spec, draft.kv_api_path)
    token_data = {"allowed_policies": sorted(p for p in pols if f"/{USER_ROLE_PREFIX}" not in p),
                  "period": spec.token_period, "orphan": True, "renewable": True}
    base = f"{spec.kv_mount}/{spec.kv_base}"
    return Desired(spec, version, _mounts(spec, kv_version == 0), _cas(spec), _roles(spec), pols,
                   spec.token_role, token_data, f"{base}/sa", f"{base}/cluster")
