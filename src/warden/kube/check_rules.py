"""Whether a certificate fits its slot in the tree: subject, groups, SANs, usages, validity.

The expectations come from the inventory's CertSpec (CN template, groups and the groups
other kubeadm versions used, SAN rule, usages); only the node name is read off the
certificate itself (``system:node:<name>``, etcd's CN).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from warden.kube.cluster import DEFAULT_ADMIN_GROUP, DEFAULT_CLUSTER_DOMAIN, LEGACY_ADMIN_GROUP
from warden.kube.identity import LOCAL_DNS, LOCAL_IPS
from warden.kube.inventory import NODE, CertSpec, Sans, expand
from warden.kube.x509info import CertInfo


@dataclass(frozen=True, slots=True)
class CheckOptions:
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    service_cidr: str = ""  # checked only when given
    warn_days: int = 30


def node_of(spec: CertSpec, info: CertInfo) -> str:
    """The node a per-node certificate names ("" if its CN does not fit the template)."""
    prefix, _, suffix = spec.common_name.partition(NODE)
    cn = info.common_name
    if not cn.startswith(prefix) or not cn.endswith(suffix) or len(cn) <= len(prefix) + len(suffix):
        return ""
    return cn[len(prefix):len(cn) - len(suffix)]


def expected_cn(spec: CertSpec) -> str:
    return expand(spec.common_name, node="<node>")


def accepted_groups(spec: CertSpec) -> list[tuple[str, ...]]:
    sets = [tuple(expand(g, admin_group=a) for g in spec.groups)
            for a in (DEFAULT_ADMIN_GROUP, LEGACY_ADMIN_GROUP)]
    return list(dict.fromkeys([*sets, *spec.also_accepted_groups]))


def _show_groups(groups: tuple[str, ...]) -> str:
    return "O=" + "+".join(groups) if groups else "no O"


def subject_problems(spec: CertSpec, info: CertInfo) -> list[str]:
    out = []
    if spec.per_node:
        if not node_of(spec, info):
            out.append(f"CN is {info.common_name!r}, expected {expected_cn(spec)!r}")
    elif info.common_name != spec.common_name:
        out.append(f"CN is {info.common_name!r}, expected {spec.common_name!r}")
    accepted = accepted_groups(spec)
    if sorted(info.organizations) not in [sorted(g) for g in accepted]:
        wanted = " or ".join(_show_groups(g) for g in accepted)
        out.append(f"{_show_groups(info.organizations)}, expected {wanted}")
    return out


def usage_problems(spec: CertSpec, info: CertInfo) -> list[str]:
    out = []
    missing = [u.value for u in spec.usages if u.value not in info.ext_key_usage]
    if missing:
        out.append(f"extended key usage lacks {', '.join(missing)}")
    if "digitalSignature" not in info.key_usage:
        out.append("key usage lacks digitalSignature")
    if info.is_ca:
        out.append("a leaf certificate must not be a CA")
    return out


def _required_sans(spec: CertSpec, info: CertInfo, opts: CheckOptions) -> tuple[list[str], list[str]]:
    node = node_of(spec, info)
    if spec.sans is Sans.APISERVER:
        dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
               f"kubernetes.default.svc.{opts.cluster_domain}"]
        ips = [str(ipaddress.ip_network(c.strip(), strict=False)[1])
               for c in opts.service_cidr.split(",") if c.strip()]
        return dns, ips
    if spec.sans is Sans.ETCD:
        return [n for n in (node, *LOCAL_DNS) if n], list(LOCAL_IPS)
    if spec.sans is Sans.KUBELET:
        return [node] if node else [], []
    return [], []


def san_problems(spec: CertSpec, info: CertInfo, opts: CheckOptions) -> list[str]:
    dns, ips = _required_sans(spec, info, opts)
    have_ips = {str(ipaddress.ip_address(i)) for i in info.ips}
    missing = [f"DNS:{d}" for d in dns if d not in info.dns] + [f"IP:{i}" for i in ips if i not in have_ips]
    out = [f"SANs lack {', '.join(missing)}"] if missing else []
    if spec.sans is Sans.APISERVER and not info.ips:
        out.append("SANs have no IP address (the service IP and the advertise address belong there)")
    return out


def validity(info: CertInfo, now: dt.datetime, warn_days: int) -> tuple[list[str], list[str]]:
    """(problems, warnings) about the validity period."""
    if info.not_after <= now:
        return [f"expired on {info.not_after:%Y-%m-%d %H:%M} UTC"], []
    if info.not_before > now + dt.timedelta(minutes=5):
        return [f"not valid before {info.not_before:%Y-%m-%d %H:%M} UTC"], []
    left = info.not_after - now
    if left < warning_window(info.not_after - info.not_before, warn_days):
        return [], [f"expires in {info.days_left(now)} days" if left.days else "expires within a day"]
    return [], []


WARNING_RULE = """\
A certificate gets a warning when it expires within -warn-days days. A short-lived one, whose
whole lifetime is shorter than -warn-days (admin.conf's 24 hours, a person's 8), is meant to
be renewed often: it warns only in the last third of its lifetime."""


def warning_window(lifetime: dt.timedelta, warn_days: int) -> dt.timedelta:
    """How long before expiry a certificate of this lifetime gets a warning (WARNING_RULE)."""
    window = dt.timedelta(days=warn_days)
    return window if lifetime >= window else lifetime / 3


def identity_problems(spec: CertSpec, info: CertInfo, opts: CheckOptions) -> list[str]:
    return subject_problems(spec, info) + usage_problems(spec, info) + san_problems(spec, info, opts)
