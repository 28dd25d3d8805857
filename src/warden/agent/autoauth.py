"""Auto-auth methods: each turns local credentials into a login at ``<mount>/login``.

A method reads its credentials fresh on every login (service-account tokens rotate), so
re-authentication after a revoked or expired token picks up the current ones. Nothing here
logs a credential.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from warden.agent.config_sections import (
    AppRoleParams,
    AwsParams,
    KubernetesParams,
    MethodConfig,
    TokenFileParams,
)
from warden.agent.errors import AgentError, PermanentError
from warden.api import AsyncClient, Forbidden, JsonDict

ClientFactory = Callable[[str], AsyncClient]


@dataclass(slots=True)
class LoginContext:
    """What a method may use: a token-less client, clients for other tokens (a wrapping
    token), the login's wrap TTL, and an HTTP transport for the cloud metadata service."""

    anonymous: AsyncClient
    client_for: ClientFactory
    wrap_ttl: str = ""
    metadata_transport: httpx.AsyncBaseTransport | None = None


class AuthMethod(Protocol):
    name: str

    async def login(self, ctx: LoginContext) -> JsonDict:
        """The login response (``auth``, or ``wrap_info`` when wrapped)."""
        ...


ROOT_POLICY = "root"


class RootTokenRefused(Exception):
    """The login gave a root token and the operator did not allow one (seed 003's rule).

    Not an AgentError: retrying cannot help, so the agent (or controller) stops at once."""


def refuse_root_token(auth: Mapping[str, Any], *, method: str, allow_root_token: bool) -> None:
    """Seed 003's rule for every program that keeps a token for long (the agent, the
    controllers): a token carrying the ``root`` policy is refused unless the operator said
    ``-allow-root-token``. A leaked root token owns the whole server, and a workload never
    needs one: a token with its own policies does the same job."""
    policies = {str(p) for key in ("policies", "token_policies") for p in (auth.get(key) or ())}
    if ROOT_POLICY in policies and not allow_root_token:
        raise RootTokenRefused(
            f"{method} gave a root token (policy \"root\"); refusing to use it: give the agent a token "
            "with only the policies it needs (e.g. 'warden token create -role=k8s-CLUSTER "
            "-policy=...'), or start it with -allow-root-token if you really mean it")


def read_credential(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise AgentError(f"the {what} file {path} does not exist") from None
    except OSError as exc:
        raise AgentError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not value:
        raise AgentError(f"the {what} file {path} is empty")
    return value


async def post_login(ctx: LoginContext, mount_path: str, body: Mapping[str, Any]) -> JsonDict:
    response = await ctx.anonymous.request("PUT", f"{mount_path}/login", json=dict(body),
                                           wrap_ttl=ctx.wrap_ttl or None)
    if not response or not (response.get("auth") or response.get("wrap_info")):
        raise PermanentError(f"{mount_path}/login answered without a token")
    return response


@dataclass(slots=True)
class TokenFileMethod:
    """Use a token given in a file (seed 000: a periodic token per machine)."""

    params: TokenFileParams
    name: str = "token_file"

    async def login(self, ctx: LoginContext) -> JsonDict:
        token = read_credential(self.params.token_file_path, "token")
        async with ctx.client_for(token) as client:
            body = await client.read("auth/token/lookup-self")
        data = (body or {}).get("data") or {}
        if not data:
            raise PermanentError("the token in the token file is not valid (lookup-self found nothing)")
        return {"auth": {"client_token": token, "accessor": data.get("accessor", ""),
                         "lease_duration": int(data.get("ttl") or 0),
                         "renewable": bool(data.get("renewable")),
                         "policies": data.get("policies") or []}}


@dataclass(slots=True)
class AppRoleMethod:
    """role_id and secret_id from files; the secret-id may arrive response-wrapped."""

    mount_path: str
    params: AppRoleParams
    name: str = "approle"
    _role_id: str = ""
    _secret_id: str = ""

    async def login(self, ctx: LoginContext) -> JsonDict:
        body = {"role_id": self._read_role_id()}
        if self.params.secret_id_file_path is not None:
            body["secret_id"] = await self._read_secret_id(ctx, self.params.secret_id_file_path)
        return await post_login(ctx, self.mount_path, body)

    def _read_role_id(self) -> str:
        try:
            self._role_id = read_credential(self.params.role_id_file_path, "role-id")
        except AgentError:
            if not self._role_id:
                raise
        return self._role_id

    async def _read_secret_id(self, ctx: LoginContext, path: Path) -> str:
        # Like Vault Agent: a file that was removed after reading (or a fresh empty one)
        # falls back to the secret-id read before.
        try:
            content = read_credential(path, "secret-id")
        except AgentError:
            if self._secret_id:
                return self._secret_id
            raise
        wrapping_path = self.params.secret_id_response_wrapping_path
        secret_id = await unwrap_secret_id(ctx, content, wrapping_path) if wrapping_path else content
        self._secret_id = secret_id
        if self.params.remove_secret_id_file_after_reading:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return secret_id


async def unwrap_secret_id(ctx: LoginContext, wrapping_token: str, expected_path: str) -> str:
    """Check where the wrapping token was made (a token from anywhere else may be a
    man-in-the-middle's), then spend it."""
    try:
        lookup = await ctx.anonymous.write("sys/wrapping/lookup", {"token": wrapping_token})
    except Forbidden:
        raise PermanentError("the wrapped secret-id is not a valid wrapping token "
                             "(expired, or already unwrapped by someone else)") from None
    creation_path = str(((lookup or {}).get("data") or {}).get("creation_path", "")).strip("/")
    if creation_path != expected_path:
        raise PermanentError(f"the wrapped secret-id was created at {creation_path!r}, not at "
                             f"secret_id_response_wrapping_path {expected_path!r}; refusing it")
    async with ctx.client_for(wrapping_token) as client:
        unwrapped = await client.write("sys/wrapping/unwrap")
    secret_id = ((unwrapped or {}).get("data") or {}).get("secret_id")
    if not isinstance(secret_id, str) or not secret_id:
        raise PermanentError("the unwrapped response holds no secret_id")
    return secret_id


@dataclass(slots=True)
class KubernetesMethod:
    """The pod's service-account token, sent to the kubernetes auth method."""

    mount_path: str
    params: KubernetesParams
    name: str = "kubernetes"

    async def login(self, ctx: LoginContext) -> JsonDict:
        jwt = read_credential(self.params.token_path, "service-account token")
        return await post_login(ctx, self.mount_path, {"role": self.params.role, "jwt": jwt})


@dataclass(slots=True)
class AwsMethod:
    """The EC2 instance's signed identity document (PKCS#7), from a file or the metadata
    service, with a nonce kept for re-authentication."""

    mount_path: str
    params: AwsParams
    new_nonce: Callable[[], str] = lambda: str(uuid.uuid4())
    name: str = "aws"
    _nonce: str = ""

    async def login(self, ctx: LoginContext) -> JsonDict:
        pkcs7 = await self._pkcs7(ctx)
        if not self._nonce:
            self._nonce = self.params.nonce or self.new_nonce()
        body = {"role": self.params.role, "pkcs7": pkcs7.replace("\n", ""), "nonce": self._nonce}
        return await post_login(ctx, self.mount_path, body)

    async def _pkcs7(self, ctx: LoginContext) -> str:
        if self.params.pkcs7_file is not None:
            return read_credential(self.params.pkcs7_file, "PKCS#7 identity document")
        return await fetch_pkcs7(self.params.metadata_address, ctx.metadata_transport)


async def fetch_pkcs7(address: str, transport: httpx.AsyncBaseTransport | None = None) -> str:
    """IMDSv2 (a session token first), falling back to IMDSv1 where tokens are not offered."""
    options: dict[str, Any] = {"base_url": address, "timeout": 5.0}
    if transport is not None:
        options["transport"] = transport
    async with httpx.AsyncClient(**options) as http:
        try:
            headers = await _imds_session(http)
            response = await http.get("/latest/dynamic/instance-identity/pkcs7", headers=headers)
        except httpx.HTTPError as exc:
            raise AgentError(f"cannot reach the instance metadata service at {address}: {exc}") from None
    if response.status_code != 200 or not response.text.strip():
        raise AgentError(f"the instance metadata service at {address} gave no identity document "
                         f"(status {response.status_code})")
    return response.text.strip()


async def _imds_session(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.put("/latest/api/token",
                              headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    if response.status_code == 200 and response.text:
        return {"X-aws-ec2-metadata-token": response.text}
    return {}


def build_method(config: MethodConfig, *, new_nonce: Callable[[], str] | None = None) -> AuthMethod:
    params = config.params
    if isinstance(params, TokenFileParams):
        return TokenFileMethod(params)
    if isinstance(params, AppRoleParams):
        return AppRoleMethod(config.mount_path, params)
    if isinstance(params, KubernetesParams):
        return KubernetesMethod(config.mount_path, params)
    if new_nonce is not None:
        return AwsMethod(config.mount_path, params, new_nonce)
    return AwsMethod(config.mount_path, params)

