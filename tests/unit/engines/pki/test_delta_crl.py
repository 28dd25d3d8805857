"""Delta CRLs (config/crl enable_delta): what was revoked since the complete CRL, at Vault's
paths, with the Delta CRL Indicator naming the complete CRL's number."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography import x509

from support.pki import HOUR, PkiKit, load_pem, make_csr, make_key
from warden.engines.pki import certstore, crlindex
from warden.engines.pki.certstore import RevokedEntry
from warden.logical.clock import FrozenClock
from warden.logical.errors import WardenError

DELTA_PATHS = ("crl/delta", "crl/delta/pem", "cert/delta-crl", "issuer/default/crl/delta",
               "issuer/default/crl/delta/der", "issuer/default/crl/delta/pem")


async def _setup(clock: FrozenClock | None = None) -> tuple[PkiKit, dict[str, Any]]:
    kit = PkiKit(clock=clock, max_ttl=87600 * HOUR) if clock else PkiKit(max_ttl=87600 * HOUR)
    root = await kit.root("ec", common_name="Delta Root")
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    return kit, root


async def _load(kit: PkiKit, path: str) -> x509.CertificateRevocationList:
    resp = await kit.read(path)
    assert resp is not None
    if resp.raw is not None:
        body = resp.raw.body
        pem = path.endswith("pem")
        return x509.load_pem_x509_crl(body) if pem else x509.load_der_x509_crl(body)
    assert resp.data is not None
    return x509.load_pem_x509_crl((resp.data.get("crl") or resp.data["certificate"]).encode())


async def _not_found(kit: PkiKit, path: str) -> str:
    with pytest.raises(WardenError) as caught:
        await kit.read(path)
    assert caught.value.status == 404
    return str(caught.value)


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _base_of(crl: x509.CertificateRevocationList) -> int | None:
    try:
        ext = crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    except x509.ExtensionNotFound:
        return None
    assert ext.critical  # RFC 5280 5.2.4
    return ext.value.crl_number


def _serials(crl: x509.CertificateRevocationList) -> set[int]:
    return {r.serial_number for r in crl}


async def _revoke(kit: PkiKit, name: str) -> int:
    leaf = await kit.data("issue/web", common_name=f"{name}.example.com")
    await kit.data("revoke", serial_number=leaf["serial_number"])
    return load_pem(leaf["certificate"]).serial_number


async def test_delta_crls_list_what_was_revoked_since_the_complete_crl() -> None:
    kit, root = await _setup()
    assert "delta CRLs are not enabled" in await _not_found(kit, "crl/delta")
    first = await _revoke(kit, "first")
    config = await kit.data("config/crl", auto_rebuild=True, enable_delta=True, delta_rebuild_interval="5m")
    assert config["enable_delta"] and config["delta_rebuild_interval"] == "5m0s"
    complete = await _load(kit, "crl")
    assert _serials(complete) == {first} and _base_of(complete) is None
    empty = await _load(kit, "crl/delta")
    assert not _serials(empty) and _base_of(empty) == _number(complete) and _number(empty) > _number(complete)

    later = {await _revoke(kit, "second"), await _revoke(kit, "third")}
    ca = load_pem(root["certificate"]).public_key()
    for path in DELTA_PATHS:  # every delta path, every encoding: the same CRL
        delta = await _load(kit, path)
        assert _serials(delta) == later, path
        assert _base_of(delta) == _number(complete) and delta.is_signature_valid(ca)  # type: ignore[arg-type]
    assert _serials(await _load(kit, "crl")) == {first}  # auto_rebuild: the complete CRL waits

    await kit.get("crl/rotate")
    rotated = await _load(kit, "crl")
    assert _serials(rotated) == {first, *later} and _number(rotated) > _number(delta)  # one sequence
    cleared = await _load(kit, "crl/delta")
    assert not _serials(cleared) and _base_of(cleared) == _number(rotated) > _number(delta)
    assert (await kit.get("crl/rotate-delta"))["success"]
    assert _number(await _load(kit, "crl/delta")) == _number(cleared) + 1


async def test_delta_config_is_checked_and_turning_it_off_drops_the_delta_crl() -> None:
    kit, _ = await _setup()
    assert "needs auto_rebuild" in await kit.refused("config/crl", enable_delta=True)
    assert "delta_rebuild_interval" in await kit.refused("config/crl", auto_rebuild=True, enable_delta=True,
                                                         expiry="1h", delta_rebuild_interval="2h")
    assert "not enabled" in await kit.refused("crl/rotate-delta")
    await kit.data("config/crl", auto_rebuild=True, enable_delta=True)
    await _load(kit, "crl/delta")
    await kit.data("config/crl", enable_delta=False)
    assert "not enabled" in await _not_found(kit, "issuer/default/crl/delta/der")
    assert not [k for k in await kit.storage.list("crls/") if k.endswith("/")]  # no delta left behind


async def test_the_periodic_task_resigns_a_delta_crl_that_lacks_a_revocation() -> None:
    clock = FrozenClock(start=1_800_000_000)
    kit, root = await _setup(clock)
    await kit.data("config/crl", auto_rebuild=True, enable_delta=True, delta_rebuild_interval="15m")
    before = await _load(kit, "crl/delta")
    # A revocation whose own rebuild never ran (its process stopped right after the commit).
    await certstore.revoke_once(kit.storage, RevokedEntry(
        serial_number="0a:0b:0c", revocation_time=clock.time(), issuer_id=root["issuer_id"],
        not_after=int(clock.time() + HOUR)))
    clock.advance(10 * 60)
    await kit.pki.periodic()
    assert _number(await _load(kit, "crl/delta")) == _number(before)  # within the interval
    clock.advance(6 * 60)
    await kit.pki.periodic()
    resigned = await _load(kit, "crl/delta")
    assert _serials(resigned) == {0x0A0B0C} and _number(resigned) > _number(before)
    clock.advance(20 * 60)
    await kit.pki.periodic()
    assert _number(await _load(kit, "crl/delta")) == _number(resigned)  # nothing new: left alone


async def test_after_tidy_rewrote_the_entries_the_next_delta_starts_from_a_new_complete_crl() -> None:
    clock = FrozenClock(start=1_800_000_000)
    kit, _ = await _setup(clock)
    await kit.data("config/crl", auto_rebuild=True, enable_delta=True)
    short = await kit.data("issue/web", common_name="short.example.com", ttl="1h")
    await kit.data("revoke", serial_number=short["serial_number"])
    stays = await _revoke(kit, "stays")
    clock.advance(2 * HOUR)
    await kit.write("tidy", tidy_revoked_certs=True, safety_buffer="1m")
    for _ in range(500):  # tidy may run in the background: wait for it
        if (await kit.get("tidy-status"))["state"] == "Finished":
            break
        await asyncio.sleep(0.01)
    latest = await _revoke(kit, "latest")
    complete, delta = await _load(kit, "crl"), await _load(kit, "crl/delta")
    assert load_pem(short["certificate"]).serial_number not in _serials(complete) | _serials(delta)
    assert _serials(complete) | _serials(delta) == {stays, latest}
    assert _base_of(delta) == _number(complete)
    # The entries rewritten with no rebuild after (the delta's positions mean nothing now):
    # the next revocation starts from a new complete CRL instead of a wrong delta.
    await crlindex.reindex(kit.storage)
    last = await _revoke(kit, "last")
    complete, delta = await _load(kit, "crl"), await _load(kit, "crl/delta")
    assert _serials(complete) == {stays, latest, last} and not _serials(delta)
    assert _base_of(delta) == _number(complete)


def _freshest(obj: x509.Certificate | x509.CertificateRevocationList) -> list[str] | None:
    """The Freshest CRL extension's URLs (RFC 5280 4.2.1.15 / 5.2.6), None if absent."""
    try:
        ext = obj.extensions.get_extension_for_class(x509.FreshestCRL)
    except x509.ExtensionNotFound:
        return None
    assert not ext.critical  # MUST be non-critical
    return [str(name.value) for point in ext.value for name in point.full_name or ()]


async def test_delta_crl_urls_go_into_certificates_and_the_complete_crl_as_freshest_crl() -> None:
    kit, root = await _setup()
    urls = await kit.write("config/urls", delta_crl_distribution_points="http://pki.example.com/delta.crl")
    assert urls.warnings and "crl_distribution_points is not" in urls.warnings[0]  # no complete CRL named
    await kit.data("config/urls", crl_distribution_points="http://pki.example.com/crl")
    assert (await kit.get("config/urls"))["delta_crl_distribution_points"] == ["http://pki.example.com/delta.crl"]
    issued = load_pem((await kit.data("issue/web", common_name="a.example.com"))["certificate"])
    assert _freshest(issued) == ["http://pki.example.com/delta.crl"]
    signed = await kit.data("sign-verbatim", csr=make_csr(make_key(), "b.example.com"))
    csr_signed = load_pem(signed["certificate"])
    assert _freshest(csr_signed) == ["http://pki.example.com/delta.crl"]  # sign-verbatim too

    assert _freshest(await _load(kit, "crl")) is None  # delta CRLs off: nothing to point to
    await kit.data("config/crl", auto_rebuild=True, enable_delta=True)
    await _revoke(kit, "gone")
    await kit.get("crl/rotate")
    assert _freshest(await _load(kit, "crl")) == ["http://pki.example.com/delta.crl"]
    assert _freshest(await _load(kit, "crl/delta")) is None  # only the complete CRL carries it

    # the issuer's own URLs replace the mount's, as Vault's per-issuer AIA URLs do
    await kit.data(f"issuer/{root['issuer_id']}", delta_crl_distribution_points="http://i.example.com/d.crl")
    assert (await kit.get(f"issuer/{root['issuer_id']}"))["delta_crl_distribution_points"] == [
        "http://i.example.com/d.crl"]
    issued = load_pem((await kit.data("issue/web", common_name="c.example.com"))["certificate"])
    assert _freshest(issued) == ["http://i.example.com/d.crl"]
    await kit.get("crl/rotate")
    assert _freshest(await _load(kit, "crl")) == ["http://i.example.com/d.crl"]


async def test_urls_a_certificate_cannot_carry_are_refused() -> None:
    kit, root = await _setup()
    assert "not ASCII" in await kit.refused("config/urls", delta_crl_distribution_points="http://exämple.com/d")
    assert "not an absolute URL" in await kit.refused("config/urls", crl_distribution_points="/crl")
    assert "not an absolute URL" in await kit.refused(f"issuer/{root['issuer_id']}", ocsp_servers="ocsp")
    assert "not ASCII" in await kit.refused(f"issuer/{root['issuer_id']}",
                                            delta_crl_distribution_points="http://ä.example.com/d")
