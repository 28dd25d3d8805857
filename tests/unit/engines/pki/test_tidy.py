"""tidy removes expired certificates and revocations past the safety buffer, and nothing else;
it runs in the background (202), reports through tidy-status, stops on tidy-cancel, and pauses
through the mount's clock."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from cryptography import x509

from support.pki import HOUR, PkiKit
from warden.engines.pki import path_tidy, tidy
from warden.engines.pki.backend import PkiBackend
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation

T0 = 1_800_000_000.0


async def _crl_serials(kit: PkiKit) -> set[int]:
    resp = await kit.read("crl")
    assert resp is not None and resp.raw is not None
    return {r.serial_number for r in x509.load_der_x509_crl(resp.raw.body)}


async def _world() -> tuple[PkiKit, FrozenClock, dict[str, Any]]:
    """A: expired long ago; B: expired long ago and revoked; C: expired within the buffer;
    D: valid; E: valid and revoked."""
    clock = FrozenClock(start=T0)
    kit = PkiKit(clock=clock, max_ttl=87600 * HOUR)
    root = await kit.root("ec", ttl="8760h")
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    certs = {name: await kit.data("issue/web", common_name=f"{name.lower()}.example.com", ttl=ttl)
             for name, ttl in (("A", "1h"), ("B", "1h"), ("C", "100h"), ("D", "1000h"), ("E", "1000h"))}
    for name in ("B", "E"):
        await kit.data("revoke", serial_number=certs[name]["serial_number"])
    clock.advance(100 * HOUR + 1)  # A, B expired 99h ago (> 72h buffer); C just now
    return kit, clock, {"root": root, **certs}


async def _tidy(kit: PkiKit, **params: Any) -> Any:
    """Start a tidy (202 and Vault's warning), wait for the background job, return its status."""
    resp = await kit.write("tidy", **params)
    assert (resp.status, resp.warnings, resp.data) == (202, [path_tidy.STARTED], None)
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    return await kit.get("tidy-status")


def _serials(world: dict[str, Any], *names: str) -> set[str]:
    return {world[n]["serial_number"] for n in names}


async def test_tidy_removes_what_it_should_and_nothing_else() -> None:
    kit, _, w = await _world()
    issuers_before = await kit.list("issuers")
    status = await _tidy(kit, tidy_cert_store=True, tidy_revoked_certs=True)
    assert status["state"] == "Finished" and status["error"] is None and status["time_finished"]
    assert status["cert_store_deleted_count"] == 2 and status["revoked_cert_deleted_count"] == 1
    assert set(await kit.list("certs")) == _serials(w, "root", "C", "D", "E")
    revoked = await kit.call(Operation.LIST, "certs/revoked")
    assert revoked is not None and set(revoked.data["keys"]) == _serials(w, "E")  # type: ignore[index]
    assert await _crl_serials(kit) == {int(w["E"]["serial_number"].replace(":", ""), 16)}
    assert await kit.list("issuers") == issuers_before
    by_role = await kit.call(Operation.LIST, "certs/by-role/web")
    assert by_role is not None and set(by_role.data["keys"]) == _serials(w, "C", "D", "E")  # type: ignore[index]
    expiring = await kit.call(Operation.LIST, "certs/expiring", after="2000-01-01T00:00:00Z",
                              before="2100-01-01T00:00:00Z")
    assert expiring is not None and set(expiring.data["keys"]) == _serials(w, "root", "C", "D", "E")  # type: ignore[index]
    assert (await kit.get("tidy-status"))["cert_store_deleted_count"] == 2


async def test_tidy_cert_store_alone_keeps_revocations_on_the_crl() -> None:
    kit, _, w = await _world()
    await _tidy(kit, tidy_cert_store=True)
    assert w["B"]["serial_number"] not in await kit.list("certs")
    assert int(w["B"]["serial_number"].replace(":", ""), 16) in await _crl_serials(kit)


async def test_safety_buffer_and_expired_issuers() -> None:
    kit, clock, w = await _world()
    await _tidy(kit, tidy_cert_store=True, safety_buffer="200h")
    assert set(await kit.list("certs")) == _serials(w, "root", "A", "B", "C", "D", "E")
    spare = await kit.data("root/generate/internal", common_name="Spare", key_type="ec", ttl="10h")
    clock.advance(20 * HOUR)
    status = await _tidy(kit, tidy_expired_issuers=True, issuer_safety_buffer="1h")
    assert status["issuers_deleted_count"] == 1
    assert spare["issuer_id"] not in await kit.list("issuers")
    assert w["root"]["issuer_id"] in await kit.list("issuers")  # the default issuer is never tidied
    assert "at least one of" in await kit.refused("tidy")


async def test_auto_tidy_runs_from_the_periodic_task() -> None:
    kit, clock, w = await _world()
    auto = await kit.data("config/auto-tidy", enabled=True, interval_duration="1h", tidy_cert_store=True)
    assert auto["enabled"] and auto["tidy_cert_store"]
    await kit.pki.periodic()  # an interval has passed since start-up: tidy starts
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    assert w["A"]["serial_number"] not in await kit.list("certs")
    first = (await kit.get("tidy-status"))["time_finished"]
    clock.advance(600)
    await kit.pki.periodic()  # within the interval: nothing runs
    assert (await kit.get("tidy-status"))["time_finished"] == first
    clock.advance(HOUR)
    await kit.pki.periodic()
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    status = await kit.get("tidy-status")
    assert status["time_finished"] != first and status["last_auto_tidy_finished"] == status["time_finished"]


async def test_status_before_any_tidy_is_inactive_with_null_fields() -> None:
    kit = PkiKit()
    status = await kit.get("tidy-status")
    assert status["state"] == "Inactive"
    assert status["tidy_cert_store"] is None and status["cert_store_deleted_count"] is None
    resp = await kit.write("tidy-cancel")
    assert resp.data is None and resp.warnings == [path_tidy.NOT_RUNNING]


async def test_without_pause_duration_it_rests_after_each_step_on_the_mount_clock() -> None:
    kit, clock, _ = await _world()
    before = clock.time()
    status = await _tidy(kit, tidy_cert_store=True)
    assert status["cert_store_deleted_count"] == 2
    # a rest after the one step (2 certificates) and one between phases: gaps for the
    # store's writer (see tidy.REST_S), on the mount's clock
    assert clock.time() - before == pytest.approx(2 * tidy.REST_S)


async def _paused_world(pause: str) -> tuple[PkiKit, FrozenClock, dict[str, Any]]:
    kit, clock, w = await _world()
    resp = await kit.write("tidy", tidy_cert_store=True, tidy_revoked_certs=True, pause_duration=pause)
    assert resp.status == 202
    return kit, clock, w


async def test_pause_duration_sleeps_on_the_mount_clock_between_certificates() -> None:
    kit, clock, _ = await _paused_world("90s")
    before = clock.time()
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    status = await kit.get("tidy-status")
    assert status["state"] == "Finished" and status["pause_duration"] == "1m30s"
    # 2 expired certificates, then 2 revocations checked: one pause before each
    assert clock.time() - before == 4 * 90


async def test_cancel_stops_a_running_tidy_between_certificates() -> None:
    kit, _, w = await _paused_world("10m")
    again = await kit.write("tidy", tidy_cert_store=True)  # refused while one runs, as Vault does
    assert (again.status, again.warnings, again.data) == (0, [path_tidy.ALREADY_RUNNING], None)
    cancelling = await kit.data("tidy-cancel")
    assert cancelling["state"] == "Cancelling" and cancelling["time_finished"] is None
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    status = await kit.get("tidy-status")
    assert status["state"] == "Cancelled" and status["time_finished"] is not None
    assert status["cert_store_deleted_count"] == 0  # it stopped at the first checkpoint
    assert set(await kit.list("certs")) >= _serials(w, "A", "B")
    resp = await kit.write("tidy-cancel")
    assert resp.warnings == [path_tidy.NOT_RUNNING]


async def test_a_run_whose_process_died_reads_as_error_and_frees_the_slot() -> None:
    kit, clock, _ = await _paused_world("1h")
    stored = await tidy.read_status(kit.storage)
    assert stored.state == tidy.RUNNING
    job, kit.pki.tidy_job = kit.pki.tidy_job, None
    assert job is not None
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    await kit.storage.put(tidy.STATUS_KEY, stored.encode())  # its process vanished without a word
    assert (await kit.get("tidy-status"))["state"] == "Running"
    assert (await kit.write("tidy", tidy_cert_store=True)).warnings == [path_tidy.ALREADY_RUNNING]
    clock.advance(HOUR + tidy.ALIVE_GRACE_S + 1)  # past its pause and the grace: nobody renewed it
    status = await kit.get("tidy-status")
    assert status["state"] == "Error" and "stopped before it finished" in status["error"]
    assert (await _tidy(kit, tidy_cert_store=True))["state"] == "Finished"


async def test_another_worker_sees_the_run_refuses_a_second_and_can_cancel_it() -> None:
    """Two backends over one storage: two worker processes of one server."""
    kit, _, _ = await _paused_world("10m")
    other = PkiBackend(kit.pki.conf)
    status = await other.backend.handle_request(kit.request(Operation.READ, "tidy-status"))
    assert status is not None and status.data is not None and status.data["state"] == "Running"
    second = await other.backend.handle_request(kit.request(Operation.UPDATE, "tidy", tidy_cert_store=True))
    assert second is not None and second.warnings == [path_tidy.ALREADY_RUNNING] and other.tidy_job is None
    cancel = await other.backend.handle_request(kit.request(Operation.UPDATE, "tidy-cancel"))
    assert cancel is not None and cancel.data is not None and cancel.data["state"] == "Cancelling"
    assert kit.pki.tidy_job is not None
    await kit.pki.tidy_job
    assert (await kit.get("tidy-status"))["state"] == "Cancelled"


async def test_bad_pause_duration_and_page_size_are_refused() -> None:
    kit = PkiKit()
    assert "pause_duration" in await kit.refused("tidy", tidy_cert_store=True, pause_duration="-1s")
    assert "pause_duration" in await kit.refused("tidy", tidy_cert_store=True, pause_duration="soon")
    assert "page_size" in await kit.refused("tidy", tidy_cert_store=True, page_size=2)
    assert "no tidy operations" in await kit.refused("config/auto-tidy", enabled=True)


async def test_small_pages_remove_everything_that_expired() -> None:
    kit, clock, w = await _world()
    short = [await kit.data("issue/web", common_name=f"s{i}.example.com", ttl="1h") for i in range(11)]
    for cert in short[:7]:
        await kit.data("revoke", serial_number=cert["serial_number"])
    clock.advance(100 * HOUR)
    status = await _tidy(kit, tidy_cert_store=True, tidy_revoked_certs=True, page_size=5)
    # A, B, C and the 11 short ones expired past the buffer: 3 pages of certificates;
    # 8 revocations (B and 7 short ones) past it, E not: 2 pages of revocations
    assert status["cert_store_deleted_count"] == 14 and status["revoked_cert_deleted_count"] == 8
    assert set(await kit.list("certs")) == _serials(w, "root", "D", "E")
    revoked = await kit.call(Operation.LIST, "certs/revoked")
    assert revoked is not None and set(revoked.data["keys"]) == _serials(w, "E")  # type: ignore[index]


async def test_a_run_stopped_by_seal_or_unmount_says_so_at_once() -> None:
    kit, _, _ = await _paused_world("1h")
    await asyncio.sleep(0)  # the job starts its first pause
    await kit.pki.cleanup()  # what sealing, unmounting or shutting down does
    assert kit.pki.tidy_job is None
    status = await kit.get("tidy-status")
    assert status["state"] == "Error" and "sealed, stopped or died" in status["error"]
    assert (await _tidy(kit, tidy_cert_store=True))["state"] == "Finished"  # the slot is free
