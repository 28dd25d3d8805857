"""Who each certificate names: subject and SANs per node, as kubeadm builds them
(``GetAPIServerAltNames``, ``GetEtcdAltNames``), and what the PKI role must allow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from warden.kube.cluster import ClusterSpec, Node, is_ip
from warden.kube.inventory import (
    COMPONENTS,
    CertSpec,
    Lifetime,
    Nodes,
    Sans,
    all_certs,
    expand,
    role_name,
    signing_ca,
)

LOCAL_DNS = ("localhost",)
LOCAL_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Identity:
    """One certificate to issue: for a node, or (node None) for the role's allowed names."""

    cert: CertSpec
    node: Node | None
    common_name: str
    groups: tuple[str, ...]
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    mount: str
    role: str
    ttl: str


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def apiserver_fixed_dns(spec: ClusterSpec) -> tuple[str, ...]:
    return ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
            f"kubernetes.default.svc.{spec.cluster_domain}")


def _apiserver_names(spec: ClusterSpec, nodes: Iterable[Node]) -> tuple[list[str], list[str]]:
    nodes = list(nodes)
    host, _ = spec.endpoint() if spec.control_plane_endpoint else ("", 0)
    extras = [*spec.apiserver_sans, host]
    dns = [n.name for n in nodes] + list(apiserver_fixed_dns(spec))
    dns += [e for e in extras if e and not is_ip(e)]
    ips = spec.service_ips() + [n.ip for n in nodes] + [e for e in extras if e and is_ip(e)]
    return dns, ips


def sans_for(spec: ClusterSpec, cert: CertSpec, nodes: Iterable[Node]
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IPs) a certificate of ``cert`` carries for these nodes (one node when
    issuing; all of them for a role's allowed names)."""
    nodes = list(nodes)
    if cert.sans is Sans.APISERVER:
        dns, ips = _apiserver_names(spec, nodes)
    elif cert.sans is Sans.ETCD:
        dns = [n.name for n in nodes] + list(LOCAL_DNS)
        ips = [n.ip for n in nodes] + list(LOCAL_IPS)
    elif cert.sans is Sans.KUBELET:
        dns, ips = [n.name for n in nodes], [n.ip for n in nodes]
    else:
        dns, ips = [], []
    return _unique(dns), _unique(ips)


def nodes_of(spec: ClusterSpec, which: Nodes) -> tuple[Node, ...]:
    return spec.control_planes if which is Nodes.CONTROL_PLANE else spec.nodes


def lifetime(spec: ClusterSpec, cert: CertSpec) -> str:
    if cert.lifetime is Lifetime.SUPER_ADMIN:
        return spec.super_admin_ttl
    return spec.admin_ttl if cert.lifetime is Lifetime.ADMIN else spec.cert_ttl


def identity(spec: ClusterSpec, cert: CertSpec, node: Node | None) -> Identity:
    """The certificate for ``node``; with node None, every name the role must allow (for a
    per-node certificate pass the node: its role allows only that node's names)."""
    if cert.per_node and node is None:
        raise ValueError(f"{cert.name} is issued per node")
    ca = signing_ca(cert.ca, kubelet_serving_ca=spec.kubelet_serving_ca)
    node_name = node.name if node else ""
    cn = expand(cert.common_name, node=node_name)
    groups = tuple(expand(g, admin_group=spec.admin_group) for g in cert.groups)
    if node is not None and not cert.per_node and cert.sans is not Sans.APISERVER:
        node = None  # a cluster-wide certificate is the same on every node
    if cert.sans is Sans.APISERVER and node is None:
        covered = spec.control_planes
    else:
        covered = (node,) if node is not None else ()
    dns, ips = sans_for(spec, cert, covered)
    return Identity(cert, node, cn, groups, dns, ips, spec.mount(ca.key), role_name(cert, node_name),
                    lifetime(spec, cert))


def role_identities(spec: ClusterSpec) -> list[Identity]:
    """One identity per PKI role: cluster-wide certificates once, per-node ones per node."""
    out = []
    for comp, cert in all_certs():
        if cert.per_node:
            out += [identity(spec, cert, n) for n in nodes_of(spec, comp.nodes)]
        else:
            out.append(identity(spec, cert, None))
    return out


def node_identities(spec: ClusterSpec, node: Node) -> list[Identity]:
    """What one machine's tree holds: control planes everything, workers the kubelet and
    kube-proxy certificates."""
    out = []
    for comp in COMPONENTS:
        if comp.nodes is Nodes.CONTROL_PLANE and not node.control_plane:
            continue
        out += [identity(spec, cert, node) for cert in comp.certs]
    return out
