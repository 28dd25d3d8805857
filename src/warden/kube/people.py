"""Short-lived kubeconfigs for people (seed 001): CN = the user, O = the group, hours not years.

The group's role (``user-<group>``) and policy come from ``bootstrap -user-group``; a token
without that policy is refused before anything is issued.
"""

from __future__ import annotations

from dataclasses import dataclass

from warden.api import ApiError, Forbidden
from warden.kube.inventory import USER_ROLE_PREFIX
from warden.kube.issue import ca_chain
from warden.kube.kubeconfig import KubeconfigParts, render
from warden.kube.state import Api, data_of


class Refused(PermissionError):
    """The caller may not have this certificate; the message says which policy is missing."""


@dataclass(frozen=True, slots=True)
class UserRequest:
    cluster: str
    user: str
    group: str
    ttl: str
    server: str


@dataclass(frozen=True, slots=True)
class UserKubeconfig:
    text: str
    serial_number: str
    expiration: int


def check_user_name(user: str) -> None:
    if not user.strip():
        raise ValueError("-user must name the person")
    if user.startswith("system:"):
        raise ValueError(f"{user!r}: names starting with 'system:' are Kubernetes' own identities, "
                         "not people")


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
    check_user_name(req.user)
    mount = f"{req.cluster}/pki/k8s"
    path = f"{mount}/issue/{USER_ROLE_PREFIX}{req.group}"
    policy = f"{req.cluster}/k8s/{USER_ROLE_PREFIX}{req.group}"
    refusal = (f"refused: your token may not issue certificates for group {req.group!r} of cluster "
               f"{req.cluster} ({path}); it needs the policy {policy}")
    if may_issue(api, path) is False:
        raise Refused(refusal)
    body = {"common_name": req.user, "exclude_cn_from_sans": True, "ttl": req.ttl, "format": "pem",
            "private_key_format": "der"}
    try:
        data = data_of(api.write(path, body)) or {}
    except Forbidden:
        raise Refused(refusal) from None
    parts = KubeconfigParts(req.cluster, req.server, ca_chain(api, mount), req.user,
                            str(data["certificate"]).strip() + "\n", str(data["private_key"]).strip() + "\n")
    return UserKubeconfig(render(parts), str(data.get("serial_number", "")), int(data.get("expiration") or 0))
