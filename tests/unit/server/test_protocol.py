"""The HTTP protocol's transport wrapper: one send per response."""

from __future__ import annotations

from typing import Any

from warden.server.protocol import _OneSendPerResponse


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def test_headers_wait_for_the_body() -> None:
    inner = _Recorder()
    transport = _OneSendPerResponse(inner)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert inner.writes == []
    transport.write(b"{}")
    transport.write(b"more")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"more"]
    assert transport.get_extra_info("peername") == "info:peername"


def test_a_continue_goes_out_at_once_and_close_flushes() -> None:
    inner = _Recorder()
    transport = _OneSendPerResponse(inner)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    transport.close()
    assert inner.writes[-1] == b"HTTP/1.1 500 Internal Server Error\r\n\r\n" and inner.closed
