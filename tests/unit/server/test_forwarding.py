"""Forwarded requests: only a signature with the active node's key makes a client address."""

from __future__ import annotations

import time

import pytest

from warden.core.ha import Leader
from warden.logical.errors import PermissionDenied
from warden.server import forwarding

KEY = b"k" * 32


def signed(method: str = "POST", target: str = "/v1/pki/issue/web", body: bytes = b"{}",
           client: str = "10.1.2.3", at: float | None = None, key: bytes = KEY) -> dict[str, str]:
    stamp = f"{time.time() if at is None else at:.3f}"
    sig = forwarding._signature(key, method, target, body, client, "1", stamp)
    return {forwarding.FORWARDED_FOR: client, forwarding.FORWARDED_TLS: "1",
            forwarding.FORWARDED_AT: stamp, forwarding.FORWARDED_SIG: sig}


def test_a_correct_signature_gives_the_client() -> None:
    seen = forwarding.verify(KEY, signed(), "POST", "/v1/pki/issue/web", b"{}")
    assert (seen.remote_addr, seen.tls) == ("10.1.2.3", True)


@pytest.mark.parametrize("tamper", [
    lambda h: {**h, forwarding.FORWARDED_FOR: "192.168.0.1"},
    lambda h: {**h, forwarding.FORWARDED_TLS: "0"},
    lambda h: {**h, forwarding.FORWARDED_SIG: h[forwarding.FORWARDED_SIG][:-1]
               + ("1" if h[forwarding.FORWARDED_SIG].endswith("0") else "0")},  # one character changed
    lambda h: {k: v for k, v in h.items() if k != forwarding.FORWARDED_SIG},
])
def test_any_change_is_refused(tamper: object) -> None:
    with pytest.raises(PermissionDenied, match="signature"):
        forwarding.verify(KEY, tamper(signed()), "POST", "/v1/pki/issue/web", b"{}")  # type: ignore[operator]


def test_the_signature_covers_method_target_and_body() -> None:
    headers = signed()
    for method, target, body in (("PUT", "/v1/pki/issue/web", b"{}"),
                                 ("POST", "/v1/pki/issue/admin", b"{}"),
                                 ("POST", "/v1/pki/issue/web", b'{"ttl":"87600h"}')):
        with pytest.raises(PermissionDenied):
            forwarding.verify(KEY, headers, method, target, body)


def test_another_key_and_old_requests_are_refused() -> None:
    with pytest.raises(PermissionDenied, match="signature"):
        forwarding.verify(b"x" * 32, signed(), "POST", "/v1/pki/issue/web", b"{}")
    old = signed(at=time.time() - 3600)
    with pytest.raises(PermissionDenied, match="too old"):
        forwarding.verify(KEY, old, "POST", "/v1/pki/issue/web", b"{}")


def test_the_advertisement_round_trips_and_the_certificate_is_the_leaf() -> None:
    leader = Leader("n1", "https://a:8200", "https://a:8201", 12.5, KEY, "PEM", is_self=True)
    again = Leader.from_json(leader.to_json(), is_self=False)
    assert (again.api_addr, again.forward_key, again.is_self) == ("https://a:8200", KEY, False)
    chain = ("-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n"
             "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    assert forwarding.first_certificate(chain) == (
        "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n")
    assert "KEY" not in repr(leader) and "kkkk" not in repr(leader)
