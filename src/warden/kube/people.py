"""Short-lived kubeconfigs for people (seed 001): CN = the user, O = the group, hours not years.

The group's role (``user-<group>``) and policy come from ``bootstrap -user-group``; a token
without that policy is refused before anything is issued.
"""

from __future__ import annotations

from dataclasses import dataclass

from warden.api import ApiError, Forbidden, InvalidRequest
from warden.kube.inventory import KUBEADM_ONLY, USER_ROLE_PREFIX, all_certs
from warden.kube.issue import ca_chain
from warden.kube.kubeconfig import KubeconfigParts, render
from warden.kube.state import Api, data_of


class Refused(PermissionError):
    """The caller may not have this certificate; the message says which policy is missing."""


class UnknownGroup(LookupError):
    """The cluster has no role for this group; the message says how to add it."""


@dataclass(frozen=True, slots=True)
class UserRequest:
    cluster: str
    user: str
    group: str
    ttl: str
    server: str
    domain: str = ""  # the cluster's user domain: "alice" becomes alice@<domain>


@dataclass(frozen=True, slots=True)
class UserKubeconfig:
    text: str
    user: str
    serial_number: str
    expiration: int
    warnings: tuple[str, ...] = ()  # the server's, e.g. that the TTL was capped at the role's maximum


def reserved_names() -> frozenset[str]:
    """The user names of the cluster's own components (from the inventory)."""
    certs = [c for _, c in all_certs()] + list(KUBEADM_ONLY)
    return frozenset(c.common_name for c in certs if not c.per_node)


def user_name(user: str, domain: str) -> str:
    """The CN for a person: checked, and in the cluster's user domain if it has one."""
    user = user.strip()
    if not user:
        raise ValueError("-user must name the person")
    if user.startswith("system:") or user in reserved_names():
        raise ValueError(f"{user!r} is a name Kubernetes gives its own components, not a person")
    if domain and "@" not in user:
        user = f"{user}@{domain}"
    if domain and not user.endswith("@" + domain):
        raise ValueError(f"{user!r}: people of this cluster are e-mail addresses in {domain}")
    if "@" not in user:
        raise ValueError(f"{user!r}: people are named by e-mail address (alice@example.com), so a "
                         "person's name can never be a component's; or bootstrap with -user-domain")
    return user


def may_issue(api: Api, path: str) -> bool | None:
    """Whether the token may write ``path``; None when the server will not say."""
    try:
        body = api.write("sys/capabilities-self", {"paths": [path]})
    except ApiError:
        return None
    data = data_of(body) or body or {}
    caps = data.get(path) or data.get("capabilities") or []
    return bool({"root", "update", "create"} & set(caps))


def user_kubeconfig(api: Api, req: UserRequest) -> UserKubeconfig:
    name = user_name(req.user, req.domain)
    mount = f"{req.cluster}/pki/k8s"
    path = f"{mount}/issue/{USER_ROLE_PREFIX}{req.group}"
    policy = f"{req.cluster}/k8s/{USER_ROLE_PREFIX}{req.group}"
    refusal = (f"refused: your token may not issue certificates for group {req.group!r} of cluster "
               f"{req.cluster} ({path}); it needs the policy {policy}")
    if may_issue(api, path) is False:
        raise Refused(refusal)
    body = {"common_name": name, "exclude_cn_from_sans": True, "ttl": req.ttl, "format": "pem",
            "private_key_format": "der"}
    try:
        answer = api.write(path, body) or {}
    except Forbidden:
        raise Refused(refusal) from None
    except InvalidRequest as exc:
        if any(e.startswith("unknown role") for e in exc.errors):
            raise UnknownGroup(f"cluster {req.cluster} has no group {req.group!r} for people (no role "
                               f"{mount}/roles/{USER_ROLE_PREFIX}{req.group}): create it with 'warden k8s "
                               f"bootstrap {req.cluster} -user-group {req.group}'") from None
        raise
    data = data_of(answer) or {}
    parts = KubeconfigParts(req.cluster, req.server, ca_chain(api, mount), name,
                            str(data["certificate"]).strip() + "\n", str(data["private_key"]).strip() + "\n")
    warnings = tuple(str(w) for w in answer.get("warnings") or ())
    return UserKubeconfig(render(parts), name, str(data.get("serial_number", "")),
                          int(data.get("expiration") or 0), warnings)
