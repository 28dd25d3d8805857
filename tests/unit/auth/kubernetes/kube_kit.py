"""Test kit: a Kubernetes auth mount over in-memory storage, with a fake TokenReviewer.

The fake answers with the stand-in API server's own TokenReview logic
(``support.fake_kube``), in process, and records every call it gets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from support.fake_kube import FakeKubeAPI
from support.system import FakeSystem
from warden.auth.kubernetes import SERVICE_NAME, factory
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation
from warden.logical.request import Connection, MountInfo, Request
from warden.logical.response import Auth, Response
from warden.storage.memory import MemoryBackend

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


class KubeAuth:
    def __init__(self, *, with_reviewer: bool = True, key_type: str = "rsa") -> None:
        self.storage = MemoryBackend()
        # Real time: the stand-in's TokenReview checks expiry against the wall clock.
        self.system = FakeSystem(FrozenClock(float(int(time.time()))), MOUNT.default_lease_ttl,
                                 MOUNT.max_lease_ttl)
        self.api = FakeKubeAPI(key_type=key_type)
        self.reviewer = FakeReviewer(self.api)
        services = {SERVICE_NAME: self.reviewer} if with_reviewer else {}
        self.backend: Backend = factory(BackendConfig(
            mount_path=MOUNT.path, mount_type="kubernetes", mount_accessor=MOUNT.accessor,
            storage=self.storage, system=self.system, services=services))

    @property
    def clock(self) -> FrozenClock:
        return self.system.frozen

    async def call(self, op: Operation, path: str, *, addr: str = "10.0.0.5",
                   **data: Any) -> Response | None:
        return await self.backend.handle_request(Request(
            operation=op, path=path, data=data, storage=self.storage, mount=MOUNT,
            connection=Connection(remote_addr=addr)))

    async def write(self, path: str, **data: Any) -> Response | None:
        return await self.call(Operation.UPDATE, path, **data)

    async def read(self, path: str) -> dict[str, Any]:
        resp = await self.call(Operation.READ, path)
        assert resp is not None and resp.data is not None
        return resp.data

    async def configure(self, **fields: Any) -> None:
        await self.write("config", **{"kubernetes_host": "https://kube.example:6443",
                                      "kubernetes_ca_cert": self.api.ca_pem, **fields})

    async def configure_local(self, **fields: Any) -> None:
        await self.configure(pem_keys=[self.api.public_key_pem], **fields)

    def mint(self, namespace: str = "default", name: str = "app", **kw: Any) -> str:
        return self.api.mint(namespace, name, now=kw.pop("now", self.clock.time()), **kw)

    async def login(self, role: str, jwt: str, *, addr: str = "10.0.0.5") -> Auth:
        resp = await self.call(Operation.UPDATE, "login", addr=addr, role=role, jwt=jwt)
        assert resp is not None and resp.auth is not None
        return resp.auth

    async def renew(self, auth: Auth) -> Auth:
        resp = await self.backend.handle_request(Request(
            operation=Operation.RENEW, path="login", storage=self.storage, mount=MOUNT, auth=auth))
        assert resp is not None and resp.auth is not None
        return resp.auth
