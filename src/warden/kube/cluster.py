"""A cluster's settings: its nodes, networks, key type and lifetimes (what kubeadm's
ClusterConfiguration and InitConfiguration say about certificates).

Stored by ``bootstrap`` as a KV secret (``<kv>/<cluster>/k8s/cluster``) so that ``certs``
and ``kubeconfig`` issue exactly what the roles allow, without repeating the options.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_ADMIN_GROUP = "kubeadm:cluster-admins"  # kubeadm >= 1.29; system:masters before
LEGACY_ADMIN_GROUP = "system:masters"
API_SERVER_PORT = 6443
KEY_BITS = {"rsa": 2048, "ec": 256}

_CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NODE_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")
_TRUST_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$")
_DURATION = re.compile(r"(\d+)(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class SpecError(ValueError):
    """An option does not make sense; the message says which and why."""


def parse_duration(text: str | int) -> int:
    """Seconds in a Go-style duration ("8760h", "1h30m", "90s"; a bare number is seconds)."""
    if isinstance(text, int):
        return text
    value = text.strip()
    if value.isdigit():
        return int(value)
    pos, total = 0, 0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise SpecError(f"invalid duration {text!r}: use e.g. 8760h, 30m or 90s")
    return total


@dataclass(frozen=True, slots=True)
class Node:
    """A machine of the cluster: its Node name (as registered) and advertise address."""

    name: str
    ip: str = ""
    control_plane: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ip": self.ip, "control_plane": self.control_plane}


def parse_node(text: str, *, control_plane: bool) -> Node:
    """``NAME=IP`` (or ``NAME`` alone for a worker) as given on the command line."""
    name, _, ip = text.partition("=")
    name, ip = name.strip().lower(), ip.strip()
    if not _NODE_NAME.match(name):
        raise SpecError(f"invalid node name {name!r}: use a DNS name (lower case letters, digits, "
                        "'-' and '.')")
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise SpecError(f"invalid IP address {ip!r} for node {name}") from None
    elif control_plane:
        raise SpecError(f"control-plane node {name} needs its advertise address: -control-plane "
                        f"{name}=IP")
    return Node(name, ip, control_plane)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Everything about a cluster that decides its certificates. TTLs are Go durations."""

    name: str
    nodes: tuple[Node, ...] = ()
    service_cidr: str = DEFAULT_SERVICE_CIDR
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    control_plane_endpoint: str = ""
    apiserver_sans: tuple[str, ...] = ()
    key_type: str = "rsa"
    key_bits: int = 0
    ca_ttl: str = "87600h"
    cert_ttl: str = "8760h"
    admin_ttl: str = "24h"
    super_admin_ttl: str = "1h"  # super-admin.conf: system:masters, used once to bind the admin group
    user_ttl: str = "8h"
    admin_group: str = DEFAULT_ADMIN_GROUP
    kubelet_serving_ca: bool = False
    kubelet_signer: bool = False  # roles and a policy for ``warden k8s controller``'s CSR signer
    pod_certificates: bool = False  # a workloads CA, role and policy for the pod certificate signer
    trust_domain: str = ""  # the pods' SPIFFE trust domain ("": <name>.<cluster_domain>)
    intermediate: bool = False
    user_groups: tuple[str, ...] = ()
    user_domain: str = ""  # people's names must be e-mail addresses in this domain
    kv_mount: str = "secret"
    token_period: str = "720h"

    # -- derived names ------------------------------------------------------------------

    @property
    def bits(self) -> int:
        return self.key_bits or KEY_BITS.get(self.key_type, 0)

    def mount(self, ca_mount: str) -> str:
        return f"{self.name}/pki/{ca_mount}"

    @property
    def token_role(self) -> str:
        return f"k8s-{self.name}"

    def policy(self, unit: str) -> str:
        return f"{self.name}/k8s/{unit}"

    @property
    def kv_base(self) -> str:
        """Where the cluster's secrets live inside the KV mount."""
        return f"{self.name}/k8s"

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.control_plane)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none"
        raise SpecError(f"cluster {self.name} has no node {name!r} (known: {known}); add it with "
                        f"'warden k8s bootstrap {self.name} -worker {name}=IP' (or -control-plane)")

    # -- networks -----------------------------------------------------------------------

    def service_ips(self) -> list[str]:
        """The first address of each service CIDR: the ``kubernetes`` Service's cluster IP."""
        out = []
        for cidr in self.service_cidr.split(","):
            network = ipaddress.ip_network(cidr.strip(), strict=False)
            out.append(str(network[1]))
        return out

    def endpoint(self) -> tuple[str, int]:
        """(host, port) of the control-plane endpoint (default: the first control plane)."""
        if not self.control_plane_endpoint:
            first = self.control_planes[0] if self.control_planes else Node("localhost", "127.0.0.1")
            return first.ip or first.name, API_SERVER_PORT
        parsed = urllib.parse.urlsplit("//" + self.control_plane_endpoint.removeprefix("https://"))
        return parsed.hostname or "", parsed.port or API_SERVER_PORT

    def server_url(self, node: Node | None = None) -> str:
        """The API server URL: a control plane's own address for its local components
        (as kubeadm writes controller-manager.conf), else the control-plane endpoint."""
        host, port = (node.ip, API_SERVER_PORT) if node is not None and node.ip else self.endpoint()
        return f"https://{_host_for_url(host)}:{port}"

    # -- codec --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["nodes"] = [n.to_json() for n in self.nodes]
        out["apiserver_sans"] = list(self.apiserver_sans)
        out["user_groups"] = list(self.user_groups)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["nodes"] = tuple(Node(str(n["name"]), str(n.get("ip", "")), bool(n.get("control_plane")))
                                for n in data.get("nodes") or ())
        for key in ("apiserver_sans", "user_groups"):
            values[key] = tuple(values.get(key) or ())
        return validate(cls(**values))


def _host_for_url(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise SpecError(f"{what} {value!r} is given twice")
        seen.add(value)


def _check_endpoint(endpoint: str) -> None:
    """-control-plane-endpoint is HOST[:PORT] (an https:// prefix is tolerated)."""
    if not endpoint:
        return
    try:
        parsed = urllib.parse.urlsplit("//" + endpoint.removeprefix("https://"))
        parsed.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise SpecError(f"invalid -control-plane-endpoint {endpoint!r}: {exc}; use HOST[:PORT]") from None
    if not parsed.hostname or parsed.path or "://" in endpoint.removeprefix("https://"):
        raise SpecError(f"invalid -control-plane-endpoint {endpoint!r}: use HOST[:PORT], e.g. "
                        "k8s.example.net:6443")


def validate(spec: ClusterSpec) -> ClusterSpec:
    """The spec, or SpecError naming the first problem."""
    if not _CLUSTER_NAME.match(spec.name):
        raise SpecError(f"invalid cluster name {spec.name!r}: use lower case letters, digits and '-' "
                        "(it becomes part of mount paths)")
    _unique((n.name for n in spec.nodes), "node")
    if spec.key_type not in KEY_BITS:
        raise SpecError(f"unsupported key type {spec.key_type!r}: use rsa or ec")
    try:
        spec.service_ips()
    except ValueError as exc:
        raise SpecError(f"invalid service CIDR {spec.service_cidr!r}: {exc}") from None
    _check_endpoint(spec.control_plane_endpoint)
    for name in ("ca_ttl", "cert_ttl", "admin_ttl", "super_admin_ttl", "user_ttl", "token_period"):
        if parse_duration(getattr(spec, name)) <= 0:
            raise SpecError(f"{name.replace('_', '-')} must be positive")
    if parse_duration(spec.cert_ttl) > parse_duration(spec.ca_ttl):
        raise SpecError("-cert-ttl cannot be longer than -ca-ttl: a leaf never outlives its CA")
    for group in (*spec.user_groups, spec.admin_group):
        if not _GROUP_NAME.match(group):
            raise SpecError(f"invalid group name {group!r}")
    _unique(spec.user_groups, "user group")
    if spec.user_domain and not _NODE_NAME.match(spec.user_domain):
        raise SpecError(f"invalid user domain {spec.user_domain!r}: use a DNS domain such as example.com")
    if spec.trust_domain and not _TRUST_DOMAIN.match(spec.trust_domain):
        raise SpecError(f"invalid trust domain {spec.trust_domain!r}: use lower case letters, digits, "
                        "'.', '-' and '_', e.g. c1.example.com")
    if not spec.kv_mount.strip("/"):
        raise SpecError("-kv-mount must name a KV mount, e.g. secret")
    return dataclasses.replace(spec, kv_mount=spec.kv_mount.strip("/"))
