"""Audit through the real core: hashed secrets, clear certificate facts, fail-closed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from support.corekit import Kit, unsealed_core
from warden.audit.verify import verify_file
from warden.framework import Backend, FieldData
from warden.framework import Path as ApiPath
from warden.logical.backend import BackendConfig
from warden.logical.errors import CodedError, InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

R, U, D = Operation.READ, Operation.UPDATE, Operation.DELETE


def issuing_backend(conf: BackendConfig) -> Backend:
    async def issue(req: Request, data: FieldData) -> Response:
        return Response(data={"private_key": "KEY-MATERIAL", "serial_number": "01:02"},
                        audit={"certificate": {"serial_number": "01:02", "subject": "CN=web",
                                               "role": "web", "accessor": req.accessor}})

    return Backend(paths=[ApiPath("issue", operations={U: issue})])


@pytest.fixture
async def kit(tmp_path: Path) -> Kit:
    kit = await unsealed_core()
    await kit.call(U, "sys/audit/file", type="file",
                   options={"file_path": str(tmp_path / "audit.log")})
    return kit


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in (tmp_path / "audit.log").read_bytes().splitlines()]


async def test_every_request_and_response_is_logged_with_secrets_hashed(
        kit: Kit, tmp_path: Path) -> None:
    resp = await kit.call(U, "auth/token/create", policies=["default"], meta={"owner": "ops"})
    assert resp is not None and resp.auth is not None
    token = resp.auth.client_token
    raw = (tmp_path / "audit.log").read_bytes()
    assert token.encode() not in raw and kit.root.encode() not in raw
    entries = lines(tmp_path)
    request, response = entries[-2], entries[-1]
    assert request["type"] == "request" and response["type"] == "response"
    assert request["request"]["id"] == response["request"]["id"]
    assert request["request"]["path"] == "auth/token/create"
    assert request["auth"]["client_token"].startswith("hmac-sha256:")
    hashed = await kit.call(U, "sys/audit-hash/file", input=token)
    assert hashed is not None and hashed.data is not None
    assert response["response"]["auth"]["client_token"] == hashed.data["hash"]
    assert verify_file(str(tmp_path / "audit.log")).ok


async def test_refused_requests_are_logged_with_their_error(kit: Kit, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        await kit.call(R, "sys/mounts", as_token="bogus-token-value")
    last = lines(tmp_path)[-1]
    assert last["error"] == "permission denied" and last["request"]["path"] == "sys/mounts"
    assert "bogus-token-value" not in (tmp_path / "audit.log").read_text()


async def test_certificate_facts_are_logged_in_clear_but_keys_are_not(kit: Kit,
                                                                      tmp_path: Path) -> None:
    kit.core.registry.secrets["issuer"] = issuing_backend  # type: ignore[index]
    await kit.call(U, "sys/mounts/pki", type="issuer")
    await kit.call(U, "pki/issue")
    last = lines(tmp_path)[-1]
    assert last["certificate"]["subject"] == "CN=web"
    assert last["certificate"]["serial_number"] == "01:02"
    assert last["response"]["data"]["private_key"].startswith("hmac-sha256:")
    assert b"KEY-MATERIAL" not in (tmp_path / "audit.log").read_bytes()


async def test_log_raw_and_unhashed_accessors(kit: Kit, tmp_path: Path) -> None:
    await kit.call(U, "sys/audit/raw", type="file",
                   options={"file_path": str(tmp_path / "raw.log"), "log_raw": "true"})
    await kit.call(R, "auth/token/lookup-self")
    raw = [orjson.loads(x) for x in (tmp_path / "raw.log").read_bytes().splitlines()]
    assert raw[-1]["auth"]["client_token"] == kit.root


async def test_no_writable_device_means_no_service(kit: Kit, tmp_path: Path) -> None:
    received: list[bytes] = []

    async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            received.append(line)
        writer.close()

    listener = await asyncio.start_server(collect, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    await kit.call(U, "sys/audit/net", type="socket", options={"address": f"127.0.0.1:{port}"})
    await kit.call(D, "sys/audit/file")
    listener.close()
    await listener.wait_closed()
    for writer in list(asyncio.all_tasks()):
        if writer.get_coro().__name__ == "collect":  # type: ignore[union-attr]
            writer.cancel()
    await kit.core.audit.reopen()  # drop the live connection, as a network failure would
    with pytest.raises(CodedError) as exc:
        await kit.call(U, "sys/policy/never", policy='path "x" { capabilities = ["read"] }')
    assert exc.value.status == 500
    assert await kit.core.policies.get("never") is None
    listener = await asyncio.start_server(collect, "127.0.0.1", port)
    await kit.call(U, "sys/policy/now", policy='path "x" { capabilities = ["read"] }')
    assert await kit.core.policies.get("now") is not None
    listener.close()
    assert any(b"sys/policy/now" in line for line in received)


async def test_bad_device_options_are_refused(kit: Kit, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="file_path"):
        await kit.call(U, "sys/audit/x", type="file", options={})
    with pytest.raises(InvalidRequest, match="unknown audit device type"):
        await kit.call(U, "sys/audit/x", type="syslog2", options={})
    with pytest.raises(InvalidRequest, match="mode"):
        await kit.call(U, "sys/audit/x", type="file",
                       options={"file_path": str(tmp_path / "x.log"), "mode": "rw"})
    with pytest.raises(InvalidRequest, match="already enabled"):
        await kit.call(U, "sys/audit/file", type="file",
                       options={"file_path": str(tmp_path / "y.log")})


async def test_a_race_for_a_tokens_last_use_is_logged_for_both_requests(
        kit: Kit, tmp_path: Path) -> None:
    token = await kit.token(num_uses=1, policies=["default"])
    before = len(lines(tmp_path))
    results = await asyncio.gather(
        kit.call(R, "auth/token/lookup-self", as_token=token),
        kit.call(R, "auth/token/lookup-self", as_token=token), return_exceptions=True)
    assert sum(isinstance(r, PermissionDenied) for r in results) == 1
    entries = lines(tmp_path)[before:]
    kinds = [e["type"] for e in entries]
    assert kinds.count("request") == kinds.count("response") == 2
    refused = [e for e in entries if e["type"] == "response" and e["error"]]
    assert len(refused) == 1 and refused[0]["error"].startswith("permission denied")
