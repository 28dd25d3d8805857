"""A server of two worker processes behaves as one: every change made through one worker
holds in the other for every request that starts after it returned, use counts and
check-and-set are exact, the seal is shared and the audit log is one chain.

Each test talks over keep-alive connections known to be served by each worker
(``support.workers``), so a per-process cache would be caught, not hidden."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.server import ServerProcess
from support.workers import WORKERS_CONFIG, Conn, connections, workers_of

TRIALS = 8


def _init(server: ServerProcess) -> list[str]:
    """Initialise with 3 shares; give one share to each worker; return the keys."""
    first, second = _one_per_worker(server)
    status, init = first.request("PUT", "/v1/sys/init", {"secret_shares": 3, "secret_threshold": 2})
    assert status == 200, init
    server.root_token = init["root_token"]
    status, body = first.request("PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
    assert body["sealed"] and body["progress"] == 1
    status, body = second.request("GET", "/v1/sys/seal-status")
    assert body["sealed"] and body["progress"] == 1  # the other worker counts it too
    status, body = second.request("PUT", "/v1/sys/unseal", {"key": init["keys"][1]})
    assert status == 200 and not body["sealed"], body
    status, body = first.request("GET", "/v1/sys/seal-status")
    assert not body["sealed"]
    for conn in (first, second):
        conn.close()
    return list(init["keys"])


def _one_per_worker(server: ServerProcess, token: str = "") -> tuple[Conn, Conn]:
    conns = connections(server, 2, token)
    by_worker = {c.worker: c for c in conns}
    for c in conns:
        if by_worker[c.worker] is not c:
            c.close()
    first, second = by_worker.values()
    return first, second


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("workers")
    server = ServerProcess(workdir, dev=False, config_text=WORKERS_CONFIG)
    server.start()
    try:
        assert len(workers_of(server)) == 2
        _init(server)
        with server.http() as root:
            assert root.put("/v1/sys/audit/file", json={"type": "file", "options": {
                "file_path": str(workdir / "audit.log")}}).status_code == 204
            assert root.post("/v1/sys/mounts/secret", json={
                "type": "kv", "options": {"version": "2"}}).status_code == 204
        yield server
    finally:
        server.stop()


@pytest.fixture
def root(server: ServerProcess) -> Iterator[list[Conn]]:
    conns = connections(server, 4, server.root_token)
    yield conns
    for conn in conns:
        conn.close()


def _token(conn: Conn, **body: object) -> tuple[str, str]:
    status, resp = conn.request("POST", "/v1/auth/token/create", {"ttl": "1h", **body})
    assert status == 200, resp
    return resp["auth"]["client_token"], resp["auth"]["accessor"]


def _race(conns: list[Conn], call: Callable[[Conn], int], act: Callable[[], None],
          settle_s: float = 0.05) -> tuple[float, list[tuple[float, int, int]]]:
    """Run ``call`` in a loop on every connection while ``act`` runs once; returns when
    ``act`` returned and every (start time, worker, status) seen."""
    stop = threading.Event()
    seen: list[tuple[float, int, int]] = []
    lock = threading.Lock()

    def hammer(conn: Conn) -> None:
        while not stop.is_set():
            started = time.monotonic()
            status = call(conn)
            with lock:
                seen.append((started, conn.worker, status))

    with ThreadPoolExecutor(len(conns)) as pool:
        futures = [pool.submit(hammer, c) for c in conns]
        time.sleep(settle_s)
        act()
        returned = time.monotonic()
        time.sleep(settle_s * 2)
        wanted = {c.worker for c in conns}
        deadline = returned + 30  # a loaded machine: until every worker answered one more
        while time.monotonic() < deadline:
            with lock:
                if {w for started, w, _ in seen if started > returned} == wanted:
                    break
            time.sleep(0.01)
        stop.set()
        for f in futures:
            f.result()
    return returned, seen


def _after(returned: float, seen: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    return [s for s in seen if s[0] > returned]


def test_a_revoked_token_is_refused_by_every_worker_at_once(server: ServerProcess,
                                                            root: list[Conn]) -> None:
    for _ in range(TRIALS):
        token, _ = _token(root[0])
        users = connections(server, 4, token)
        for conn in users:  # every worker has it cached now
            assert conn.request("GET", "/v1/auth/token/lookup-self")[0] == 200

        def lookup(conn: Conn) -> int:
            return conn.request("GET", "/v1/auth/token/lookup-self")[0]

        revoker = root[len(root) - 1]
        returned, seen = _race(users, lookup, functools.partial(
            _call, revoker, "POST", "/v1/auth/token/revoke", {"token": token}))
        after = _after(returned, seen)
        assert {w for _, w, _ in after} == set(workers_of(server)), "both workers were asked"
        assert [s for s in after if s[2] < 400] == [], "served after the revoke returned"
        for conn in users:
            conn.close()


def test_children_made_in_one_worker_die_with_a_parent_revoked_in_another(
        server: ServerProcess, root: list[Conn]) -> None:
    for _ in range(TRIALS):
        parent, parent_accessor = _token(root[0])
        makers = connections(server, 4, parent)
        children: list[str] = []
        make_child = functools.partial(_make_child, children, threading.Lock())
        revoker = next(c for c in root if c.worker != makers[0].worker)
        returned, seen = _race(makers, make_child, functools.partial(
            _call, revoker, "POST", "/v1/auth/token/revoke-accessor", {"accessor": parent_accessor}))
        assert [s for s in _after(returned, seen) if s[2] < 400] == []
        assert children, "children were made before the revocation"
        for accessor in children:  # none outlives its parent, in either worker
            for conn in root[:2]:
                status, _ = conn.request("POST", "/v1/auth/token/lookup-accessor",
                                         {"accessor": accessor})
                assert status >= 400, f"child {accessor} survived its parent"
        for conn in makers:
            conn.close()


def test_a_policy_change_holds_in_every_worker_at_once(server: ServerProcess,
                                                       root: list[Conn]) -> None:
    _ok(root[0].request("POST", "/v1/secret/data/shared", {"data": {"v": "1"}}))
    allow = 'path "secret/data/shared" { capabilities = ["read"] }'
    deny = 'path "secret/data/shared" { capabilities = ["deny"] }'
    _ok(root[0].request("PUT", "/v1/sys/policies/acl/flip", {"policy": allow}))
    token, _ = _token(root[0], policies=["flip"])
    readers = connections(server, 4, token)
    for trial in range(TRIALS):
        now_denied = trial % 2 == 0
        for conn in readers:  # every worker has built the ACL
            assert conn.request("GET", "/v1/secret/data/shared")[0] == (200 if now_denied else 403)

        def read(conn: Conn) -> int:
            return conn.request("GET", "/v1/secret/data/shared")[0]

        writer = root[trial % len(root)]
        returned, seen = _race(readers, read, functools.partial(
            _call, writer, "PUT", "/v1/sys/policies/acl/flip", {"policy": deny if now_denied else allow}))
        after = _after(returned, seen)
        assert {w for _, w, _ in after} == set(workers_of(server))
        wanted = 403 if now_denied else 200
        assert {s[2] for s in after} == {wanted}, f"trial {trial}: {sorted({s[2] for s in after})}"
    for conn in readers:
        conn.close()


def test_mounts_enabled_and_disabled_in_one_worker_hold_in_the_other(root: list[Conn]) -> None:
    for trial in range(4):
        path = f"kv-{trial}"
        _ok(root[trial % 2].request("POST", f"/v1/sys/mounts/{path}", {"type": "kv"}))
        for conn in root:
            _ok(conn.request("PUT", f"/v1/{path}/k", {"v": conn.worker}))
            assert conn.request("GET", f"/v1/{path}/k")[0] == 200
        _ok(root[(trial + 1) % 2].request("DELETE", f"/v1/sys/mounts/{path}"))
        for conn in root:
            status, body = conn.request("GET", f"/v1/{path}/k")
            assert status == 404 and "no handler" in body["errors"][0], (conn.worker, body)


def test_a_role_change_holds_in_every_worker(root: list[Conn]) -> None:
    _ok(root[0].request("POST", "/v1/sys/mounts/pki-w", {"type": "pki",
                                                        "config": {"max_lease_ttl": "87600h"}}))
    _ok(root[0].request("POST", "/v1/pki-w/root/generate/internal",
                        {"common_name": "workers root", "key_type": "ec", "ttl": "87600h"}))
    for trial in range(4):
        domain = f"d{trial}.example"
        _ok(root[trial % 2].request("POST", "/v1/pki-w/roles/r", {
            "allowed_domains": domain, "allow_subdomains": True, "key_type": "ec", "ttl": "1h"}))
        for conn in root:
            assert conn.request("POST", "/v1/pki-w/issue/r", {"common_name": f"a.{domain}"})[0] == 200
            if trial:
                old = f"a.d{trial - 1}.example"
                assert conn.request("POST", "/v1/pki-w/issue/r", {"common_name": old})[0] == 400


def test_use_counts_are_exact_across_workers(server: ServerProcess, root: list[Conn]) -> None:
    for uses in (1, 3, 7):
        token, _ = _token(root[0], num_uses=uses)
        users = connections(server, 6, token)
        with ThreadPoolExecutor(len(users)) as pool:
            statuses = list(pool.map(
                lambda c: [c.request("GET", "/v1/auth/token/lookup-self")[0] for _ in range(4)],
                users))
        assert sum(s == 200 for each in statuses for s in each) == uses
        for conn in users:
            conn.close()


def test_a_wrapped_response_is_unwrapped_once_across_workers(server: ServerProcess,
                                                             root: list[Conn]) -> None:
    for _ in range(TRIALS):
        status, body = root[0].request("POST", "/v1/sys/wrapping/wrap", {"secret": "s3"})
        assert status == 200, body
        wrapping = body["wrap_info"]["token"]
        conns = connections(server, 6)
        unwrap = functools.partial(_request, "POST", "/v1/sys/wrapping/unwrap", None, wrapping)
        with ThreadPoolExecutor(len(conns)) as pool:
            results = list(pool.map(unwrap, conns))
        assert [s for s, _ in results].count(200) == 1, results
        for conn in conns:
            conn.close()


def test_kv_check_and_set_is_exact_across_workers(server: ServerProcess, root: list[Conn]) -> None:
    for trial in range(TRIALS):
        path = f"/v1/secret/data/cas-{trial}"
        _ok(root[0].request("POST", path, {"data": {"n": 0}}))
        writers = connections(server, 6, server.root_token)
        write = functools.partial(_request, "POST", path, {"options": {"cas": 1}, "data": {"n": 1}}, "")
        with ThreadPoolExecutor(len(writers)) as pool:
            results = [status for status, _ in pool.map(write, writers)]
        assert results.count(200) == 1, results
        assert root[1].request("GET", path)[1]["data"]["metadata"]["version"] == 2
        for conn in writers:
            conn.close()


def test_the_audit_log_is_one_verifiable_chain(server: ServerProcess, root: list[Conn]) -> None:
    before = (server.workdir / "audit.log").read_bytes().count(b"\n")
    with ThreadPoolExecutor(len(root)) as pool:
        list(pool.map(lambda c: [c.request("GET", "/v1/sys/mounts") for _ in range(25)], root))
    after = (server.workdir / "audit.log").read_bytes().count(b"\n")
    assert after - before >= 2 * 25 * len(root)  # every worker audits, request and response
    verified = server.cli("audit", "verify", str(server.workdir / "audit.log"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "chain intact" in verified.stdout


def test_sealing_through_one_worker_seals_every_worker(server_factory: Callable[..., ServerProcess],
                                                       tmp_path: Path) -> None:
    server = server_factory(dev=False, config_text=WORKERS_CONFIG).start()
    keys = _init(server)
    first, second = _one_per_worker(server, server.root_token)
    _ok(first.request("PUT", "/v1/sys/seal"))
    _, body = second.request("GET", "/v1/sys/seal-status")
    assert body["sealed"] is True
    assert second.request("GET", "/v1/sys/mounts")[0] == 503
    _ok(second.request("PUT", "/v1/sys/unseal", {"key": keys[2]}))
    _ok(first.request("PUT", "/v1/sys/unseal", {"key": keys[0]}))
    assert second.request("GET", "/v1/sys/mounts")[0] == 200
    first.close()
    second.close()
    assert server.stop() == 0


def _call(conn: Conn, method: str, path: str, body: object) -> None:
    _ok(conn.request(method, path, body))


def _request(method: str, path: str, body: object, token: str, conn: Conn) -> tuple[int, object]:
    return conn.request(method, path, body, token=token or None)


def _make_child(children: list[str], lock: threading.Lock, conn: Conn) -> int:
    status, body = conn.request("POST", "/v1/auth/token/create", {"ttl": "1h"})
    if status == 200:
        with lock:
            children.append(body["auth"]["accessor"])
    return status


def _ok(result: tuple[int, object]) -> None:
    status, body = result
    assert status < 300, (status, body)


def test_a_worker_that_dies_stops_the_server(server_factory: Callable[..., ServerProcess]) -> None:
    """Crash-only: the service manager restarts a whole server; nothing half-done remains."""
    import os
    import signal

    server = server_factory(dev=False, config_text=WORKERS_CONFIG).start()
    os.kill(workers_of(server)[0], signal.SIGKILL)
    assert server.proc is not None
    assert server.proc.wait(timeout=60) == 1
    assert "exited with status" in server.stderr()
