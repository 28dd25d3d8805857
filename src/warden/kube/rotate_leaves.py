"""Which issuer each node's and component's current certificate comes from, read from the
mount's certificate index (``certs/detailed``, ``certs/revoked``).

An identity is a role, a common name and the SANs (``etcd-server-cp1`` / ``cp1`` / its
names, ``apiserver`` / ``kube-apiserver`` / that node's names, ``admin`` /
``kubernetes-admin``, ``user-dev`` / ``alice@example.com``); its current leaf is the newest
unrevoked one. A newer leaf supersedes an older one of the same identity, so after a
re-issue the old leaf no longer counts as something that depends on the old CA.

Cluster-wide client certificates (the scheduler's, the admin's) look the same on every
control plane, so they cannot tell nodes apart; but every tree ``warden k8s certs`` writes
also holds certificates that name their node (etcd's and the kubelet's roles, the API
server's SANs), issued in the same run, so a node whose tree was not re-issued is always
found through them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warden.kube.cluster import ClusterSpec
from warden.kube.identity import Identity, node_identities
from warden.kube.inventory import USER_ROLE_PREFIX, component_of
from warden.kube.state import Api, data_of

BACKDATE = 30
Key = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Leaf:
    serial_number: str
    role: str
    common_name: str
    issuer_id: str
    not_before: int
    not_after: int
    revoked: bool = False
    sans: tuple[str, ...] = ()  # DNS names and IP addresses, sorted

    @property
    def identity(self) -> Key:
        return self.role, self.common_name, self.sans


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds an identity of this mount: a component on a node ("(all)" for a certificate
    that is the same on every node), a person, or unknown."""

    component: str
    node: str
    certificate: str
    role: str
    common_name: str
    sans: tuple[str, ...] = ()

    @property
    def key(self) -> Key:
        return self.role, self.common_name, self.sans


def read_leaves(api: Api, mount: str) -> list[Leaf]:
    """Every leaf the mount indexed (CA certificates left out), with its revocation."""
    detailed = data_of(api.list(f"{mount}/certs/detailed")) or {}
    revoked = set((data_of(api.list(f"{mount}/certs/revoked")) or {}).get("keys") or ())
    out = []
    for serial, info in (detailed.get("key_info") or {}).items():
        if not isinstance(info, Mapping) or info.get("is_ca"):
            continue
        sans = tuple(sorted([*(info.get("dns_names") or ()), *(info.get("ip_addresses") or ())]))
        out.append(Leaf(serial, str(info.get("role") or ""), str(info.get("common_name") or ""),
                        str(info.get("issuer_id") or ""), int(info.get("not_before") or 0),
                        int(info.get("not_after") or 0), serial in revoked, sans))
    return out


def current_leaves(leaves: Iterable[Leaf]) -> dict[Key, Leaf]:
    """Identity -> its newest unrevoked leaf (expired ones included: the caller decides)."""
    out: dict[Key, Leaf] = {}
    for leaf in leaves:
        if leaf.revoked:
            continue
        found = out.get(leaf.identity)
        if found is None or (leaf.not_before, leaf.serial_number) > (found.not_before, found.serial_number):
            out[leaf.identity] = leaf
    return out


def live_leaves_of(leaves: Sequence[Leaf], issuer_id: str, now: float) -> list[Leaf]:
    """Current, unexpired, unrevoked leaves of ``issuer_id``: what still depends on it."""
    current = current_leaves(leaves).values()
    return sorted((leaf for leaf in current if leaf.issuer_id == issuer_id and leaf.not_after > now),
                  key=lambda leaf: (leaf.role, leaf.common_name))


def _holder(ident: Identity, node: str) -> Holder:
    sans = tuple(sorted([*ident.dns, *ident.ips]))
    return Holder(component_of(ident.cert).name, node, ident.cert.name, ident.role, ident.common_name, sans)


def holders(spec: ClusterSpec, mount: str) -> list[Holder]:
    """What each node's tree holds from ``mount``, node by node; a certificate that is the same
    on every node it is on appears once, as node "(all)"."""
    seen: dict[Key, int] = {}
    out: list[Holder] = []
    for node in spec.nodes:
        for ident in node_identities(spec, node):
            if ident.mount != mount:
                continue
            holder = _holder(ident, node.name)
            if holder.key in seen:
                out[seen[holder.key]] = _holder(ident, "(all)")
                continue
            seen[holder.key] = len(out)
            out.append(holder)
    return out


def holder_of(spec_holders: Sequence[Holder], leaf: Leaf) -> Holder:
    for holder in spec_holders:
        if holder.key == leaf.identity:
            return holder
    for holder in spec_holders:
        if holder.role == leaf.role:
            return Holder(holder.component, "?", holder.certificate, leaf.role, leaf.common_name, leaf.sans)
    if leaf.role.startswith(USER_ROLE_PREFIX):
        return Holder("person", "", leaf.role, leaf.role, leaf.common_name)
    return Holder("other", "", leaf.role or "(no role)", leaf.role, leaf.common_name)


def stale_since(leaves: Sequence[Leaf], since: float, now: float,
                spec_holders: Sequence[Holder]) -> list[tuple[Holder, Leaf]]:
    """Components whose current leaf (still valid) was issued before ``since``: they have not
    fetched their files, and with them the trust bundle, since then. People and unknown
    roles are left out (their kubeconfigs are short-lived and outside warden's tree)."""
    roles = {h.role for h in spec_holders}  # agents' leaves of these roles count too
    out = []
    for leaf in current_leaves(leaves).values():
        if leaf.role in roles and issued_before(leaf, since) and leaf.not_after > now:
            out.append((holder_of(spec_holders, leaf), leaf))
    return sorted(out, key=lambda pair: (pair[0].component, pair[0].node))


def issued_before(leaf: Leaf, since: float) -> bool:
    """Whether the leaf was issued in a second of the server's clock before ``since`` (roles
    backdate notBefore by 30 s; certificates count whole seconds)."""
    return leaf.not_before + BACKDATE < since


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def leaf_json(leaf: Leaf, holder: Holder, role_of_issuer: Mapping[str, str]) -> dict[str, Any]:
    return {"component": holder.component, "node": holder.node, "certificate": holder.certificate,
            "role": leaf.role, "common_name": leaf.common_name, "serial_number": leaf.serial_number,
            "issuer_id": leaf.issuer_id, "issuer": role_of_issuer.get(leaf.issuer_id, "other"),
            "issued_at": rfc3339(leaf.not_before), "expires_at": rfc3339(leaf.not_after),
            "revoked": leaf.revoked}
