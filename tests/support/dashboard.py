"""Two bootstrapped clusters with certificates expiring at known times, for the dashboard's
tests (API and browser)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from support.server import ServerProcess

HOUR = 3600
C1_ONLY_POLICY = """
path "c1/pki/*" { capabilities = ["read", "list"] }
path "secret/data/c1/*" { capabilities = ["read"] }
"""


@dataclass
class World:
    server: ServerProcess
    serials: dict[str, str] = field(default_factory=dict)  # label -> serial
    not_after: dict[str, int] = field(default_factory=dict)
    c1_token: str = ""

    def expiring_within(self, hours: float, *, cluster: str = "", hidden: bool = False) -> list[str]:
        """Serials expiring within ``hours`` from now, soonest first: what the page must show
        (without renewed and revoked ones unless ``hidden``)."""
        now = time.time()
        found = [label for label in self.serials
                 if now <= self.not_after[label] < now + hours * HOUR and label.startswith(cluster)
                 and (hidden or label not in (*RENEWED, REVOKED))]
        return [self.serials[label] for label in
                sorted(found, key=lambda label: (self.not_after[label], self.serials[label]))]


# label: (mount, role, fields, ttl). Labels start with their cluster's name.
ISSUES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("c1-etcd-server-cp1", "c1/pki/etcd", "etcd-server-cp1", {"common_name": "cp1", "alt_names": "localhost",
                                                               "ip_sans": "10.0.0.10,127.0.0.1"}, "2h"),
    ("c1-kubelet-w1-old", "c1/pki/k8s", "kubelet-client-w1", {"common_name": "system:node:w1"}, "50h"),
    ("c2-apiserver-cp2", "c2/pki/k8s", "apiserver", {"common_name": "kube-apiserver", "alt_names": "cp2",
                                                      "ip_sans": "10.0.1.10"}, "100h"),
    ("c1-apiserver-cp1", "c1/pki/k8s", "apiserver",
     {"common_name": "kube-apiserver", "alt_names": "cp1,kubernetes", "ip_sans": "10.0.0.10"}, "400h"),
    ("c2-etcd-peer-cp2", "c2/pki/etcd", "etcd-peer-cp2",
     {"common_name": "cp2", "ip_sans": "10.0.1.10"}, "600h"),
    ("c1-kubelet-w1-new", "c1/pki/k8s", "kubelet-client-w1", {"common_name": "system:node:w1"}, "60h"),
    ("c2-kubelet-serving-cp2", "c2/pki/k8s", "kubelet-serving-cp2", {"common_name": "system:node:cp2",
                                                                      "alt_names": "cp2"}, "1000h"),
]
RENEWED = {"c1-kubelet-w1-old"}  # c1-kubelet-w1-new replaces it
REVOKED = "c2-kubelet-serving-cp2"


def build(server: ServerProcess) -> World:
    """Bootstrap c1 (cp1, w1) and c2 (cp2), issue ISSUES in order, revoke one, and make a
    token that may read only c1."""
    for args in (["c1", "-control-plane", "cp1=10.0.0.10", "-worker", "w1=10.0.0.21"],
                 ["c2", "-control-plane", "cp2=10.0.1.10"]):
        result = server.cli("k8s", "bootstrap", *args, timeout=180)
        assert result.returncode == 0, result.stderr + result.stdout
    world = World(server)
    with server.http() as http:
        for label, mount, role, fields, ttl in ISSUES:
            body = http.post(f"/v1/{mount}/issue/{role}", json={**fields, "ttl": ttl})
            assert body.status_code == 200, (label, body.text)
            data = body.json()["data"]
            world.serials[label] = data["serial_number"]
            world.not_after[label] = data["expiration"]
            time.sleep(1.1)  # distinct issue times, so "recent" has one order
        revoke = http.post("/v1/c2/pki/k8s/revoke", json={"serial_number": world.serials[REVOKED]})
        assert revoke.status_code == 200, revoke.text
        begin_rotation(http)
        policy = http.put("/v1/sys/policies/acl/c1-dashboard", json={"policy": C1_ONLY_POLICY})
        assert policy.status_code in (200, 204), policy.text
        token = http.post("/v1/auth/token/create", json={"policies": ["c1-dashboard"], "ttl": "2h",
                                                          "display_name": "c1-viewer"})
        world.c1_token = token.json()["auth"]["client_token"]
    return world


def begin_rotation(http: Any) -> None:
    """c1's Kubernetes CA in the middle of a rotation, as ``warden k8s rotate c1 k8s begin``
    leaves it: a second issuer in the mount and the state in KV."""
    old = http.get("/v1/c1/pki/k8s/issuer/default").json()["data"]["issuer_id"]
    body = {"common_name": "kubernetes", "issuer_name": "next", "key_type": "rsa", "ttl": "87600h"}
    new = http.post("/v1/c1/pki/k8s/root/generate/internal", json=body)
    assert new.status_code == 200, new.text
    state = {"phase": "begun", "old_issuer": old, "new_issuer": new.json()["data"]["issuer_id"],
             "begun_at": "2026-01-02T03:04:05Z", "switched_at": "", "finished_at": ""}
    put = http.post("/v1/secret/data/c1/k8s/rotation/k8s", json={"data": state})
    assert put.status_code == 200, put.text
