"""warden's Kubernetes auth method against the real apiserver: a reviewer service account
bound to ``system:auth-delegator`` (what TokenReview needs), and real service-account
tokens from the TokenRequest API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from support.envtest import ControlPlane

REVIEWER_NAMESPACE, REVIEWER = "kube-system", "warden-token-reviewer"


def reviewer_jwt(plane: ControlPlane) -> str:
    """A token of a service account that may create TokenReviews (idempotent)."""
    plane.ensure_service_account(REVIEWER_NAMESPACE, REVIEWER)
    plane.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": f"{REVIEWER}-auth-delegator"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "system:auth-delegator"},
                 "subjects": [{"kind": "ServiceAccount", "name": REVIEWER, "namespace": REVIEWER_NAMESPACE}]})
    return plane.service_account_token(REVIEWER_NAMESPACE, REVIEWER, seconds=6 * 3600)


def configure(client: Any, plane: ControlPlane, *, mount: str = "kubernetes", reviewer: bool = True) -> None:
    """``auth/<mount>/config`` pointing at the real apiserver (its CA verified)."""
    options: dict[str, Any] = {"kubernetes_ca_cert": plane.ca_pem, "disable_local_ca_jwt": True,
                               "mount_point": mount}
    if reviewer:
        options["token_reviewer_jwt"] = reviewer_jwt(plane)
    client.auth.kubernetes.configure(plane.url, **options)


def sa_token(plane: ControlPlane, namespace: str, name: str, *, audiences: Sequence[str] = ()) -> str:
    """A bound token of ``namespace/name`` (created if missing)."""
    plane.ensure_service_account(namespace, name)
    return plane.service_account_token(namespace, name, audiences=audiences)


def sa_uid(plane: ControlPlane, namespace: str, name: str) -> str:
    with plane.http() as http:
        answer = http.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    answer.raise_for_status()
    return str(answer.json()["metadata"]["uid"])
