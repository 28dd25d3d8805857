"""AWS ec2 reauthentication: nonces, disallow_reauthentication, migration, access list, renewal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from support.aws_identity import AwsSigner, identity_document
from unit.auth.aws.aws_kit import AwsAuth
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation

INSTANCE = "i-1234567890abcdef0"
ENTRY = f"identity-accesslist/{INSTANCE}"


@pytest.fixture
def rsa(signers: dict[str, AwsSigner]) -> AwsSigner:
    return signers["rsa"]


async def _setup(aws: AwsAuth, signer: AwsSigner, **role: Any) -> None:
    await aws.write("config/certificate/aws", aws_public_cert=signer.cert_pem)
    await aws.write("role/web", bound_account_id="123456789012", **role)


def _doc(pending: str = "2016-11-19T16:32:11Z") -> dict[str, Any]:
    return identity_document(pendingTime=pending)


async def test_server_nonce_is_returned_once_and_stored_only_as_hmac(aws: AwsAuth,
                                                                     rsa: AwsSigner) -> None:
    await _setup(aws, rsa, token_max_ttl="100h")
    auth = await aws.login(rsa.sign(_doc()), "web")
    nonce = auth.metadata["nonce"]
    assert nonce.encode() not in b"".join(aws.storage._data.values())
    entry = await aws.read(ENTRY)
    assert set(entry) == {"role", "creation_time", "pending_time", "expiration_time",
                          "last_updated_time", "disallow_reauthentication"}
    assert (entry["role"], entry["pending_time"]) == ("web", "2016-11-19T16:32:11Z")
    # Expires with the longest TTL a token could reach: here the role's 100h beats the mount's.
    assert entry["expiration_time"].startswith("2027-01-19T12:00")
    again = await aws.login(rsa.sign(_doc()), "web", nonce=nonce)
    assert "nonce" not in again.metadata
    for name in ("identity-accesslist", "identity-whitelist"):
        listing = await aws.call(Operation.LIST, name)
        assert listing is not None and listing.data == {"keys": [INSTANCE]}


@pytest.mark.parametrize("second", [{}, {"nonce": "guess"}])
async def test_reauthentication_needs_the_nonce(aws: AwsAuth, rsa: AwsSigner,
                                                second: dict[str, str]) -> None:
    await _setup(aws, rsa)
    await aws.login(rsa.sign(_doc()), "web")
    with pytest.raises(InvalidRequest, match="client nonce mismatch"):
        await aws.login(rsa.sign(_doc()), "web", **second)


async def test_client_chosen_nonce(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    first = await aws.login(rsa.sign(_doc()), "web", nonce="my-nonce")
    assert "nonce" not in first.metadata
    await aws.login(rsa.sign(_doc()), "web", nonce="my-nonce")
    with pytest.raises(InvalidRequest, match="client nonce mismatch"):
        await aws.login(rsa.sign(_doc()), "web", nonce="my-nonce2")


async def test_overlong_nonce(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    with pytest.raises(InvalidRequest, match="exceeding the limit of 128"):
        await aws.login(rsa.sign(_doc()), "web", nonce="n" * 129)


async def test_empty_nonce_disables_reauthentication(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    first = await aws.login(rsa.sign(_doc()), "web", nonce="")
    assert "nonce" not in first.metadata
    assert (await aws.read(ENTRY))["disallow_reauthentication"] is True
    with pytest.raises(InvalidRequest, match="reauthentication is disabled"):
        await aws.login(rsa.sign(_doc()), "web", nonce="")


async def test_role_disallowing_reauthentication(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa, disallow_reauthentication=True)
    first = await aws.login(rsa.sign(_doc()), "web")
    assert "nonce" not in first.metadata
    with pytest.raises(InvalidRequest, match="reauthentication is disabled"):
        await aws.login(rsa.sign(_doc()), "web")
    # Later relaxing the role does not reopen an instance that logged in under it.
    await aws.write("role/web", disallow_reauthentication=False)
    with pytest.raises(InvalidRequest, match="reauthentication is disabled"):
        await aws.login(rsa.sign(_doc()), "web")
    await aws.call(Operation.DELETE, ENTRY)
    assert "nonce" in (await aws.login(rsa.sign(_doc()), "web")).metadata


async def test_older_document_is_refused_even_with_the_nonce(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    await aws.login(rsa.sign(_doc("2020-01-02T00:00:00Z")), "web", nonce="n")
    with pytest.raises(InvalidRequest, match="older than the one used for previous login"):
        await aws.login(rsa.sign(_doc("2020-01-01T00:00:00Z")), "web", nonce="n")


@pytest.mark.parametrize(("pending", "ok"), [
    ("2016-11-20T00:00:00Z", True), ("2016-11-19T16:32:11Z", False),
    ("2016-11-01T00:00:00Z", False),
])
async def test_instance_migration(aws: AwsAuth, rsa: AwsSigner, pending: str, ok: bool) -> None:
    await _setup(aws, rsa, allow_instance_migration=True)
    await aws.login(rsa.sign(_doc()), "web", nonce="old-host")
    if not ok:
        with pytest.raises(InvalidRequest, match="mismatch and instance meta-data incorrect"):
            await aws.login(rsa.sign(_doc(pending)), "web", nonce="new-host")
        return
    await aws.login(rsa.sign(_doc(pending)), "web", nonce="new-host")
    assert (await aws.read(ENTRY))["pending_time"] == pending
    await aws.login(rsa.sign(_doc(pending)), "web", nonce="new-host")
    with pytest.raises(InvalidRequest, match="client nonce mismatch"):
        await aws.login(rsa.sign(_doc(pending)), "web", nonce="old-host")


async def test_migration_is_off_by_default(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    await aws.login(rsa.sign(_doc()), "web", nonce="a")
    with pytest.raises(InvalidRequest, match=r"^client nonce mismatch$"):
        await aws.login(rsa.sign(_doc("2030-01-01T00:00:00Z")), "web", nonce="b")


async def test_tidy_keeps_entries_within_the_safety_buffer(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa, token_max_ttl="1h")
    await aws.login(rsa.sign(_doc()), "web")
    aws.clock.advance(86400 + 3600)  # the mount's max TTL (24h) is the longest here
    resp = await aws.write("tidy/identity-accesslist", safety_buffer="1h")
    assert resp is not None and resp.data == {"removed": 0}
    aws.clock.advance(1)
    resp = await aws.write("tidy/identity-accesslist", safety_buffer="1h")
    assert resp is not None and resp.data == {"removed": 1}
    assert await aws.call(Operation.READ, ENTRY) is None
    assert "nonce" in (await aws.login(rsa.sign(_doc()), "web")).metadata


async def test_renewal_extends_the_entry_and_follows_the_role(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa, token_ttl="5m", token_max_ttl="10m", token_policies="web")
    auth = await aws.login(rsa.sign(_doc()), "web")
    aws.clock.advance(120)
    renewed = await aws.renew(replace(auth))
    assert (renewed.ttl, renewed.max_ttl) == (300, 600)
    assert (await aws.read(ENTRY))["last_updated_time"].startswith("2027-01-15T08:02:00")


@pytest.mark.parametrize(("change", "message"), [
    ({"bound_account_id": "999999999999"}, "account ID .* not renewing"),
    ({"token_policies": "web,admin"}, "policies have changed"),
])
async def test_renewal_refused_when_the_role_no_longer_fits(
        aws: AwsAuth, rsa: AwsSigner, change: dict[str, str], message: str) -> None:
    await _setup(aws, rsa, token_policies="web")
    auth = await aws.login(rsa.sign(_doc()), "web")
    await aws.write("role/web", **change)
    with pytest.raises(InvalidRequest, match=message):
        await aws.renew(auth)


async def test_renewal_refused_without_entry_or_role(aws: AwsAuth, rsa: AwsSigner) -> None:
    await _setup(aws, rsa)
    auth = await aws.login(rsa.sign(_doc()), "web")
    await aws.call(Operation.DELETE, ENTRY)
    with pytest.raises(InvalidRequest, match="no longer in the identity access list"):
        await aws.renew(auth)
    await aws.call(Operation.DELETE, "role/web")
    with pytest.raises(InvalidRequest, match='role "web" no longer exists'):
        await aws.renew(auth)


async def test_non_renewable_short_tokens(aws: AwsAuth, rsa: AwsSigner) -> None:
    """The seed's hardening: short-lived, never renewed, one login per instance."""
    await _setup(aws, rsa, token_ttl="2m", token_max_ttl="2m", token_renewable=False,
                 disallow_reauthentication=True)
    auth = await aws.login(rsa.sign(_doc()), "web")
    assert (auth.ttl, auth.renewable) == (120, False)
    with pytest.raises(InvalidRequest, match="not renewable"):
        await aws.renew(auth)
