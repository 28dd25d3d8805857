"""The load generator's HTTP/1.1 client: encoding, Content-Length and chunked bodies, keep-alive."""

from __future__ import annotations

import asyncio

import pytest
from bench.httpwire import ProtocolError, encode_request, parse_head, read_response


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_encode_request() -> None:
    raw = encode_request("POST", "127.0.0.1:8200", "/v1/pki/issue/x", b'{"a":1}', {"X-Vault-Token": "t"})
    head, body = raw.split(b"\r\n\r\n")
    assert head.split(b"\r\n") == [b"POST /v1/pki/issue/x HTTP/1.1", b"Host: 127.0.0.1:8200",
                                   b"Content-Length: 7", b"Content-Type: application/json",
                                   b"X-Vault-Token: t"]
    assert body == b'{"a":1}'


def test_parse_head() -> None:
    status, headers = parse_head(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: b")
    assert status == 204
    assert headers == {"content-length": "0", "x-a": "b"}
    with pytest.raises(ProtocolError):
        parse_head(b"SPDY/3 200 OK")


async def test_content_length_body_then_the_next_response() -> None:
    reader = _reader(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                     b"HTTP/1.1 400 Bad\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}")
    first = await read_response(reader)
    second = await read_response(reader)
    assert (first.status, first.body, first.keep_alive) == (200, b"hello", True)
    assert (second.status, second.body, second.keep_alive) == (400, b"{}", False)


async def test_chunked_body() -> None:
    reader = _reader(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n")
    response = await read_response(reader)
    assert response.body == b"abcdefg"


async def test_closed_mid_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        await read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
    with pytest.raises(ProtocolError):
        await read_response(_reader(b""))
