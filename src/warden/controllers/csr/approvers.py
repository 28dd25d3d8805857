"""Approvers: decide a pending CSR of one kubelet signer.

``node-client`` is kube-controller-manager's csrapproving controller: a well-formed kubelet
client request is approved when a SubjectAccessReview says its requester may create
``certificatesigningrequests/selfnodeclient`` (the node renewing its own certificate: the
requester is the CN) or ``.../nodeclient`` (a bootstrap token joining); otherwise it is
left for a human, never denied.

``node-addresses`` approves a kubelet serving request only when the requester is the node
itself (``system:node:<name>`` equal to the CN, in group ``system:nodes``), the subject
is ``O=[system:nodes]``, the Node exists, and every DNS and IP SAN is one of that Node's
``status.addresses``; anything else is denied with a message naming what did not match
(stricter than the community kubelet-csr-approver, which lets a regex and IP ranges
decide and resolves DNS).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.core_v1 import Node

from warden.controllers import kubeclient
from warden.controllers.csr import rules
from warden.controllers.csr.request import CsrFacts

APPROVE_REASON = "AutoApproved"
DENY_REASON = "WardenDenied"
DNS_ADDRESS_TYPES = frozenset({"Hostname", "InternalDNS", "ExternalDNS"})
IP_ADDRESS_TYPES = frozenset({"InternalIP", "ExternalIP"})


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["approve", "deny", "leave"]
    message: str

    @property
    def reason(self) -> str:
        return APPROVE_REASON if self.action == "approve" else DENY_REASON


class Approver(Protocol):
    name: str

    async def review(self, facts: CsrFacts) -> Verdict: ...


def approve(message: str) -> Verdict:
    return Verdict("approve", message)


def deny(message: str) -> Verdict:
    return Verdict("deny", message)


def leave(message: str) -> Verdict:
    return Verdict("leave", message)


@dataclass(slots=True)
class NodeClientApprover:
    kube: AsyncClient
    name: str = "node-client"

    async def review(self, facts: CsrFacts) -> Verdict:
        broken = rules.violation(rules.KUBELET_CLIENT, facts)
        if broken is not None:
            return leave(f"not a kubelet client request ({broken}); left for a human")
        tried = []
        if facts.username == facts.common_name:
            tried.append("selfnodeclient")
            if await self._allowed(facts, "selfnodeclient"):
                return approve("Auto approving self kubelet client certificate after SubjectAccessReview.")
        tried.append("nodeclient")
        if await self._allowed(facts, "nodeclient"):
            return approve("Auto approving kubelet client certificate after SubjectAccessReview.")
        return leave(f"{facts.username} may not create certificatesigningrequests/"
                     f"{' or '.join(tried)} (SubjectAccessReview); left for a human")

    async def _allowed(self, facts: CsrFacts, subresource: str) -> bool:
        review = SubjectAccessReview(spec=SubjectAccessReviewSpec(
            user=facts.username, uid=facts.requester_uid or None, groups=list(facts.groups) or None,
            extra=facts.extra or None,
            resourceAttributes=ResourceAttributes(group="certificates.k8s.io",
                                                  resource="certificatesigningrequests", verb="create",
                                                  subresource=subresource)))
        answer = await self.kube.create(review)
        return bool(answer.status is not None and answer.status.allowed)


@dataclass(slots=True)
class NodeAddressesApprover:
    kube: AsyncClient
    name: str = "node-addresses"

    async def review(self, facts: CsrFacts) -> Verdict:
        broken = rules.violation(rules.KUBELET_SERVING, facts)
        if broken is not None:
            return deny(str(broken))
        if not facts.username.startswith(rules.NODE_PREFIX):
            return deny(f"the requester {facts.username!r} is not a node ({rules.NODE_PREFIX}<name>)")
        if facts.username != facts.common_name:
            return deny(f"the common name {facts.common_name!r} is not the requester {facts.username!r}")
        if rules.NODES_GROUP not in facts.groups:
            return deny(f"the requester is not in group {rules.NODES_GROUP}")
        node_name = facts.common_name.removeprefix(rules.NODE_PREFIX)
        node = await self._node(node_name)
        if node is None:
            return deny(f"Node {node_name} does not exist")
        return _match_addresses(node_name, node, facts)

    async def _node(self, name: str) -> Any | None:
        try:
            return await self.kube.get(Node, name)
        except Exception as exc:
            if kubeclient.is_not_found(exc):
                return None
            raise


def _match_addresses(node_name: str, node: Any, facts: CsrFacts) -> Verdict:
    addresses = (node.status.addresses or []) if node.status is not None else []
    dns = {a.address.lower().rstrip(".") for a in addresses if a.type in DNS_ADDRESS_TYPES}
    ips = {_ip(a.address) for a in addresses if a.type in IP_ADDRESS_TYPES}
    known = ", ".join(f"{a.type}={a.address}" for a in addresses) or "none"
    for name in facts.dns_names:
        if name.lower().rstrip(".") not in dns:
            return deny(f"DNS name {name} is not an address of Node {node_name} (its addresses: {known})")
    for ip in facts.ip_addresses:
        if _ip(ip) not in ips:
            return deny(f"IP address {ip} is not an address of Node {node_name} (its addresses: {known})")
    return approve(f"every SAN is an address of Node {node_name}; requested by the node itself")


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value
