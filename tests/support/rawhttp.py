"""Send requests with the path exactly as written (no client-side normalisation)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(base_url: str, method: str, path: str, *, token: str = "",
                body: bytes | None = None, headers: dict[str, str] | None = None) -> RawResponse:
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        all_headers = {"X-Vault-Token": token} if token else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return RawResponse(resp.status, resp.read())
    finally:
        conn.close()
