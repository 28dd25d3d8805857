"""The RBAC a controller process needs, as manifests: a ServiceAccount, a ClusterRole and
its binding with every configured controller's rules, and a Role and binding for the
leader-election Lease in its namespace."""

from __future__ import annotations

from typing import Any

from warden.controllers.config import ControllerConfig

RBAC_API = "rbac.authorization.k8s.io/v1"


def manifests(config: ControllerConfig, *, service_account: str, namespace: str,
              name: str = "warden-controller") -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for rule in (dict(r) for c in config.controllers for r in c.kind.rbac(c.settings)):
        if rule not in rules:  # kinds may need the same rule (e.g. writing ClusterTrustBundles)
            rules.append(rule)
    lease = config.leader_election
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": service_account, "namespace": namespace}},
        {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules},
        {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": subject},
        {"apiVersion": RBAC_API, "kind": "Role",
         "metadata": {"name": f"{name}-lease", "namespace": lease.namespace},
         "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                   {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                    "resourceNames": [lease.name], "verbs": ["get", "update"]}]},
        {"apiVersion": RBAC_API, "kind": "RoleBinding",
         "metadata": {"name": f"{name}-lease", "namespace": lease.namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{name}-lease"},
         "subjects": subject},
    ]
