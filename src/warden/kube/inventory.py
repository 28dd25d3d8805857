"""The one table of a cluster's PKI, after kubeadm's inventory (``certlist.go``).

CAs, and per component: its certificates (signing CA, subject CN and O, SAN rule, key
usages, file, lifetime class) and every certificate-related flag with the file it points
to. Roles, policies, the certificate tree, kubeconfigs, ``explain`` and ``check`` are all
derived from these rows; nothing else in ``warden.kube`` spells a CN, a group or a file.

Placeholders: ``{node}`` is a Node name (a per-node certificate), ``{admin_group}`` the
admin group chosen at bootstrap (kubeadm >= 1.29: kubeadm:cluster-admins).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NODE = "{node}"
ADMIN_GROUP = "{admin_group}"
SA_KEY_FILE, SA_PUB_FILE = "pki/sa.key", "pki/sa.pub"


class Usage(StrEnum):
    SERVER = "serverAuth"
    CLIENT = "clientAuth"


class Sans(StrEnum):
    NONE = "none"  # client certificates carry no SANs (kubeadm)
    APISERVER = "apiserver"  # kubernetes.default.svc.<domain>, service IP, node, endpoint, extras
    ETCD = "etcd"  # node name, localhost, node IP, 127.0.0.1, ::1
    KUBELET = "kubelet"  # node name and IP


class Nodes(StrEnum):
    CONTROL_PLANE = "control-plane"
    ALL = "all"


class Lifetime(StrEnum):
    CERT = "cert"  # -cert-ttl (kubeadm: 1 year)
    ADMIN = "admin"  # -admin-ttl (short: an admin certificate cannot be revoked by RBAC)
    SUPER_ADMIN = "super-admin"  # -super-admin-ttl (shorter still: system:masters bypasses RBAC)


class Ref(StrEnum):
    """What a flag's value is."""

    CA_CERT = "ca"  # a CA certificate file
    CERT = "cert"
    KEY = "key"
    KUBECONFIG = "kubeconfig"
    SA_KEY = "sa-key"
    SA_PUB = "sa-pub"
    VALUE = "value"  # a literal value, no file
    UNSET = "unset"  # deliberately left unset with warden


@dataclass(frozen=True, slots=True)
class CaSpec:
    key: str  # the mount under <cluster>/pki/
    common_name: str  # kubeadm's CN
    cert_file: str
    purpose: str
    optional: bool = False  # only with an option (a separate kubelet-serving CA)


@dataclass(frozen=True, slots=True)
class CertSpec:
    name: str  # kubeadm's name; the PKI role is this (per node: "<name>-<node>")
    ca: str  # a CaSpec key
    common_name: str
    groups: tuple[str, ...]
    sans: Sans
    usages: tuple[Usage, ...]
    path: str  # "pki/apiserver" (.crt and .key) or "admin.conf" (a kubeconfig)
    kubeconfig: bool = False
    lifetime: Lifetime = Lifetime.CERT
    also_accepted_groups: tuple[tuple[str, ...], ...] = ()  # other kubeadm versions (check)

    @property
    def per_node(self) -> bool:
        return NODE in self.common_name

    @property
    def cert_file(self) -> str:
        return self.path if self.kubeconfig else self.path + ".crt"

    @property
    def key_file(self) -> str:
        return self.path if self.kubeconfig else self.path + ".key"


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    ref: Ref
    target: str = ""  # CA key, certificate name, or the literal value
    note: str = ""


@dataclass(frozen=True, slots=True)
class Component:
    name: str  # also the policy's name: <cluster>/k8s/<name>[-<node>]
    nodes: Nodes
    certs: tuple[CertSpec, ...]
    flags: tuple[Flag, ...]
    reads_sa_key: bool = False
    program: str = ""  # the binary whose flags these are, when not the component's name

    @property
    def per_node(self) -> bool:
        return any(c.per_node for c in self.certs)


CAS: tuple[CaSpec, ...] = (
    CaSpec("k8s", "kubernetes", "pki/ca.crt",
           "Kubernetes CA: API server serving and all client certificates"),
    CaSpec("etcd", "etcd-ca", "pki/etcd/ca.crt", "etcd CA: etcd serving, peer and client certificates"),
    CaSpec("front-proxy", "front-proxy-ca", "pki/front-proxy-ca.crt",
           "front-proxy (request-header) CA: the aggregator client certificate"),
    CaSpec("kubelet", "kubelet-serving-ca", "pki/kubelet-serving-ca.crt",
           "kubelet-serving CA (optional): kubelet serving certificates", optional=True),
)

S, C = Usage.SERVER, Usage.CLIENT


def _client(name: str, ca: str, cn: str, path: str, *groups: str, kubeconfig: bool = False,
            lifetime: Lifetime = Lifetime.CERT, accepted: tuple[tuple[str, ...], ...] = ()) -> CertSpec:
    return CertSpec(name, ca, cn, groups, Sans.NONE, (C,), path, kubeconfig, lifetime, accepted)


def _kubeconfig_flags(*names: str) -> tuple[Flag, ...]:
    return tuple(Flag(n, Ref.KUBECONFIG, "") for n in names)


ETCD = Component(
    "etcd", Nodes.CONTROL_PLANE,
    certs=(
        CertSpec("etcd-server", "etcd", NODE, (), Sans.ETCD, (S, C), "pki/etcd/server"),
        CertSpec("etcd-peer", "etcd", NODE, (), Sans.ETCD, (S, C), "pki/etcd/peer"),
    ),
    flags=(
        Flag("--cert-file", Ref.CERT, "etcd-server"),
        Flag("--key-file", Ref.KEY, "etcd-server"),
        Flag("--trusted-ca-file", Ref.CA_CERT, "etcd", "clients must present an etcd-CA certificate"),
        Flag("--client-cert-auth", Ref.VALUE, "true"),
        Flag("--peer-cert-file", Ref.CERT, "etcd-peer"),
        Flag("--peer-key-file", Ref.KEY, "etcd-peer"),
        Flag("--peer-trusted-ca-file", Ref.CA_CERT, "etcd"),
        Flag("--peer-client-cert-auth", Ref.VALUE, "true"),
    ),
)
ETCD_HEALTHCHECK = Component(
    "etcd-healthcheck-client", Nodes.CONTROL_PLANE, program="etcdctl",
    certs=(_client("etcd-healthcheck-client", "etcd", "kube-etcd-healthcheck-client",
                   "pki/etcd/healthcheck-client", accepted=(("system:masters",),)),),
    flags=(
        Flag("--cacert", Ref.CA_CERT, "etcd", "health checks (kubeadm's etcd probe)"),
        Flag("--cert", Ref.CERT, "etcd-healthcheck-client"),
        Flag("--key", Ref.KEY, "etcd-healthcheck-client"),
    ),
)
KUBE_APISERVER = Component(
    "kube-apiserver", Nodes.CONTROL_PLANE, reads_sa_key=True,
    certs=(
        CertSpec("apiserver", "k8s", "kube-apiserver", (), Sans.APISERVER, (S,), "pki/apiserver"),
        _client("apiserver-kubelet-client", "k8s", "kube-apiserver-kubelet-client",
                "pki/apiserver-kubelet-client", ADMIN_GROUP,
                accepted=(("system:masters",), ("kubeadm:cluster-admins",), ())),
        _client("apiserver-etcd-client", "etcd", "kube-apiserver-etcd-client", "pki/apiserver-etcd-client",
                accepted=(("system:masters",),)),
        _client("front-proxy-client", "front-proxy", "front-proxy-client", "pki/front-proxy-client"),
    ),
    flags=(
        Flag("--client-ca-file", Ref.CA_CERT, "k8s", "verifies client certificates of users and components"),
        Flag("--tls-cert-file", Ref.CERT, "apiserver"),
        Flag("--tls-private-key-file", Ref.KEY, "apiserver"),
        Flag("--kubelet-client-certificate", Ref.CERT, "apiserver-kubelet-client"),
        Flag("--kubelet-client-key", Ref.KEY, "apiserver-kubelet-client"),
        Flag("--kubelet-certificate-authority", Ref.CA_CERT, "kubelet",
             "verifies kubelets' serving certificates"),
        Flag("--etcd-cafile", Ref.CA_CERT, "etcd"),
        Flag("--etcd-certfile", Ref.CERT, "apiserver-etcd-client"),
        Flag("--etcd-keyfile", Ref.KEY, "apiserver-etcd-client"),
        Flag("--requestheader-client-ca-file", Ref.CA_CERT, "front-proxy"),
        Flag("--requestheader-allowed-names", Ref.VALUE, "front-proxy-client"),
        Flag("--proxy-client-cert-file", Ref.CERT, "front-proxy-client"),
        Flag("--proxy-client-key-file", Ref.KEY, "front-proxy-client"),
        Flag("--service-account-key-file", Ref.SA_PUB, "", "verifies service-account tokens"),
        Flag("--service-account-signing-key-file", Ref.SA_KEY, "", "signs service-account tokens"),
    ),
)
KUBE_CONTROLLER_MANAGER = Component(
    "kube-controller-manager", Nodes.CONTROL_PLANE, reads_sa_key=True,
    certs=(_client("controller-manager", "k8s", "system:kube-controller-manager",
                   "controller-manager.conf", kubeconfig=True),),
    flags=(
        *_kubeconfig_flags("--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig"),
        Flag("--client-ca-file", Ref.CA_CERT, "k8s"),
        Flag("--requestheader-client-ca-file", Ref.CA_CERT, "front-proxy"),
        Flag("--root-ca-file", Ref.CA_CERT, "k8s", "published to pods as kube-root-ca.crt"),
        Flag("--service-account-private-key-file", Ref.SA_KEY, ""),
        Flag("--cluster-signing-cert-file", Ref.UNSET, "",
             "CA keys stay inside warden: sign CSRs with warden, not the controller-manager"),
        Flag("--cluster-signing-key-file", Ref.UNSET, ""),
    ),
)
KUBE_SCHEDULER = Component(
    "kube-scheduler", Nodes.CONTROL_PLANE,
    certs=(_client("scheduler", "k8s", "system:kube-scheduler", "scheduler.conf", kubeconfig=True),),
    flags=_kubeconfig_flags("--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig"),
)
KUBELET = Component(
    "kubelet", Nodes.ALL,
    certs=(
        _client("kubelet-client", "k8s", "system:node:" + NODE, "kubelet.conf", "system:nodes",
                kubeconfig=True),
        CertSpec("kubelet-serving", "kubelet", "system:node:" + NODE, ("system:nodes",), Sans.KUBELET,
                 (S,), "pki/kubelet"),
    ),
    flags=(
        Flag("--kubeconfig", Ref.KUBECONFIG, "kubelet-client"),
        Flag("--client-ca-file", Ref.CA_CERT, "k8s", "config: authentication.x509.clientCAFile"),
        Flag("--tls-cert-file", Ref.CERT, "kubelet-serving", "config: tlsCertFile"),
        Flag("--tls-private-key-file", Ref.KEY, "kubelet-serving", "config: tlsPrivateKeyFile"),
    ),
)
KUBE_PROXY = Component(
    "kube-proxy", Nodes.ALL,
    certs=(_client("kube-proxy", "k8s", "system:kube-proxy", "kube-proxy.conf", "system:node-proxier",
                   kubeconfig=True),),
    flags=_kubeconfig_flags("--kubeconfig"),
)
ADMIN = Component(
    "admin", Nodes.CONTROL_PLANE, program="kubectl",
    certs=(_client("admin", "k8s", "kubernetes-admin", "admin.conf", ADMIN_GROUP, kubeconfig=True,
                   lifetime=Lifetime.ADMIN, accepted=(("system:masters",), ("kubeadm:cluster-admins",))),),
    flags=_kubeconfig_flags("--kubeconfig"),
)

# kubeadm >= 1.29: admin.conf's group (kubeadm:cluster-admins) is bound to cluster-admin by a
# ClusterRoleBinding that nothing has made on a fresh cluster; super-admin.conf (system:masters,
# which no RBAC can take away: hence short-lived) is for creating that binding, once.
SUPER_ADMIN = Component(
    "super-admin", Nodes.CONTROL_PLANE, program="kubectl",
    certs=(_client("super-admin", "k8s", "kubernetes-super-admin", "super-admin.conf", "system:masters",
                   kubeconfig=True, lifetime=Lifetime.SUPER_ADMIN),),
    flags=_kubeconfig_flags("--kubeconfig"),
)

COMPONENTS: tuple[Component, ...] = (
    ETCD, ETCD_HEALTHCHECK, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET,
    KUBE_PROXY, ADMIN, SUPER_ADMIN,
)

# Files kubeadm writes that warden does not issue, known to ``check`` (none at present).
KUBEADM_ONLY: tuple[CertSpec, ...] = ()

# Short-lived certificates for people (seed 001): CN = the user, O = one group per role.
USER_ROLE_PREFIX = "user-"


def ca_spec(key: str) -> CaSpec:
    for ca in CAS:
        if ca.key == key:
            return ca
    raise KeyError(f"no CA {key!r} in the inventory")


def signing_ca(cert_or_ca: str, *, kubelet_serving_ca: bool) -> CaSpec:
    """The CA that actually signs: without a separate kubelet-serving CA, the Kubernetes CA."""
    if cert_or_ca == "kubelet" and not kubelet_serving_ca:
        return ca_spec("k8s")
    return ca_spec(cert_or_ca)


def all_certs() -> tuple[tuple[Component, CertSpec], ...]:
    return tuple((comp, cert) for comp in COMPONENTS for cert in comp.certs)


def cert_spec(name: str) -> CertSpec:
    for _, cert in all_certs():
        if cert.name == name:
            return cert
    raise KeyError(f"no certificate {name!r} in the inventory")


def component_of(cert: CertSpec) -> Component:
    for comp, candidate in all_certs():
        if candidate is cert:
            return comp
    raise KeyError(cert.name)


def role_name(cert: CertSpec, node: str = "") -> str:
    return f"{cert.name}-{node}" if cert.per_node else cert.name


def policy_unit(component: Component, node: str = "") -> str:
    return f"{component.name}-{node}" if component.per_node else component.name


def expand(template: str, *, node: str = "", admin_group: str = "") -> str:
    return template.replace(NODE, node).replace(ADMIN_GROUP, admin_group)
