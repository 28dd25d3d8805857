"""warden and the real apiserver wired together for controller tests: warden's Kubernetes
auth method reviewing tokens at the apiserver (TokenReview, as a reviewer account bound to
system:auth-delegator), namespaces with a ServiceAccount, kubeconfigs for a
ServiceAccount, and objects read back through the admin's client."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from support.envtest import ControlPlane
from support.server import WARDEN, ServerProcess, ok

REVIEWER_NS, REVIEWER = "kube-system", "warden-token-reviewer"


def run_warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=120, check=False)


def printed_rbac(config: Path, namespace: str, service_account: str) -> str:
    """The RBAC ``warden k8s controller -print-rbac`` prints for this configuration."""
    return ok(run_warden("k8s", "controller", f"-config={config}", "-print-rbac",
                         f"-namespace={namespace}", f"-service-account={service_account}"))


@dataclass
class RootApi:
    """Setting a dev server up over HTTP with its root token (faster than a CLI process
    per step; the CLI's own behaviour is tested elsewhere)."""

    server: ServerProcess

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.server.http() as http:
            answer = http.request(method, f"/v1/{path}", json=body)
        assert answer.status_code in (200, 204), f"{method} {path}: {answer.status_code} {answer.text}"
        return dict(answer.json()) if answer.status_code == 200 and answer.content else {}

    def write(self, path: str, **data: Any) -> dict[str, Any]:
        return self.call("PUT", path, data)

    def mount(self, path: str, kind: str, *, version: str = "", max_ttl: str = "") -> None:
        body: dict[str, Any] = {"type": kind}
        if version:
            body["options"] = {"version": version}
        if max_ttl:
            body["config"] = {"max_lease_ttl": max_ttl}
        self.call("POST", f"sys/mounts/{path}", body)

    def auth(self, path: str, kind: str) -> None:
        self.call("POST", f"sys/auth/{path}", {"type": kind})

    def policy(self, name: str, text: str) -> None:
        self.call("PUT", f"sys/policies/acl/{name}", {"policy": text})

    def orphan_token(self, *policies: str, period: str = "24h") -> str:
        body = self.call("POST", "auth/token/create-orphan", {"policies": list(policies), "period": period})
        return str(body["auth"]["client_token"])


def configure_kubernetes_auth(server: ServerProcess, plane: ControlPlane, mount: str = "kubernetes") -> None:
    """``auth/<mount>`` checks service-account tokens with the apiserver's TokenReview."""
    plane.ensure_service_account(REVIEWER_NS, REVIEWER)
    plane.kubectl(
        "create",
        "clusterrolebinding",
        f"{REVIEWER}-{mount}",
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={REVIEWER_NS}:{REVIEWER}",
        check=False,
    )
    reviewer = plane.service_account_token(REVIEWER_NS, REVIEWER, seconds=24 * 3600)
    api = RootApi(server)
    api.auth(mount, "kubernetes")
    api.write(
        f"auth/{mount}/config",
        kubernetes_host=plane.url,
        kubernetes_ca_cert=plane.ca_pem,
        token_reviewer_jwt=reviewer,
    )


def namespace_with_account(plane: ControlPlane, namespace: str, account: str) -> None:
    plane.ensure_service_account(namespace, account)


def account_kubeconfig(plane: ControlPlane, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig acting as ServiceAccount ``namespace/account`` (a bound token)."""
    plane.ensure_service_account(namespace, account)
    token = plane.service_account_token(namespace, account, seconds=6 * 3600)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sa",
                "clusters": [
                    {
                        "name": "envtest",
                        "cluster": {
                            "server": plane.url,
                            "certificate-authority-data": base64.b64encode(plane.ca_pem.encode()).decode(),
                        },
                    }
                ],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "envtest", "user": "sa"}}],
            }
        )
    )
    path.chmod(0o600)
    return path


def get(plane: ControlPlane, api: str, *, missing_ok: bool = True) -> dict[str, Any] | None:
    """GET an API path as the admin; None on 404."""
    with plane.http() as client:
        answer = client.get(api)
    if answer.status_code == 404 and missing_ok:
        return None
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll ``probe`` until it returns something truthy; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(interval)


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for found in ((obj or {}).get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return dict(found)
    return None


def events_of(plane: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    body = get(plane, f"/api/v1/namespaces/{namespace}/events?fieldSelector=involvedObject.name={name}")
    return list((body or {}).get("items") or [])
