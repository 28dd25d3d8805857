"""A CRL of thousands of revocations, served by a real two-worker server: it lists exactly
the revoked serials, a revocation through one worker is on the CRL the other worker serves
before the revoke call returns, every racing revocation lands once, openssl accepts it,
and delta CRLs list what came after the complete CRL.

The store is filled in bulk while the server is stopped, in the engine's own format (the
revocation records, then ``crlindex.reindex`` as for a store written before the entries),
so the test stays fast; the 100,000-revocation figure is measured, not tested here."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from support.pki import run
from support.server import ServerProcess
from support.workers import WORKERS_CONFIG, Conn, connections
from warden.composition import build_core
from warden.core.view import StorageView
from warden.engines.pki import certstore, crl, crlindex
from warden.engines.pki.store import format_serial
from warden.logical.storage import Put
from warden.server.config import ServerConfig
from warden.storage.sqlite import SQLiteBackend

MOUNT = "pki"
BULK = 8000  # entries of ~40 bytes: several 64 KiB chunks, and a CRL larger than one part
RACERS = 24


def _ok(status_body: tuple[int, Any]) -> Any:
    status, body = status_body
    assert status in (200, 204), body
    return body


def _crl(conn: Conn, path: str = f"/v1/{MOUNT}/crl") -> x509.CertificateRevocationList:
    conn.http.request("GET", path)
    resp = conn.http.getresponse()
    body = resp.read()
    assert resp.status == 200, body[:300]
    return x509.load_der_x509_crl(body)


def _serials(crl_: x509.CertificateRevocationList) -> list[int]:
    return [r.serial_number for r in crl_]


async def _fill(workdir: Path, key: str, issuer_id: str, serials: list[int]) -> None:
    path = workdir / "data" / "warden.db"
    physical = SQLiteBackend(path)
    core = build_core(ServerConfig(storage={"path": str(path)}), physical)
    try:
        await core.unseal(bytes.fromhex(key))
        view = StorageView(core.barrier, core.mounts.secrets.entries[MOUNT + "/"].storage_prefix)
        ops = [Put(certstore.REVOKED_PREFIX + format_serial(s).replace(":", "-"), orjson.dumps({
            "serial_number": format_serial(s), "revocation_time": 1_800_000_000 + i, "issuer_id": issuer_id,
            "not_after": 1_900_000_000, "certificate": ""})) for i, s in enumerate(serials)]
        for start in range(0, len(ops), 500):
            await view.batch(ops[start:start + 500])
        assert await crlindex.reindex(view) == len(serials)
    finally:
        await core.shutdown()
        await physical.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("crl-scale")
    server = ServerProcess(workdir, dev=False, config_text=WORKERS_CONFIG).start()
    try:
        with server.http() as http:
            init = http.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
            assert http.put("/v1/sys/unseal", json={"key": init["keys"][0]}).status_code == 200
            http.headers["X-Vault-Token"] = server.root_token = init["root_token"]
            http.post(f"/v1/sys/mounts/{MOUNT}", json={"type": "pki"}).raise_for_status()
            root = http.post(f"/v1/{MOUNT}/root/generate/internal", json={
                "common_name": "Scale Root", "key_type": "ec", "ttl": "700h"}).json()["data"]
            http.post(f"/v1/{MOUNT}/roles/svc", json={"allow_any_name": True, "key_type": "ec",
                                                      "ttl": "24h"}).raise_for_status()
            leaves = [http.post(f"/v1/{MOUNT}/issue/svc", json={"common_name": f"leaf{i}.svc"}).json()["data"]
                      for i in range(RACERS + 2)]
        server.stop()
        bulk = sorted({secrets.randbits(152) | 1 << 152 for _ in range(BULK)})
        asyncio.run(_fill(workdir, init["keys"][0], root["issuer_id"], bulk))
        server.start()
        with server.http() as http:
            assert http.put("/v1/sys/unseal", json={"key": init["keys"][0]}).status_code == 200
        _await_unsealed_workers(server)
        yield {"server": server, "root": root, "leaves": leaves, "bulk": bulk, "workdir": workdir,
               "revoked": set()}  # the leaves the tests revoked, in whatever order they ran
    finally:
        server.stop()


def _await_unsealed_workers(server: ServerProcess) -> None:
    """Both workers unsealed (a worker that was still starting when the unseal call returned
    adopts the shared seal a moment later; see the report of this test's branch)."""
    conns = connections(server, 2)
    deadline = time.monotonic() + 20
    try:
        for conn in conns:
            while _ok(conn.request("GET", "/v1/sys/seal-status"))["sealed"]:
                assert time.monotonic() < deadline, "a worker stayed sealed"
                time.sleep(0.05)
    finally:
        for conn in conns:
            conn.close()


def _leaf_serial(leaf: dict[str, Any]) -> int:
    return int(leaf["serial_number"].replace(":", ""), 16)


def test_the_crl_lists_exactly_the_revoked_serials(world: dict[str, Any]) -> None:
    server: ServerProcess = world["server"]
    conn = connections(server, 1)[0]
    _ok(conn.request("GET", f"/v1/{MOUNT}/crl/rotate", token=server.root_token))
    served = _crl(conn)
    assert sorted(_serials(served)) == sorted([*world["bulk"], *world["revoked"]])
    ca = x509.load_pem_x509_certificate(world["root"]["certificate"].encode())
    assert served.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert len(served.public_bytes(serialization.Encoding.DER)) > crl.INLINE_BYTES  # in parts
    for path in (f"/v1/{MOUNT}/issuer/default/crl/der", f"/v1/{MOUNT}/crl/pem"):
        conn.http.request("GET", path)
        body = conn.http.getresponse().read()
        other = x509.load_pem_x509_crl(body) if path.endswith("pem") else x509.load_der_x509_crl(body)
        assert other == served


def test_racing_revocations_through_both_workers_each_land_once_and_at_once(world: dict[str, Any]) -> None:
    server: ServerProcess = world["server"]
    racers = world["leaves"][:RACERS]
    conns = connections(server, 2, server.root_token)
    by_worker = {c.worker: c for c in conns}
    assert len(by_worker) == 2

    def revoke(pair: tuple[int, dict[str, Any]]) -> None:
        index, leaf = pair
        mine = Conn(server, server.root_token)
        reader = Conn(server)
        try:
            while index % 2 == 0 and reader.worker == mine.worker:  # half read from the other worker
                reader.close()
                reader = Conn(server)
            _ok(mine.request("POST", f"/v1/{MOUNT}/revoke", {"serial_number": leaf["serial_number"]}))
            # the revoke returned: the CRL fetched now lists it
            assert _leaf_serial(leaf) in _serials(_crl(reader))
        finally:
            mine.close()
            reader.close()

    with ThreadPoolExecutor(8) as pool:  # each certificate revoked twice, all at once
        list(pool.map(revoke, list(enumerate(racers * 2))))
    world["revoked"].update(map(_leaf_serial, racers))
    final = _serials(_crl(conns[0]))
    assert len(final) == len(set(final))  # no revocation listed twice
    assert sorted(final) == sorted([*world["bulk"], *world["revoked"]])
    for conn in conns:
        conn.close()


def test_openssl_checks_the_large_crl(world: dict[str, Any], tmp_path: Path) -> None:
    server: ServerProcess = world["server"]
    revoked, good = world["leaves"][0], world["leaves"][-1]
    conn = connections(server, 1, server.root_token)[0]
    _ok(conn.request("POST", f"/v1/{MOUNT}/revoke", {"serial_number": revoked["serial_number"]}))
    world["revoked"].add(_leaf_serial(revoked))
    conn.http.request("GET", f"/v1/{MOUNT}/crl/pem")
    (tmp_path / "crl.pem").write_bytes(conn.http.getresponse().read())
    (tmp_path / "root.pem").write_text(world["root"]["certificate"])
    (tmp_path / "revoked.pem").write_text(revoked["certificate"])
    (tmp_path / "good.pem").write_text(good["certificate"])
    out = run(["openssl", "crl", "-in", "crl.pem", "-CAfile", "root.pem", "-noout"], cwd=tmp_path)
    assert "verify OK" in (out.stdout + out.stderr).decode()
    ok = run(["openssl", "verify", "-crl_check", "-CAfile", "root.pem", "-CRLfile", "crl.pem", "good.pem"],
             cwd=tmp_path)
    assert b"good.pem: OK" in ok.stdout
    bad = run(["openssl", "verify", "-crl_check", "-CAfile", "root.pem", "-CRLfile", "crl.pem",
               "revoked.pem"], cwd=tmp_path, check=False)
    assert bad.returncode != 0 and b"certificate revoked" in bad.stdout + bad.stderr
    _lint(tmp_path / "crl.pem")
    conn.close()


def _lint(path: Path) -> None:
    out = run(["lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "NOTICE", str(path)], cwd=path.parent,
              check=False)
    assert out.stdout.decode().strip() == "", out.stdout.decode()


def test_delta_crls_over_the_large_crl(world: dict[str, Any], tmp_path: Path) -> None:
    server: ServerProcess = world["server"]
    conns = connections(server, 2, server.root_token)
    first, second = conns[0], conns[-1]
    _ok(first.request("POST", f"/v1/{MOUNT}/config/crl", {"auto_rebuild": True, "enable_delta": True}))
    complete = _crl(second)
    leaf = world["leaves"][-2]
    _ok(first.request("POST", f"/v1/{MOUNT}/revoke", {"serial_number": leaf["serial_number"]}))
    world["revoked"].add(_leaf_serial(leaf))
    for path in (f"/v1/{MOUNT}/crl/delta", f"/v1/{MOUNT}/issuer/default/crl/delta/der"):
        delta = _crl(second, path)
        assert _serials(delta) == [_leaf_serial(leaf)]
        indicator = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
        base = complete.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert indicator.critical and indicator.value.crl_number == base
    assert _leaf_serial(leaf) not in _serials(_crl(second))  # auto_rebuild: the complete CRL waits
    second.http.request("GET", f"/v1/{MOUNT}/crl/delta/pem")
    (tmp_path / "delta.pem").write_bytes(second.http.getresponse().read())
    (tmp_path / "root.pem").write_text(world["root"]["certificate"])
    out = run(["openssl", "crl", "-in", "delta.pem", "-CAfile", "root.pem", "-text", "-noout"], cwd=tmp_path)
    text = (out.stdout + out.stderr).decode()
    assert "verify OK" in text and "Delta CRL Indicator" in text
    _lint(tmp_path / "delta.pem")
    _ok(first.request("POST", f"/v1/{MOUNT}/config/crl", {"auto_rebuild": False, "enable_delta": False}))
    for conn in conns:
        conn.close()


def test_no_stored_value_grows_with_the_crl(world: dict[str, Any]) -> None:
    conn = connections(world["server"], 1, world["server"].root_token)[0]
    _ok(conn.request("GET", f"/v1/{MOUNT}/crl/rotate"))
    conn.close()
    db = sqlite3.connect(f"file:{world['workdir'] / 'data' / 'warden.db'}?mode=ro", uri=True)
    try:  # ciphertext sizes, as the physical store holds them
        key, size = db.execute("SELECT key, length(value) FROM kv ORDER BY length(value) DESC").fetchone()
    finally:
        db.close()
    served = _crl(connections(world["server"], 1)[0]).public_bytes(serialization.Encoding.DER)
    assert len(served) > crl.PART_BYTES  # the CRL is larger than any one value...
    assert size <= crl.PART_BYTES + 1024, key  # ...because it is stored in parts
