"""tidy against a real server, as Vault's clients see it: 202 and a warning, then tidy-status
Running → Finished with counts; tidy-cancel (Cancelling → Cancelled); a second tidy refused
while one runs; issuance served during a tidy; bad input answered in Vault's error shape;
and with two worker processes, a tidy started in one is seen, refused and cancelled from the
other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import hvac
import pytest

from support.server import ServerProcess
from support.workers import WORKERS_CONFIG, Conn, connections, workers_of

MOUNT = "pki-tidy"
STARTED = ("Tidy operation successfully started. Any information from the operation will be printed "
           "to Vault's server logs.")
EXPIRED_TTL_S = 1


@pytest.fixture(scope="module")
def client(dev_server: ServerProcess) -> Iterator[hvac.Client]:
    client = dev_server.client()
    client.sys.enable_secrets_engine("pki", path=MOUNT)
    client.secrets.pki.generate_root("internal", "Tidy Root", extra_params={"ttl": "8760h", "key_type": "ec"},
                                     mount_point=MOUNT)
    client.secrets.pki.create_or_update_role("short", extra_params={
        "allow_any_name": True, "key_type": "ec", "not_before_duration": "1s"}, mount_point=MOUNT)
    yield client


def _issue(client: hvac.Client, n: int, ttl: str = "1h") -> list[str]:
    return [client.secrets.pki.generate_certificate("short", f"c{i}.test", extra_params={"ttl": ttl},
                                                    mount_point=MOUNT)["data"]["serial_number"]
            for i in range(n)]


def _expired(client: hvac.Client, n: int) -> list[str]:
    serials = _issue(client, n, ttl=f"{EXPIRED_TTL_S}s")
    time.sleep(EXPIRED_TTL_S + 1.5)  # expired, and past a 1s safety buffer
    return serials


def _status(client: hvac.Client) -> dict[str, Any]:
    return dict(client.read(f"{MOUNT}/tidy-status")["data"])


def _wait_done(client: hvac.Client, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := _status(client))["state"] in ("Running", "Cancelling"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def _tidy(client: hvac.Client, **params: Any) -> Any:
    """hvac hands back the HTTP response for a 202, the decoded body for a 200."""
    return client.secrets.pki.tidy(extra_params={"tidy_cert_store": True, "safety_buffer": "1s", **params},
                                   mount_point=MOUNT)


def _listed(client: hvac.Client) -> set[str]:
    return set(client.secrets.pki.list_certificates(mount_point=MOUNT)["data"]["keys"])


def test_tidy_runs_in_the_background_while_issuance_continues(client: hvac.Client) -> None:
    expired = _expired(client, 12)
    resp = _tidy(client, pause_duration="500ms")  # 12 certificates: about 6 s
    assert resp.status_code == 202
    assert resp.json()["warnings"] == [STARTED] and resp.json()["data"] is None
    running = _status(client)
    assert running["state"] == "Running" and running["tidy_cert_store"] is True
    assert running["pause_duration"] == "500ms" and running["safety_buffer"] == 1
    assert running["time_started"] and running["time_finished"] is None

    fresh = _issue(client, 4)  # served while the tidy runs
    again = _tidy(client)
    assert again["warnings"] == ["Tidy operation already in progress."] and again["data"] is None
    assert _status(client)["state"] == "Running", "the tidy finished before issuance was tried"

    done = _wait_done(client)
    assert done["state"] == "Finished" and done["error"] is None and done["time_finished"]
    assert done["cert_store_deleted_count"] == 12 and done["revoked_cert_deleted_count"] == 0
    listed = _listed(client)
    assert not listed & set(expired) and set(fresh) <= listed


def test_cancel_stops_the_running_tidy(client: hvac.Client) -> None:
    expired = _expired(client, 6)
    assert _tidy(client, pause_duration="2s").status_code == 202
    cancel = client.adapter.post(f"/v1/{MOUNT}/tidy-cancel")
    assert cancel["data"]["state"] == "Cancelling" and cancel["data"]["time_finished"] is None
    done = _wait_done(client)
    assert done["state"] == "Cancelled" and done["time_finished"]
    assert done["cert_store_deleted_count"] < 6
    assert len(set(expired) & _listed(client)) == 6 - done["cert_store_deleted_count"]
    idle = client.adapter.post(f"/v1/{MOUNT}/tidy-cancel")
    assert idle["warnings"] == ["Tidy operation cannot be cancelled as none is currently running."]
    assert _tidy(client).status_code == 202  # the slot is free again
    assert _wait_done(client)["state"] == "Finished"
    assert not set(expired) & _listed(client)


@pytest.mark.parametrize(("params", "named"), [
    ({"pause_duration": "-1s"}, "pause_duration"),
    ({"pause_duration": "a while"}, "pause_duration"),
    ({"page_size": 2}, "page_size"),
    ({"tidy_cert_store": False}, "tidy_cert_store"),
    ({"safety_buffer": "soon"}, "safety_buffer"),
])
def test_bad_tidy_input_is_a_400_in_vaults_shape(dev_server: ServerProcess, client: hvac.Client,
                                                  params: dict[str, Any], named: str) -> None:
    resp = dev_server.http().post(f"/v1/{MOUNT}/tidy", json={"tidy_cert_store": True, **params})
    assert resp.status_code == 400
    body = resp.json()
    assert list(body) == ["errors"] and named in body["errors"][0]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Conn, Conn]]:
    server = ServerProcess(tmp_path_factory.mktemp("tidy-workers"), dev=False, config_text=WORKERS_CONFIG)
    server.start()
    conns: list[Conn] = []
    try:
        assert len(workers_of(server)) == 2
        conns = connections(server, 2)
        status, init = conns[0].request("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        assert status == 200, init
        status, body = conns[0].request("PUT", "/v1/sys/unseal", {"key": init["keys"][0]})
        assert status == 200 and not body["sealed"], body
        by_worker = {c.worker: c for c in conns}
        first, second = by_worker.values()
        for conn in (first, second):
            conn.token = init["root_token"]
        assert first.request("POST", f"/v1/sys/mounts/{MOUNT}", {"type": "pki"})[0] == 204
        assert first.request("POST", f"/v1/{MOUNT}/root/generate/internal",
                             {"common_name": "Workers Root", "key_type": "ec", "ttl": "8760h"})[0] == 200
        role = {"allow_any_name": True, "key_type": "ec", "not_before_duration": "1s"}
        assert first.request("POST", f"/v1/{MOUNT}/roles/short", role)[0] == 200
        yield first, second
    finally:
        for conn in conns:
            conn.close()
        server.stop()


def test_a_tidy_in_one_worker_is_seen_refused_and_cancelled_from_the_other(
        two_workers: tuple[Conn, Conn]) -> None:
    first, second = two_workers
    for i in range(6):
        status, body = first.request("POST", f"/v1/{MOUNT}/issue/short", {"common_name": f"w{i}.test",
                                                                          "ttl": "1s"})
        assert status == 200, body
    time.sleep(EXPIRED_TTL_S + 1.5)
    status, body = first.request("POST", f"/v1/{MOUNT}/tidy", {"tidy_cert_store": True, "safety_buffer": "1s",
                                                               "pause_duration": "2s"})
    assert status == 202 and body["warnings"] == [STARTED]
    status, body = second.request("GET", f"/v1/{MOUNT}/tidy-status")
    assert status == 200 and body["data"]["state"] == "Running"
    status, body = second.request("POST", f"/v1/{MOUNT}/tidy", {"tidy_cert_store": True})
    assert status == 200 and body["warnings"] == ["Tidy operation already in progress."]
    status, body = second.request("POST", f"/v1/{MOUNT}/issue/short",
                                  {"common_name": "during.test", "ttl": "1h"})
    assert status == 200, body
    status, body = second.request("POST", f"/v1/{MOUNT}/tidy-cancel")
    assert status == 200 and body["data"]["state"] == "Cancelling"
    deadline = time.monotonic() + 60
    while (body := first.request("GET", f"/v1/{MOUNT}/tidy-status")[1])["data"]["state"] == "Cancelling":
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert body["data"]["state"] == "Cancelled" and body["data"]["cert_store_deleted_count"] < 6
