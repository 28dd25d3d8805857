"""The ASGI application: one thin translation between HTTP and ``Core.handle_request``."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from warden.logical.errors import InvalidRequest, PayloadTooLarge, WardenError
from warden.logical.request import Connection, Request
from warden.server import seal_http, translate
from warden.server.errors import error_status_and_messages
from warden.server.forwarded import ForwardedFor
from warden.server.responses import JSON, error_body, render

if TYPE_CHECKING:
    from warden.core.core import Core

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("warden.server")

DEFAULT_MAX_REQUEST_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AppConfig:
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # Vault's listener telemetry option: Prometheus may scrape sys/metrics without a token.
    unauthenticated_metrics_access: bool = False
    # How deeply a JSON body may nest (Vault's max_json_depth).
    max_json_depth: int = translate.DEFAULT_MAX_JSON_DEPTH
    # Whose X-Forwarded-For is believed (by default: nobody's).
    forwarded: ForwardedFor = field(default_factory=ForwardedFor)


class RequestIds:
    """Random version-4 UUIDs, 256 per os.urandom call instead of one."""

    __slots__ = ("_buffer", "_offset")

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def next(self) -> str:
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = os.urandom(4096), 0
        raw = self._buffer[self._offset:self._offset + 16]
        self._offset += 16
        return str(uuid.UUID(bytes=raw, version=4))


class WardenApp:
    """ASGI callable. Its configuration is fixed at construction."""

    def __init__(self, core: Core, config: AppConfig = AppConfig()) -> None:
        self._core = core
        self._config = config
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = self._ids.next()
        try:
            status, ctype, body, headers = await self._handle(scope, receive, request_id)
        except Exception as exc:  # the single exception boundary of the server
            status, messages = error_status_and_messages(exc)
            ctype, body, headers = JSON, error_body(messages), {}
        await _send(send, status, ctype, body, headers, head=scope["method"] == "HEAD")

    async def _handle(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[int, str, bytes, dict[str, str]]:
        raw_path: str = scope["path"]
        if not raw_path.startswith("/v1/"):
            return 404, JSON, b'{"errors":[]}', {}
        connection = self._connection(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        _check_namespace(headers)
        method: str = scope["method"].upper()
        body = await _read_body(receive, headers, self._config.max_request_size)
        encoded = scope.get("raw_path")
        path = translate.normalize_path(
            encoded.decode("latin-1")[4:] if encoded else raw_path[4:])
        query = translate.parse_query(scope.get("query_string", b""))
        data = translate.request_data(method, query, body, headers.get("content-type", ""),
                                      max_depth=self._config.max_json_depth)
        if path in seal_http.SEAL_PATHS:
            status, payload = await seal_http.handle(self._core, method, path, data)
            return status, JSON, orjson.dumps(payload), {}
        if path == "sys/metrics" and self._config.unauthenticated_metrics_access:
            if data.get("format") != "prometheus":
                raise InvalidRequest("unauthenticated metrics are served as ?format=prometheus")
            body, ctype = self._core.metrics.render()
            return 200, ctype, body, {}
        op = translate.operation_for(method, query)
        req = Request(
            operation=op,
            path=path,
            data=data,
            id=request_id,
            client_token=translate.client_token(headers),
            connection=connection,
            headers=headers,
            wrap_ttl=translate.wrap_ttl(headers),
        )
        resp = await self._core.handle_request(req)
        return render(request_id, op, resp)


    def _connection(self, scope: Scope) -> Connection:
        """Who is asking: the one place the client's address is decided."""
        peer, port = scope.get("client") or ("", 0)
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == _XFF]
        return Connection(remote_addr=self._config.forwarded.client_address(peer, forwarded),
                          remote_port=port, tls=scope.get("scheme") == "https")


_XFF = b"x-forwarded-for"


def _check_namespace(headers: dict[str, str]) -> None:
    namespace = headers.get("x-vault-namespace", "").strip("/")
    if namespace and namespace != "root":
        raise InvalidRequest("namespaces are not supported; remove the X-Vault-Namespace header")


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body too large: the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise WardenError("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body too large: the limit is {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, ctype: str, body: bytes, headers: dict[str, str], *, head: bool
) -> None:
    raw_headers = [(b"content-type", ctype.encode()), (b"cache-control", b"no-store")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    bodiless = status in _BODILESS  # a client reads no body after these: never send one
    if not bodiless:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": b"" if head or bodiless else body})


_BODILESS = frozenset({204, 304})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
