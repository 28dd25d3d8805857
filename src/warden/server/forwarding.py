"""Request forwarding from a standby to the active node, and its verification there.

A standby sends the client's request unchanged (method, path, query, headers, body;
the client's token travels in its own header) to the active node's ``api_addr`` and
relays the answer. It adds who the client is, which only the active node may believe:

    X-Warden-Forwarded-For     the client's address as the standby saw it
    X-Warden-Forwarded-Tls     "1" if the client used TLS
    X-Warden-Forwarded-At      unix time of forwarding
    X-Warden-Forwarded-Sig     HMAC-SHA256 over all of the above, method, target, body hash

The HMAC key is the forwarding key the active node advertised inside the barrier, so
only unsealed nodes of the cluster can produce it; a request whose signature does not
verify is refused. Over https the standby pins the active node's listener certificate
from the same advertisement. Forwarded requests are never forwarded again.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from warden.core.ha import Leader
from warden.logical.errors import PermissionDenied

FORWARDED_FOR: Final = "x-warden-forwarded-for"
FORWARDED_TLS: Final = "x-warden-forwarded-tls"
FORWARDED_AT: Final = "x-warden-forwarded-at"
FORWARDED_SIG: Final = "x-warden-forwarded-sig"
STANDBY_ANSWER: Final = "x-warden-standby"  # set on a 503 that executed nothing
NO_FORWARDING: Final = "x-vault-no-request-forwarding"
_OURS: Final = frozenset({FORWARDED_FOR, FORWARDED_TLS, FORWARDED_AT, FORWARDED_SIG})
_HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                                "host", "content-length", "proxy-connection", "trailer"})
MAX_SKEW_S: Final = 120.0
FORWARD_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A verified forwarded request's client."""

    remote_addr: str
    tls: bool


@dataclass(frozen=True, slots=True)
class Relayed:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def executed_nothing(self) -> bool:
        return self.status == 503 and any(k == STANDBY_ANSWER.encode() for k, _ in self.headers)


def _signature(key: bytes, method: str, target: str, body: bytes, client: str, tls: str,
               at: str) -> str:
    message = "\n".join((method.upper(), target, hashlib.sha256(body).hexdigest(), client, tls, at))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, headers: Mapping[str, str], method: str, target: str, body: bytes,
           *, now: float | None = None) -> Forwarded:
    """The client of a forwarded request, or PermissionDenied if the signature is wrong."""
    client, tls = headers.get(FORWARDED_FOR, ""), headers.get(FORWARDED_TLS, "0")
    at, given = headers.get(FORWARDED_AT, ""), headers.get(FORWARDED_SIG, "")
    expected = _signature(key, method, target, body, client, tls, at)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise PermissionDenied("forwarded request refused: its signature is not valid")
    try:
        skew = abs((time.time() if now is None else now) - float(at))
    except ValueError:
        raise PermissionDenied("forwarded request refused: its timestamp is invalid") from None
    if skew > MAX_SKEW_S:
        raise PermissionDenied("forwarded request refused: it is too old (check the clocks)")
    return Forwarded(client, tls == "1")


def is_forwarded(headers: Mapping[str, str]) -> bool:
    return FORWARDED_SIG in headers


class Forwarder:
    """HTTP clients to the active node, one per advertisement (address + certificate)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def forward(self, leader: Leader, method: str, target: str, headers: Mapping[str, str],
                      body: bytes, client: str, tls: bool) -> Relayed:
        """Send the request to ``leader``; connection errors propagate (httpx.TransportError)."""
        at = f"{time.time():.3f}"
        tls_flag = "1" if tls else "0"
        sent = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP and k not in _OURS}
        sent.update({FORWARDED_FOR: client, FORWARDED_TLS: tls_flag, FORWARDED_AT: at,
                     FORWARDED_SIG: _signature(leader.forward_key, method, target, body, client,
                                               tls_flag, at)})
        answer = await self._client(leader).request(method, leader.api_addr + target,
                                                    headers=sent, content=body)
        relayed = [(k.encode("latin-1"), v.encode("latin-1"))
                   for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
        return Relayed(answer.status_code, relayed, answer.content)

    def _client(self, leader: Leader) -> httpx.AsyncClient:
        key = (leader.api_addr, leader.tls_certificate)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(verify=_pinned(leader), timeout=FORWARD_TIMEOUT_S,
                                       follow_redirects=False, trust_env=False)
            self._clients[key] = client
        return client


def _pinned(leader: Leader) -> ssl.SSLContext | bool:
    """Trust exactly the certificate the active node advertised (through the barrier)."""
    if not leader.api_addr.startswith("https://"):
        return False
    if not leader.tls_certificate:
        return True  # the system's trust store
    context = ssl.create_default_context(cadata=leader.tls_certificate)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the anchor
    context.check_hostname = False  # pinned to one certificate: stronger than a name check
    return context


def first_certificate(pem: str) -> str:
    """The first PEM certificate of a file (a listener's leaf), for advertising."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem.find(begin)
    stop = pem.find(end, start)
    return "" if start < 0 or stop < 0 else pem[start:stop + len(end)] + "\n"
