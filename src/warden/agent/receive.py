"""``warden agent -receive-secret-id``: the init container's side of seed 003's flow.

1. The listening certificate: issued by warden for the pod's IP (``-tls-issue`` =
   ``<mount>/issue/<role>``, logging in first with the pod's service-account token at
   ``-tls-login-mount`` with ``-tls-login-role``; that short token is revoked right after),
   or read from files (``-tls-cert-file``/``-tls-key-file``). The controller pushes only to
   a server whose certificate its trusted CA signed for exactly the pod's IP.
2. It listens on the pod's IP over TLS and accepts one push, ``PUT /v1/secret-id`` with
   ``{"wrappedSecretId": ..., "roleId": ...}``: the wrapping token must have been created at
   ``auth/approle/role/<role>/secret-id`` (``-role``; checked before it is spent, with the
   agent's own ``unwrap_secret_id``), it is unwrapped, the agent logs in with AppRole and
   writes seed 003's JSON token file (``clientToken``, ``accessor``, ``leaseDuration``,
   ``renewable``, ``vaultAddr``). Only then does the push succeed (200), and the agent exits 0.
3. A push that is refused (a wrapping token from elsewhere, expired, already unwrapped: a
   replay; a body that is not a push) gets a 4xx and the agent keeps waiting for a good
   one; a push while one is being handled or after one succeeded gets 409. Nothing is
   accepted after ``-timeout`` (exit 2).

Connections to warden leave from the listening address (the pod's IP), so logins are
checked against the secret-id's and token's CIDR bindings (the pod's IP /32).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from warden.agent.autoauth import (
    LoginContext,
    RootTokenRefused,
    post_login,
    read_credential,
    refuse_root_token,
    unwrap_secret_id,
)
from warden.agent.backoff import Backoff
from warden.agent.clock import Clock
from warden.agent.errors import AgentError, PermanentError, describe, is_permanent
from warden.agent.files import FileSpec, Perms, write_file
from warden.agent.lifetime import TokenInfo
from warden.agent.logs import AgentLog
from warden.agent.sink import token_json
from warden.api import AsyncClient, ClientError, ClientSettings
from warden.api.config import tls_verify

PUSH_PATH = "/v1/secret-id"
MAX_BODY = 16 * 1024
READ_TIMEOUT = 10.0
DEFAULT_PORT = 8201
DEFAULT_TIMEOUT = 300.0
SERVING_TTL = "1h"
EXIT_OK, EXIT_FAILED = 0, 2


@dataclass(frozen=True, slots=True)
class IssuedTls:
    """Issue the listening certificate from warden, logging in with the pod's account."""

    issue_path: str  # <mount>/issue/<role>
    login_mount: str
    login_role: str
    jwt_path: Path


@dataclass(frozen=True, slots=True)
class FileTls:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True)
class ReceiveSettings:
    host: str
    port: int
    role: str
    token_file: Path
    tls: IssuedTls | FileTls
    server: ClientSettings
    approle_mount: str = "auth/approle"
    role_id_file: Path | None = None
    token_file_mode: int = 0o600
    timeout: float = DEFAULT_TIMEOUT

    @property
    def creation_path(self) -> str:
        return f"{self.approle_mount}/role/{self.role}/secret-id"


class PushRefused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Receiver:
    settings: ReceiveSettings
    log: AgentLog
    clock: Clock
    failure: str = ""
    bound_port: int = 0
    on_listening: Callable[[int], None] | None = None
    _state: str = "waiting"  # waiting | busy | done
    _done: asyncio.Event = field(default_factory=asyncio.Event)

    def _client(self, token: str = "") -> AsyncClient:
        s = self.settings
        transport = httpx.AsyncHTTPTransport(verify=tls_verify(s.server), local_address=_source(s.host))
        return AsyncClient(s.server.address, token, timeout=s.server.timeout, transport=transport)

    async def run(self) -> int:
        try:
            context = await self._tls_context_with_retries()
        except (ClientError, AgentError, OSError, ssl.SSLError) as exc:
            return self._fail(f"cannot get a certificate to listen with: {describe(exc)}")
        try:
            server = await asyncio.start_server(
                self._handle, self.settings.host, self.settings.port, ssl=context, reuse_address=True
            )
        except OSError as exc:
            return self._fail(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror or exc}"
            )
        self.bound_port = int(server.sockets[0].getsockname()[1])
        self.log.info(
            "waiting for the secret-id push",
            address=f"{self.settings.host}:{self.bound_port}",
            role=self.settings.role,
        )
        if self.on_listening is not None:
            self.on_listening(self.bound_port)
        try:
            await asyncio.wait_for(self._done.wait(), self.settings.timeout)
        except TimeoutError:
            return self._fail(f"no secret-id was pushed within {self.settings.timeout:g}s")
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self.log.info("token written; done", path=str(self.settings.token_file))
        return EXIT_OK

    # -- the listening certificate --------------------------------------------------------

    async def _tls_context_with_retries(self) -> ssl.SSLContext:
        """warden may not be reachable the moment the pod starts: retry what may pass
        (unreachable, sealed, 5xx) with backoff until ``timeout``; a refusal fails at once."""
        backoff = Backoff(0.5, 10.0)
        deadline = self.clock.time() + self.settings.timeout
        while True:
            try:
                return await self._tls_context()
            except (ClientError, AgentError) as exc:
                delay = backoff.next_delay()
                if is_permanent(exc) or self.clock.time() + delay > deadline:
                    raise
                self.log.warning(
                    "cannot get the listening certificate yet; retrying",
                    error=describe(exc),
                    retry_in=round(delay, 2),
                )
                await self.clock.sleep(delay)

    async def _tls_context(self) -> ssl.SSLContext:
        tls = self.settings.tls
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if isinstance(tls, FileTls):
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            return context
        chain, key = await self._issue(tls)
        # ssl loads a key only from a file: a private temporary folder, removed at once
        with tempfile.TemporaryDirectory(prefix="warden-receive-") as folder:
            cert_path, key_path = Path(folder) / "tls.crt", Path(folder) / "tls.key"
            write_file(FileSpec(cert_path, chain.encode(), Perms(0o600)))
            write_file(FileSpec(key_path, key.encode(), Perms(0o600)))
            context.load_cert_chain(str(cert_path), str(key_path))
        return context

    async def _issue(self, tls: IssuedTls) -> tuple[str, str]:
        jwt = read_credential(tls.jwt_path, "service-account token")
        async with self._client() as anonymous:
            body = await anonymous.write(f"{tls.login_mount}/login", {"role": tls.login_role, "jwt": jwt})
        token = str(((body or {}).get("auth") or {}).get("client_token") or "")
        if not token:
            raise PermanentError(f"{tls.login_mount}/login answered without a token")
        async with self._client(token) as client:
            try:
                issued = await client.write(
                    tls.issue_path,
                    {"common_name": self.settings.host, "ip_sans": self.settings.host, "ttl": SERVING_TTL},
                )
            finally:
                with contextlib.suppress(ClientError):
                    await client.write("auth/token/revoke-self")
        data = (issued or {}).get("data") or {}
        cert, key = str(data.get("certificate") or ""), str(data.get("private_key") or "")
        if not cert or not key:
            raise PermanentError(f"{tls.issue_path} answered without a certificate and key")
        chain = [cert.strip(), *(str(c).strip() for c in data.get("ca_chain") or [])]
        return "\n".join(dict.fromkeys(chain)) + "\n", key

    # -- the push ---------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            method, target, body = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            status, answer = await self._push(method, target, body, peer)
            _respond(writer, status, answer)
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ssl.SSLError,
            ValueError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            if self._state == "done":
                self._done.set()  # after the answer went out: then the process may exit

    async def _push(self, method: str, target: str, body: bytes, peer: Any) -> tuple[str, dict[str, Any]]:
        if target != PUSH_PATH:
            return "404 Not Found", {"errors": [f"push to {PUSH_PATH}"]}
        if method != "PUT":
            return "405 Method Not Allowed", {"errors": ["use PUT"]}
        if self._state != "waiting":
            self.log.warning("refused a second secret-id push", peer=str(peer), state=self._state)
            return "409 Conflict", {"errors": ["a secret-id was already pushed to this agent"]}
        self._state = "busy"
        try:
            await self._accept(body)
        except PushRefused as refused:
            self._state = "waiting"
            self.log.error("refused a secret-id push", peer=str(peer), error=str(refused))
            return refused.status, {"errors": [str(refused)]}
        self._state = "done"
        return "200 OK", {"accepted": True}

    async def _accept(self, body: bytes) -> None:
        s = self.settings
        try:
            push = json.loads(body)
            wrapped = push["wrappedSecretId"]
            if not isinstance(wrapped, str) or not wrapped:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise PushRefused("400 Bad Request", 'the push is not {"wrappedSecretId": ...}') from None
        async with self._client() as anonymous:
            ctx = LoginContext(anonymous, self._client)
            try:
                role_id = (
                    read_credential(s.role_id_file, "role-id")
                    if s.role_id_file is not None
                    else str(push.get("roleId") or "")
                )
                if not role_id:
                    raise PushRefused(
                        "400 Bad Request", "the push has no roleId (and no -role-id-file is set)"
                    )
                secret_id = await unwrap_secret_id(ctx, wrapped, s.creation_path)
                response = await post_login(
                    ctx, s.approle_mount, {"role_id": role_id, "secret_id": secret_id}
                )
            except PushRefused:
                raise
            except (ClientError, AgentError) as exc:
                status = "403 Forbidden" if is_permanent(exc) else "502 Bad Gateway"
                raise PushRefused(status, describe(exc)) from None
        try:
            refuse_root_token(
                response.get("auth") or {}, method="approle", allow_root_token=False, override=""
            )
        except RootTokenRefused as exc:
            raise PushRefused("403 Forbidden", str(exc)) from None
        info = TokenInfo.from_auth(response.get("auth") or {}, self.clock.time())
        try:
            write_file(FileSpec(s.token_file, token_json(info, s.server.address), Perms(s.token_file_mode)))
        except OSError as exc:
            raise PushRefused(
                "500 Internal Server Error",
                f"cannot write the token file {s.token_file}: {exc.strerror or exc}",
            ) from None
        self.log.info(
            "logged in with the pushed secret-id",
            role=s.role,
            accessor=info.accessor,
            ttl=int(info.lease_duration),
        )

    def _fail(self, message: str) -> int:
        self.failure = message
        self.log.error("receive failed", error=message)
        return EXIT_FAILED


def _source(host: str) -> str | None:
    """Bind outgoing connections to the listening IP (the pod's), unless it is a wildcard."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ValueError("chunked bodies are not accepted")
    length = int(headers.get("content-length") or 0)
    if not 0 <= length <= MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return method, target.split("?", 1)[0], body


def _respond(writer: asyncio.StreamWriter, status: str, answer: dict[str, Any]) -> None:
    body = (json.dumps(answer) + "\n").encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
