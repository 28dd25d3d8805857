"""uvicorn's fast httptools protocol, taught Vault's ``LIST`` and ``HELP`` methods.

llhttp (behind httptools) accepts only the methods it knows, and neither ``LIST`` nor
``HELP`` is one of them; ``LINK`` and ``BIND`` are, and have the same lengths. At the start
of each request a leading ``LIST `` is rewritten to ``LINK `` (``HELP `` to ``BIND ``), and
the edge reads ``LINK`` as ``LIST`` (``BIND`` as ``HELP``). Clients that pipeline several
requests in one packet would only have the first one rewritten; HTTP clients of Vault (hvac,
Vault's CLI, curl, httpx) send one request at a time per connection, so they are never
affected.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Vault's methods llhttp does not know -> a method it knows, of the same length.
_REWRITES = {b"LIST ": b"LINK ", b"HELP ": b"BIND "}
_METHOD_LEN = 5


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

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._at_request_start = True
