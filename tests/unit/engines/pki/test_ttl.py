"""Certificate lifetimes: the lower of requested, role max, mount max and the issuer's expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.pki import HOUR, PkiKit, load_pem
from warden.engines.pki.issuing import Limits, validity
from warden.engines.pki.keypool import KeyPool
from warden.logical.clock import FrozenClock
from warden.logical.errors import InvalidRequest

NOW = 1_800_000_000.0
TTL = st.integers(min_value=0, max_value=10 * 8760 * HOUR)


def _secs(when: dt.datetime) -> int:
    return int(when.timestamp())


@given(requested=TTL, role_ttl=TTL, role_max=TTL,
       mount_max=st.integers(min_value=60, max_value=10 * 8760 * HOUR),
       default=st.integers(min_value=60, max_value=768 * HOUR))
def test_lifetime_never_exceeds_any_limit(requested: int, role_ttl: int, role_max: int, mount_max: int,
                                          default: int) -> None:
    limits = Limits(now=NOW, default_ttl=default, max_ttl=mount_max)
    v = validity(limits=limits, ttl=requested, not_after="", role_ttl=role_ttl, role_max_ttl=role_max)
    lifetime = _secs(v.not_after) - int(NOW)
    ceiling = min(role_max or mount_max, mount_max)
    assert lifetime == min(requested or role_ttl or default, ceiling)
    assert bool(v.warnings) == ((requested or role_ttl or default) > ceiling)
    assert _secs(v.not_before) == int(NOW) - 30


@given(ttl=st.integers(min_value=1, max_value=100 * HOUR),
       issuer_left=st.integers(min_value=31, max_value=100 * HOUR),
       behavior=st.sampled_from(["err", "truncate", "permit"]))
def test_issuer_expiry_per_leaf_not_after_behavior(ttl: int, issuer_left: int, behavior: str) -> None:
    limits = Limits(now=NOW, default_ttl=HOUR, max_ttl=1000 * HOUR, issuer_not_before=NOW - HOUR,
                    issuer_not_after=NOW + issuer_left, leaf_not_after_behavior=behavior)
    if ttl > issuer_left and behavior == "err":
        with pytest.raises(InvalidRequest, match="beyond the expiration of the CA"):
            validity(limits=limits, ttl=ttl, not_after="")
        return
    end = _secs(validity(limits=limits, ttl=ttl, not_after="").not_after)
    expected = {"truncate": min(ttl, issuer_left), "permit": ttl, "err": ttl}[behavior]
    assert end == int(NOW) + expected


def test_not_before_never_precedes_the_issuer() -> None:
    limits = Limits(now=NOW, default_ttl=HOUR, max_ttl=HOUR, issuer_not_before=NOW - 5,
                    issuer_not_after=NOW + 2 * HOUR)
    assert _secs(validity(limits=limits, ttl=0, not_after="").not_before) == int(NOW) - 5


def test_not_after_is_absolute_but_still_capped() -> None:
    limits = Limits(now=NOW, default_ttl=HOUR, max_ttl=10 * HOUR)
    soon = dt.datetime.fromtimestamp(NOW + 2 * HOUR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _secs(validity(limits=limits, ttl=0, not_after=soon).not_after) == int(NOW) + 2 * HOUR
    late = validity(limits=limits, ttl=0, not_after="9999-12-31T23:59:59Z")
    assert _secs(late.not_after) == int(NOW) + 10 * HOUR and late.warnings
    with pytest.raises(InvalidRequest, match="RFC 3339"):
        validity(limits=limits, ttl=0, not_after="tomorrow")
    with pytest.raises(InvalidRequest, match="expire before it becomes valid"):
        validity(limits=limits, ttl=0, not_after="2000-01-01T00:00:00Z")


async def test_through_the_backend_with_a_frozen_clock_and_a_tuned_mount() -> None:
    clock = FrozenClock(start=NOW)
    kit = PkiKit(clock=clock, max_ttl=87600 * HOUR, pool=KeyPool(capacity=lambda s: 0, warm=()))
    root = await kit.root("ec", ttl="87600h")
    assert root["expiration"] == int(NOW) + 87600 * HOUR
    await kit.write("roles/member", allow_any_name=True, max_ttl="720h", key_type="ec")
    default = await kit.write("issue/member", common_name="a")  # mount default (768h) > role max
    assert default.data["expiration"] == int(NOW) + 720 * HOUR
    assert any("maximum" in w for w in default.warnings)
    short = await kit.write("issue/member", common_name="a", ttl="2h")
    assert short.data["expiration"] == int(NOW) + 2 * HOUR
    kit.system.max_ttl = HOUR  # tuning the mount applies at once
    tuned = await kit.write("issue/member", common_name="a", ttl="2h")
    assert tuned.data["expiration"] == int(NOW) + HOUR
    cert = load_pem(tuned.data["certificate"])
    assert cert.not_valid_before_utc.timestamp() == int(NOW) - 30


async def test_an_issuer_near_its_end_refuses_or_truncates() -> None:
    clock = FrozenClock(start=NOW)
    kit = PkiKit(clock=clock, pool=KeyPool(capacity=lambda s: 0, warm=()))
    root = await kit.root("ec", ttl="10h")
    await kit.write("roles/r", allow_any_name=True, key_type="ec")
    assert "beyond the expiration of the CA" in await kit.refused("issue/r", common_name="a", ttl="20h")
    await kit.write(f"issuer/{root['issuer_id']}", leaf_not_after_behavior="truncate")
    resp = await kit.write("issue/r", common_name="a", ttl="20h")
    assert resp.data["expiration"] == root["expiration"]
    clock.advance(11 * HOUR)
    assert "beyond the expiration of the CA" not in await kit.refused("issue/r", common_name="a",
                                                                         not_after="2000-01-01T00:00:00Z")
