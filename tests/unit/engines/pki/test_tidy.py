"""tidy removes expired certificates and revocations past the safety buffer, and nothing else."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from support.pki import HOUR, PkiKit
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


def _serials(world: dict[str, Any], *names: str) -> set[str]:
    return {world[n]["serial_number"] for n in names}


async def test_tidy_removes_what_it_should_and_nothing_else() -> None:
    kit, _, w = await _world()
    issuers_before = await kit.list("issuers")
    status = await kit.data("tidy", tidy_cert_store=True, tidy_revoked_certs=True)
    assert status["state"] == "Finished"
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
    await kit.data("tidy", tidy_cert_store=True)
    assert w["B"]["serial_number"] not in await kit.list("certs")
    assert int(w["B"]["serial_number"].replace(":", ""), 16) in await _crl_serials(kit)


async def test_safety_buffer_and_expired_issuers() -> None:
    kit, clock, w = await _world()
    await kit.data("tidy", tidy_cert_store=True, safety_buffer="200h")
    assert set(await kit.list("certs")) == _serials(w, "root", "A", "B", "C", "D", "E")
    spare = await kit.data("root/generate/internal", common_name="Spare", key_type="ec", ttl="10h")
    clock.advance(20 * HOUR)
    await kit.data("tidy", tidy_expired_issuers=True, issuer_safety_buffer="1h")
    assert spare["issuer_id"] not in await kit.list("issuers")
    assert w["root"]["issuer_id"] in await kit.list("issuers")  # the default issuer is never tidied
    assert "at least one of" in await kit.refused("tidy")


async def test_auto_tidy_runs_from_the_periodic_task() -> None:
    kit, clock, w = await _world()
    auto = await kit.data("config/auto-tidy", enabled=True, interval_duration="1h", tidy_cert_store=True)
    assert auto["enabled"] and auto["tidy_cert_store"]
    await kit.pki.periodic()  # an interval has passed since start-up: tidy runs
    assert w["A"]["serial_number"] not in await kit.list("certs")
    first = (await kit.get("tidy-status"))["time_finished"]
    clock.advance(600)
    await kit.pki.periodic()  # within the interval: nothing runs
    assert (await kit.get("tidy-status"))["time_finished"] == first
    clock.advance(HOUR)
    await kit.pki.periodic()
    assert (await kit.get("tidy-status"))["time_finished"] != first
