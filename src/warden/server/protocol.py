"""uvicorn's fast httptools protocol, taught Vault's ``LIST`` method.

llhttp (behind httptools) accepts only the methods it knows, and ``LIST`` is not
one of them; ``LINK`` is, and has the same length. At the start of each request
a leading ``LIST `` is rewritten to ``LINK ``, and the edge reads ``LINK`` as
``LIST``. Clients that pipeline several requests in one packet would only have
the first one rewritten; HTTP clients of Vault (hvac, Vault's CLI, curl, httpx)
send one request at a time per connection, so they are never affected.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_LIST = b"LIST "
_LINK = b"LINK "


class VaultHttpToolsProtocol(HttpToolsProtocol):
    _at_request_start = True
    _held = b""

    def data_received(self, data: bytes) -> None:
        if self._at_request_start:
            data = self._held + data
            self._held = b""
            if len(data) < len(_LIST) and _LIST.startswith(data):
                self._held = data  # wait for enough bytes to see the method
                return
            if data.startswith(_LIST):
                data = _LINK + data[len(_LIST):]
            self._at_request_start = False
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._at_request_start = True
