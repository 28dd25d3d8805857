"""Test kit: a Kubernetes auth mount over in-memory storage, with a fake TokenReviewer.

The fake answers with the stand-in API server's own TokenReview logic
(``support.fake_kube``), in process, and records every call it gets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from support.authkit import AuthMountKit
from support.fake_kube import FakeKubeAPI
from support.system import FakeSystem
from warden.auth.kubernetes import SERVICE_NAME, factory
from warden.logical.clock import FrozenClock
from warden.logical.request import MountInfo
from warden.logical.response import Auth

MOUNT = MountInfo(path="auth/kubernetes/", type="kubernetes", accessor="auth_kubernetes_test",
                  default_lease_ttl=3600, max_lease_ttl=86400)


@dataclass
class FakeReviewer:
    api: FakeKubeAPI
    calls: list[dict[str, Any]] = field(default_factory=list)
    # When set, returned instead of asking the stand-in (to forge odd answers).
    forced: Mapping[str, Any] | None = None

    async def review(self, *, host: str, token: str, ca_pem: str, reviewer_jwt: str,
                     audiences: Sequence[str], use_local_defaults: bool) -> Mapping[str, Any]:
        self.calls.append({"host": host, "ca_pem": ca_pem, "reviewer_jwt": reviewer_jwt,
                           "audiences": list(audiences), "use_local_defaults": use_local_defaults})
        if self.forced is not None:
            return self.forced
        body = {"spec": {"token": token, **({"audiences": list(audiences)} if audiences else {})}}
        status, answer = self.api.token_review(body, reviewer_jwt or token)
        if status == 401:
            return {"authenticated": False, "error": "HTTP 401"}
        return answer["status"]


class KubeAuth(AuthMountKit):
    def __init__(self, *, with_reviewer: bool = True, key_type: str = "rsa") -> None:
        self.api = FakeKubeAPI(key_type=key_type)
        self.reviewer = FakeReviewer(self.api)
        # Real time: the stand-in's TokenReview checks expiry against the wall clock.
        system = FakeSystem(FrozenClock(float(int(time.time()))), MOUNT.default_lease_ttl,
                            MOUNT.max_lease_ttl)
        super().__init__(factory, MOUNT, system=system,
                         services={SERVICE_NAME: self.reviewer} if with_reviewer else {})

    async def configure(self, **fields: Any) -> None:
        await self.write("config", **{"kubernetes_host": "https://kube.example:6443",
                                      "kubernetes_ca_cert": self.api.ca_pem, **fields})

    async def configure_local(self, **fields: Any) -> None:
        await self.configure(pem_keys=[self.api.public_key_pem], **fields)

    def mint(self, namespace: str = "default", name: str = "app", **kw: Any) -> str:
        return self.api.mint(namespace, name, now=kw.pop("now", self.clock.time()), **kw)

    async def login(self, role: str, jwt: str, *, addr: str = "10.0.0.5") -> Auth:
        return await self.login_with(addr=addr, role=role, jwt=jwt)

