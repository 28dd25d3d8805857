"""Pod credentials (seed 003): pods annotated ``warden.dev/approle: <role>`` get a
response-wrapped AppRole secret-id pushed to their init container.

When the pod has an IP and its init container (``warden.dev/init-container``, default
from the settings) is running, the controller creates a secret-id for the role bound to
the pod's IP (``cidr_list`` and ``token_bound_cidrs`` = IP/32), wrapped for ``wrap_ttl``,
and PUTs it to ``https://<pod IP>:<port>/v1/secret-id``, trusting only a certificate that
the configured CA signed for that IP. After a 200 (the agent logged in and wrote its token)
the pod is annotated ``warden.dev/secret-id-delivered: <init container id>``, so the same
init container is never served twice; a restarted one (new id) gets a new secret-id.

A role not in ``roles`` is refused (a Warning event on the pod): the controller's own
policy allows secret-ids for those roles only, so warden would refuse it anyway.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from typing import Any

import httpx
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from prometheus_client import Counter

from warden.api import ApiError, Forbidden
from warden.controllers import kubeclient
from warden.controllers.context import Context
from warden.controllers.events import NORMAL, WARNING
from warden.controllers.plugin import DONE, ObjectKey, Result, Watch
from warden.controllers.podcreds.settings import PodCredentialSettings

NAME = "pod-credentials"
ROLE = "warden.dev/approle"
INIT_CONTAINER = "warden.dev/init-container"
PORT = "warden.dev/receive-port"
DELIVERED = "warden.dev/secret-id-delivered"
PUSH_PATH = "/v1/secret-id"


class PushFailed(Exception):
    """The init container did not take the secret-id (retried with a new one, backing off)."""


class PodCredentialsController:
    def __init__(self, settings: PodCredentialSettings, ctx: Context) -> None:
        self.settings = settings
        self.ctx = ctx
        self.name = NAME
        self.workers = settings.workers
        self.watches: Sequence[Watch] = [Watch(Pod, namespace=ns) for ns in settings.namespaces] or [
            Watch(Pod)
        ]
        self.decide = ctx.decisions(NAME)
        self.pushes = Counter(
            "warden_controller_secret_id_pushes",
            "Secret-ids pushed to init containers.",
            ["result"],
            registry=ctx.registry,
        )
        self.tls: ssl.SSLContext | None = None
        self._role_ids: dict[str, str] = {}
        self._refused: dict[ObjectKey, str] = {}  # pods told about a refused role -> their uid

    async def prepare(self) -> None:
        self.tls = await self._trust()
        self._role_ids = {}

    async def _trust(self) -> ssl.SSLContext:
        """Only the configured CA (an intermediate may be the anchor); hostname checking on."""
        s = self.settings
        if s.ca_file is not None:
            context = ssl.create_default_context(cafile=str(s.ca_file))
        else:
            context = ssl.create_default_context(cadata=await _ca_pem(self.ctx, s.ca_mount))
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    def _pod(self, key: ObjectKey) -> Any | None:
        for watch in self.watches:
            if watch.namespace in (None, key.namespace):
                found = self.ctx.store(watch).get(key)
                if found is not None:
                    return found
        return None

    async def reconcile(self, key: ObjectKey) -> Result:
        pod = self._pod(key)
        if pod is None:
            self._refused.pop(key, None)
            return DONE
        annotations = pod.metadata.annotations or {}
        role = annotations.get(ROLE)
        if not role or pod.metadata.deletionTimestamp or pod.status is None:
            return DONE
        if role not in self.settings.roles:
            await self._refuse_role(key, pod, role)
            return DONE
        container = self._init_container(pod, annotations)
        if container is None or pod.status.phase in ("Succeeded", "Failed") or not pod.status.podIP:
            return DONE  # not up yet (or gone): its next change brings it back
        container_id = container.containerID or f"{pod.metadata.uid}/{container.restartCount}"
        if annotations.get(DELIVERED) == container_id:
            return DONE
        try:
            port = int(annotations.get(PORT) or self.settings.port)
        except ValueError:
            port = self.settings.port
        await self._deliver(pod, role, pod.status.podIP, port, container_id)
        return DONE

    def _init_container(self, pod: Any, annotations: dict[str, str]) -> Any | None:
        name = annotations.get(INIT_CONTAINER) or self.settings.init_container
        for status in pod.status.initContainerStatuses or ():
            if status.name == name and status.state is not None and status.state.running is not None:
                return status
        return None

    async def _deliver(self, pod: Any, role: str, ip: str, port: int, container_id: str) -> None:
        where = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.ctx.ensure_leading()
        role_id = await self._role_id(role)
        wrap = await self._wrapped_secret_id(pod, role, ip)
        body = {"wrappedSecretId": wrap["token"], "roleId": role_id, "ttl": int(self.settings.wrap_ttl)}
        url = f"https://{_host(ip)}:{port}{PUSH_PATH}"
        try:
            async with httpx.AsyncClient(
                verify=self.tls if self.tls is not None else await self._trust(),
                timeout=self.settings.push_timeout,
                trust_env=False,
            ) as http:
                answer = await http.put(
                    url, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
                )
        except httpx.HTTPError as exc:
            self.pushes.labels(result="unreachable").inc()
            raise PushFailed(f"cannot push to {where} at {url}: {type(exc).__name__}: {exc}") from None
        if answer.status_code == 409:
            self.pushes.labels(result="already").inc()
            self.decide(
                "already delivered", "the init container already holds a secret-id", pod=where, role=role
            )
        elif answer.status_code != 200:
            self.pushes.labels(result="refused").inc()
            raise PushFailed(
                f"the init container of {where} refused the push ({answer.status_code}): {_errors(answer)}"
            )
        else:
            self.pushes.labels(result="delivered").inc()
            self.decide(
                "delivered", "", pod=where, role=role, ip=ip, wrapping_accessor=wrap.get("accessor", "")
            )
            await self.ctx.events.record(
                pod,
                NORMAL,
                "SecretIdDelivered",
                f"pushed a wrapped secret-id of role {role} bound to {ip}/32",
            )
        await self._mark(pod, container_id)

    async def _role_id(self, role: str) -> str:
        if role not in self._role_ids:
            body = await self._warden("read", self.settings.role_id_path(role))
            role_id = str(((body or {}).get("data") or {}).get("role_id") or "")
            if not role_id:
                raise PushFailed(f"role {role} has no role-id at {self.settings.role_id_path(role)}")
            self._role_ids[role] = role_id
        return self._role_ids[role]

    async def _wrapped_secret_id(self, pod: Any, role: str, ip: str) -> dict[str, Any]:
        cidr = f"{ip}/32" if ":" not in ip else f"{ip}/128"
        metadata = json.dumps({"namespace": pod.metadata.namespace, "pod": pod.metadata.name})
        body = await self._warden(
            "wrap",
            self.settings.secret_id_path(role),
            {"cidr_list": [cidr], "token_bound_cidrs": [cidr], "metadata": metadata},
        )
        wrap = (body or {}).get("wrap_info") or {}
        if not wrap.get("token"):
            raise PushFailed(f"{self.settings.secret_id_path(role)} answered without a wrapped secret-id")
        return dict(wrap)

    async def _warden(self, verb: str, path: str, data: dict[str, Any] | None = None) -> Any:
        try:
            if verb == "read":
                return await self.ctx.warden.read(path)
            return await self.ctx.warden.request(
                "PUT", path, json=data or {}, wrap_ttl=f"{int(self.settings.wrap_ttl)}s"
            )
        except Forbidden:
            self.ctx.report_denied()
            raise
        except ApiError:
            raise

    async def _mark(self, pod: Any, container_id: str) -> None:
        self.ctx.ensure_leading()
        patch = {"metadata": {"annotations": {DELIVERED: container_id}}}
        try:
            await self.ctx.kube.patch(
                Pod, pod.metadata.name, patch, namespace=pod.metadata.namespace, patch_type=PatchType.MERGE
            )
        except Exception as exc:
            if not kubeclient.is_not_found(exc):
                raise

    async def _refuse_role(self, key: ObjectKey, pod: Any, role: str) -> None:
        if self._refused.get(key) == pod.metadata.uid:
            return
        self._refused[key] = pod.metadata.uid
        message = f"role {role!r} is not one this controller hands out (pod_credentials.roles)"
        self.decide("refused", message, pod=f"{pod.metadata.namespace}/{pod.metadata.name}", role=role)
        await self.ctx.events.record(pod, WARNING, "RoleNotAllowed", message)


async def _ca_pem(ctx: Context, mount: str) -> str:
    body = await ctx.warden.read(f"{mount}/cert/ca")
    pem = str(((body or {}).get("data") or {}).get("certificate") or "")
    if not pem:
        raise PushFailed(f"no CA certificate at {mount}/cert/ca")
    return pem


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _errors(answer: httpx.Response) -> str:
    try:
        return "; ".join(str(e) for e in answer.json().get("errors") or []) or answer.text[:200]
    except ValueError:
        return answer.text[:200]
