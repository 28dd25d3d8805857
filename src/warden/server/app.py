"""The ASGI application: one thin translation between HTTP and ``Core.handle_request``."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from warden.core.ha import StandbyNode
from warden.logical.errors import InvalidRequest, PayloadTooLarge, WardenError
from warden.logical.request import Connection, Request
from warden.server import forwarding, seal_http, translate
from warden.server.errors import error_status_and_messages
from warden.server.forwarded import ForwardedFor
from warden.server.responses import JSON, error_body, render
from warden.server.ui import UiFiles
from warden.storage.base import StorageUnavailable

if TYPE_CHECKING:
    from warden.core.core import Core

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("warden.server")

DEFAULT_MAX_REQUEST_SIZE = 32 * 1024 * 1024
LEADER_WAIT_S = 15.0  # how long a standby waits for an active node before answering 503
_LEADER_POLL_S = 0.2
Answer = tuple[int, str, bytes, dict[str, str]]


@dataclass(frozen=True, slots=True)
class AppConfig:
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # Vault's listener telemetry option: Prometheus may scrape sys/metrics without a token.
    unauthenticated_metrics_access: bool = False
    # How deeply a JSON body may nest (Vault's max_json_depth).
    max_json_depth: int = translate.DEFAULT_MAX_JSON_DEPTH
    # Whose X-Forwarded-For is believed (by default: nobody's).
    forwarded: ForwardedFor = field(default_factory=ForwardedFor)
    ui: bool = False  # serve the web dashboard at /ui/ (server/ui.py)


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
        self._ui = UiFiles.load() if config.ui else None
        self._forwarder = forwarding.Forwarder()
        self._in_flight: dict[str, tuple[str, str, float]] = {}

    def in_flight(self) -> list[str]:
        """The requests being served, for the shutdown log (method, path, seconds)."""
        now = time.monotonic()
        return [f"{m} {p} ({now - t:.1f}s)" for m, p, t in self._in_flight.values()]

    async def aclose(self) -> None:
        await self._forwarder.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = self._ids.next()
        head = scope["method"] == "HEAD"
        self._in_flight[request_id] = (scope["method"], scope["path"], time.monotonic())
        try:
            answer = await self._handle(scope, receive, request_id)
        except Exception as exc:  # the single exception boundary of the server
            status, messages = error_status_and_messages(exc)
            extra = {forwarding.STANDBY_ANSWER: "1"} if isinstance(exc, StandbyNode) else {}
            answer = status, JSON, error_body(messages), extra
        finally:
            self._in_flight.pop(request_id, None)
        if isinstance(answer, forwarding.Relayed):
            await _send_relayed(send, answer, head=head)
            return
        status, ctype, body, headers = answer
        await _send(send, status, ctype, body, headers, head=head)

    async def _handle(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> Answer | forwarding.Relayed:
        raw_path: str = scope["path"]
        if not raw_path.startswith("/v1/"):
            if self._ui is not None and self._ui.handles(raw_path):
                return self._ui.answer(scope["method"].upper(), raw_path)
            return 404, JSON, b'{"errors":[]}', {}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        _check_namespace(headers)
        method: str = scope["method"].upper()
        body = await _read_body(receive, headers, self._config.max_request_size)
        encoded = scope.get("raw_path")
        path = translate.normalize_path(
            encoded.decode("latin-1")[4:] if encoded else raw_path[4:])
        query_string: bytes = scope.get("query_string", b"")
        target = (encoded.decode("latin-1") if encoded else raw_path) + (
            "?" + query_string.decode("latin-1") if query_string else "")
        connection = self._connection(scope, headers, method, target, body)
        query = translate.parse_query(query_string)
        help_only = translate.is_help(method, query)
        # A help request only describes the path: its body is never read as input.
        data = {} if help_only else translate.request_data(
            method, query, body, headers.get("content-type", ""),
            max_depth=self._config.max_json_depth)
        if path in seal_http.SEAL_PATHS and not help_only:
            status, payload = await seal_http.handle(self._core, method, path, data)
            return status, JSON, orjson.dumps(payload), {}
        if (path == "sys/metrics" and self._config.unauthenticated_metrics_access
                and not help_only):
            if data.get("format") != "prometheus":
                raise InvalidRequest("unauthenticated metrics are served as ?format=prometheus")
            body, ctype = self._core.metrics.render()
            return 200, ctype, body, {}
        forwarded = forwarding.is_forwarded(headers)
        if self._core.standby and not forwarded:
            relayed = await self._to_active(method, target, headers, body, connection)
            if relayed is not None:
                return relayed
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
        try:
            resp = await self._core.handle_request(req)
        except StandbyNode:
            if forwarded:
                raise  # never forwarded twice: the standby that sent it finds the new active node
            relayed = await self._to_active(method, target, headers, body, connection)
            if relayed is None:
                raise
            return relayed
        return render(request_id, op, resp)

    def _connection(self, scope: Scope, headers: dict[str, str], method: str, target: str,
                    body: bytes) -> Connection:
        """Who the client is, decided in this one place: the peer (or the client an
        authorized proxy names in X-Forwarded-For, per the listener's x_forwarded_for_*
        settings), or for a request a standby forwarded (and signed with the active node's
        forwarding key), the client that standby saw."""
        peer, port = scope.get("client") or ("", 0)
        if forwarding.is_forwarded(headers):
            ha = self._core.ha
            leader = ha.advertised if ha is not None else None
            if leader is None:
                raise StandbyNode("this node is not the active node; retry")
            seen = forwarding.verify(leader.forward_key, headers, method, target, body)
            return Connection(remote_addr=seen.remote_addr, remote_port=0, tls=seen.tls)
        claimed = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == _XFF]
        return Connection(remote_addr=self._config.forwarded.client_address(peer, claimed),
                          remote_port=port, tls=scope.get("scheme") == "https")

    async def _to_active(self, method: str, target: str, headers: dict[str, str], body: bytes,
                         connection: Connection) -> forwarding.Relayed | Answer | None:
        """Forward to the active node (or redirect there); None if this node became active."""
        ha = self._core.ha
        assert ha is not None
        deadline = time.monotonic() + LEADER_WAIT_S
        fresh = False
        while True:
            if not self._core.standby:
                return None
            leader = await ha.leader(fresh=fresh)
            fresh = True
            if leader is None or leader.is_self:
                if time.monotonic() >= deadline:
                    raise StandbyNode("this node is a standby and no active node is known; "
                                      "retry shortly")
                await asyncio.sleep(_LEADER_POLL_S)
                continue
            if not ha.config.forwarding or headers.get(forwarding.NO_FORWARDING):
                return 307, JSON, b"", {"location": leader.api_addr + target}
            try:
                relayed = await self._forwarder.forward(
                    leader, method, target, headers, body, connection.remote_addr, connection.tls)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                relayed = None  # not sent: the active node is gone; wait for the next one
            except httpx.TransportError:
                raise StorageUnavailable("the active node did not answer; the request may or "
                                         "may not have been applied; retry") from None
            if relayed is not None and not relayed.executed_nothing:
                return relayed
            if time.monotonic() >= deadline:
                raise StandbyNode("the active node is changing; retry shortly")
            ha.forget_leader()
            await asyncio.sleep(_LEADER_POLL_S)


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


async def _send_relayed(send: Send, relayed: forwarding.Relayed, *, head: bool) -> None:
    headers = [(k, v) for k, v in relayed.headers if k.lower() != b"content-length"]
    if relayed.status not in _BODILESS:
        headers.append((b"content-length", str(len(relayed.body)).encode()))
    await send({"type": "http.response.start", "status": relayed.status, "headers": headers})
    await send({"type": "http.response.body",
                "body": b"" if head or relayed.status in _BODILESS else relayed.body})


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
