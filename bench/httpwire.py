"""A minimal HTTP/1.1 keep-alive client on asyncio streams: just enough to drive two servers.

Requests are encoded once before a run, so the load generator spends its CPU on sockets,
not on building requests; responses are read by Content-Length or chunked encoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

_MAX_HEADER = 64 * 1024


class ProtocolError(Exception):
    """The peer sent something this client does not understand, or closed mid-response."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    body: bytes
    keep_alive: bool


def encode_request(method: str, host: str, path: str, body: bytes,
                   headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed before a response") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too long") from exc
    status, headers = parse_head(head[:-4])
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed mid-body") from exc
    keep_alive = headers.get("connection", "").lower() != "close"
    return RawResponse(status, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (none expected) end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Connection:
    """One keep-alive connection; reconnects by itself after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port,
                                                                   limit=_MAX_HEADER)
        self.connects += 1

    async def request(self, raw: bytes) -> RawResponse:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(raw)
            response = await read_response(self._reader)
        except (OSError, ProtocolError):
            await self.close()
            raise
        if not response.keep_alive:
            await self.close()
        return response

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
