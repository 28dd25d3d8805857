"""The load generator against a tiny in-process HTTP server: counts, samples, storms, errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from bench.loadgen import run
from bench.loadspec import HttpRequest, LoadSpec

CERT_BODY = b'{"data": {"certificate": "-----BEGIN CERTIFICATE-----"}}'


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            body = await reader.readexactly(length)
            if b"fail" in body:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}")
            else:  # chunked, as Go's net/http answers larger bodies
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + f"{len(CERT_BODY):x}\r\n".encode() + CERT_BODY + b"\r\n0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


def _spec(port: int, **kwargs: object) -> LoadSpec:
    requests = (HttpRequest("POST", "/issue", '{"n": 1}'), HttpRequest("POST", "/issue", '{"n": 2}'))
    base: dict[str, object] = {"host": "127.0.0.1", "port": port, "requests": requests,
                               "server_pid": os.getpid(), "connections": 2, "warmup_s": 0.05,
                               "duration_s": 0.2, "sample": 3}
    return LoadSpec(**{**base, **kwargs})  # type: ignore[arg-type]


async def test_closed_loop_counts_and_samples(port: int) -> None:
    result = await run(_spec(port))
    assert result["ok"] > 0
    assert result["errors"] == 0
    assert result["status"] == {"200": result["ok"]}
    assert result["total_ok"] >= result["ok"]
    assert len(result["samples"]) == min(3, result["ok"])
    assert {s["index"] for s in result["samples"]} <= {0, 1}
    assert result["latency"]["count"] == result["ok"]


async def test_open_loop_serves_the_due_requests(port: int) -> None:
    result = await run(_spec(port, mode="open", rate=100.0))
    assert result["ok"] > 0
    assert result["errors"] == 0


async def test_wrong_answers_are_errors_not_throughput(port: int) -> None:
    result = await run(_spec(port, requests=(HttpRequest("POST", "/issue", '"fail"'),)))
    assert result["ok"] == 0
    assert result["errors"] > 0
    assert next(iter(result["error_kinds"])).startswith("http 400")


async def test_storm_renews_every_enrolled_agent(port: int) -> None:
    result = await run(_spec(port, mode="storm", agents=12, sample=12))
    assert (result["enrolled"], result["ok"], result["errors"]) == (12, 12, 0)
    assert result["makespan_s"] > 0
    assert all("previous" in s for s in result["samples"])
