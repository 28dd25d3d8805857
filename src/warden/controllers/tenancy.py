"""Per-namespace warden logins (runtime): a resource in namespace N reaches warden only
with what N is allowed, as Vault Secrets Operator's VaultAuth does.

For namespace N the runtime asks the TokenRequest API for a short-lived token of the
ServiceAccount ``service_account`` *in N* (audience ``audience``), logs in with it at
``<mount>/login`` with the role ``role`` (``{namespace}`` replaced by N), and keeps the
warden token for N until two thirds of its lifetime have passed (or a request with it was
refused with 403, then ``forget(N)`` drops it). warden's Kubernetes auth method checks the
service-account token (TokenReview) and that the role is bound to that namespace's account,
so the token of namespace B can never carry namespace A's policies, whatever a resource in
B asks for. A token that is root, or that carries the root policy, is refused.

The controller's own token (``Context.warden``) is never used for a namespaced resource.
The controller's Kubernetes identity needs ``create`` on ``serviceaccounts/token`` for the
ServiceAccount's name (``rbac_rules``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient as KubeClient
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccountToken

from warden.agent.clock import Clock
from warden.agent.config_parse import Block, ConfigError
from warden.agent.lifetime import TokenInfo
from warden.api import AsyncClient, ClientError, JsonDict
from warden.controllers import kubeclient
from warden.controllers.plugin import PolicyRule
from warden.controllers.session import refuse_root

DEFAULT_SERVICE_ACCOUNT = "warden-sync"
DEFAULT_ROLE = "{namespace}"
DEFAULT_MOUNT = "auth/kubernetes"
DEFAULT_TOKEN_SECONDS = 600  # the TokenRequest minimum is 600
RENEW_FRACTION = 2 / 3


class NamespaceLoginFailed(Exception):
    """Namespace N cannot log in to warden; the message says what to set up."""


@dataclass(frozen=True, slots=True)
class NamespaceAuth:
    """``namespace_auth { service_account = ...  role = ...  mount = ...  audience = ... }``."""

    service_account: str = DEFAULT_SERVICE_ACCOUNT
    role: str = DEFAULT_ROLE
    mount: str = DEFAULT_MOUNT
    audiences: tuple[str, ...] = ()
    token_seconds: int = DEFAULT_TOKEN_SECONDS

    def role_for(self, namespace: str) -> str:
        return self.role.replace("{namespace}", namespace)

    def rbac_rules(self) -> Sequence[PolicyRule]:
        return [
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts/token"],
                "resourceNames": [self.service_account],
                "verbs": ["create"],
            }
        ]


def parse_namespace_auth(parent: Block) -> NamespaceAuth:
    b = parent.child("namespace_auth", f"{parent.where}.namespace_auth")
    seconds = b.duration("token_ttl", float(DEFAULT_TOKEN_SECONDS))
    auth = NamespaceAuth(
        service_account=b.string("service_account", DEFAULT_SERVICE_ACCOUNT),
        role=b.string("role", DEFAULT_ROLE),
        mount=b.string("mount", DEFAULT_MOUNT).strip("/"),
        audiences=b.strings("audiences"),
        token_seconds=int(seconds),
    )
    b.finish()
    if not auth.service_account or not auth.role or not auth.mount:
        raise ConfigError(f"{b.where}: service_account, role and mount must not be empty")
    if auth.token_seconds < DEFAULT_TOKEN_SECONDS:
        raise ConfigError(f"{b.at('token_ttl')}: at least 10m (the TokenRequest API's minimum)")
    return auth


@dataclass(slots=True)
class _Login:
    client: AsyncClient
    renew_at: float


@dataclass(slots=True)
class NamespaceSessions:
    """``client(namespace)``: a warden client logged in as that namespace; cached."""

    kube: KubeClient
    auth: NamespaceAuth
    new_client: Callable[[str], AsyncClient]  # a warden client carrying the given token
    clock: Clock
    _logins: dict[str, _Login] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def client(self, namespace: str) -> AsyncClient:
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            login = self._logins.get(namespace)
            if login is not None and self.clock.time() < login.renew_at:
                return login.client
            if login is not None:
                del self._logins[namespace]
                await _revoke(login.client)  # replaced: the old token is of no more use
            login = await self._login(namespace)
            self._logins[namespace] = login
            return login.client

    async def forget(self, namespace: str) -> None:
        """Drop N's token (it was refused: revoked, or its policy changed)."""
        login = self._logins.pop(namespace, None)
        if login is not None:
            await login.client.aclose()

    async def aclose(self) -> None:
        for namespace in list(self._logins):
            await self.forget(namespace)

    async def _login(self, namespace: str) -> _Login:
        a = self.auth
        jwt = await self._service_account_token(namespace)
        anonymous = self.new_client("")
        try:
            body: JsonDict = (
                await anonymous.write(f"{a.mount}/login", {"role": a.role_for(namespace), "jwt": jwt}) or {}
            )
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status in (400, 403):
                raise NamespaceLoginFailed(
                    f"namespace {namespace} cannot log in to warden at {a.mount} with role "
                    f"{a.role_for(namespace)!r} ({status}): create the role, bound to "
                    f"service account {a.service_account} in {namespace}"
                ) from None
            raise
        finally:
            await anonymous.aclose()
        auth = body.get("auth") or {}
        if not auth.get("client_token"):
            raise NamespaceLoginFailed(f"{a.mount}/login answered without a token")
        now = self.clock.time()
        info = TokenInfo.from_auth(auth, now)
        client = self.new_client(info.token)
        try:
            await refuse_root(client, info)
        except BaseException:
            await client.aclose()
            raise
        lifetime = info.lease_duration if info.lease_duration > 0 else math.inf
        return _Login(client, now + lifetime * RENEW_FRACTION)

    async def _service_account_token(self, namespace: str) -> str:
        a = self.auth
        request = ServiceAccountToken(
            metadata=ObjectMeta(name=a.service_account, namespace=namespace),
            spec=TokenRequestSpec(audiences=list(a.audiences), expirationSeconds=a.token_seconds),
        )
        try:
            answer: Any = await self.kube.create(request, a.service_account, namespace=namespace)
        except Exception as exc:
            if kubeclient.is_not_found(exc):
                raise NamespaceLoginFailed(
                    f"namespace {namespace} has no service account {a.service_account}: create it "
                    f"(kubectl -n {namespace} create serviceaccount {a.service_account})"
                ) from None
            raise
        return str(answer.status.token)


async def _revoke(client: AsyncClient) -> None:
    try:
        await client.write("auth/token/revoke-self")
    except ClientError:
        pass  # best effort: it expires by itself
    finally:
        await client.aclose()
