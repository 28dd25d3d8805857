"""uvicorn's fast httptools protocol, taught Vault's ``LIST`` and ``HELP`` methods, one send
per response.

llhttp (behind httptools) accepts only the methods it knows, and neither ``LIST`` nor
``HELP`` is one of them; ``LINK`` and ``BIND`` are, and have the same lengths. At the start
of each request a leading ``LIST `` is rewritten to ``LINK `` (``HELP `` to ``BIND ``), and
the edge reads ``LINK`` as ``LIST`` (``BIND`` as ``HELP``). Clients that pipeline several
requests in one packet would only have the first one rewritten; HTTP clients of Vault (hvac,
Vault's CLI, curl, httpx) send one request at a time per connection, so they are never
affected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Vault's methods llhttp does not know -> a method it knows, of the same length.
_REWRITES = {b"LIST ": b"LINK ", b"HELP ": b"BIND "}
_METHOD_LEN = 5
_CONTINUE = b"HTTP/1.1 100 "


class _OneSendPerResponse:
    """The transport as one request's cycle sees it. uvicorn writes a response's status
    line and headers, then its body, each at once: two sends, two segments. Here the first
    waits for the second, so a response leaves in one (a 100 Continue goes out at once)."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None  # None: nothing written yet; b"": passed through

    def write(self, data: bytes) -> None:
        if self._held is None and not data.startswith(_CONTINUE):
            self._held = bytes(data)
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._transport.write(data)

    def close(self) -> None:
        if self._held:
            self._transport.write(self._held)
            self._held = b""
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class VaultHttpToolsProtocol(HttpToolsProtocol):
    _at_request_start = True
    _held = b""

    def data_received(self, data: bytes) -> None:
        if self._at_request_start:
            data = self._held + data
            self._held = b""
            if len(data) < _METHOD_LEN and any(m.startswith(data) for m in _REWRITES):
                self._held = data  # wait for enough bytes to see the method
                return
            known = _REWRITES.get(data[:_METHOD_LEN])
            if known is not None:
                data = known + data[_METHOD_LEN:]
            self._at_request_start = False
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle.scope["method"] != "HEAD":  # a HEAD answer has no body write to wait for
            self.cycle.transport = _OneSendPerResponse(self.transport)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._at_request_start = True
