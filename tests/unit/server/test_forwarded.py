"""Vault's x_forwarded_for_* semantics, rule by rule, and their configuration."""

from __future__ import annotations

import pytest

from warden.logical.errors import InvalidRequest
from warden.server.config import ConfigError, parse_config
from warden.server.forwarded import ForwardedFor, parse_networks

PROXY = ForwardedFor(authorized=parse_networks(["127.0.0.1/32", "fd00::/8"], "test"))


def test_without_authorized_addrs_the_header_is_nobodys_word() -> None:
    assert ForwardedFor().client_address("127.0.0.1", ["10.1.2.3"]) == "127.0.0.1"


def test_an_authorized_peer_names_the_last_hop_minus_skips() -> None:
    assert PROXY.client_address("127.0.0.1", ["10.1.2.3"]) == "10.1.2.3"
    assert PROXY.client_address("::ffff:127.0.0.1", ["10.1.2.3, 10.4.4.4"]) == "10.4.4.4"
    assert PROXY.client_address("fd00::1", ["2001:db8::7"]) == "2001:db8::7"
    skip = ForwardedFor(authorized=PROXY.authorized, hop_skips=2)
    assert skip.client_address("127.0.0.1", ["1.1.1.1, 2.2.2.2", "3.3.3.3 , 4.4.4.4"]) == "2.2.2.2"
    with pytest.raises(InvalidRequest, match="hops to skip"):
        skip.client_address("127.0.0.1", ["1.1.1.1, 2.2.2.2"])
    with pytest.raises(InvalidRequest, match="not an IP address"):
        PROXY.client_address("127.0.0.1", ["10.1.2.3, evil"])


@pytest.mark.parametrize("values", [[], [""], [" , "]])
def test_absent_or_empty_header(values: list[str]) -> None:
    with pytest.raises(InvalidRequest, match="missing x-forwarded-for"):
        PROXY.client_address("127.0.0.1", values)
    lenient = ForwardedFor(authorized=PROXY.authorized, reject_not_present=False)
    assert lenient.client_address("127.0.0.1", values) == "127.0.0.1"


def test_an_unauthorized_peer_is_refused_or_ignored() -> None:
    with pytest.raises(InvalidRequest, match="not authorized"):
        PROXY.client_address("192.0.2.9", ["10.1.2.3"])
    lenient = ForwardedFor(authorized=PROXY.authorized, reject_not_authorized=False)
    assert lenient.client_address("192.0.2.9", ["10.1.2.3"]) == "192.0.2.9"


def _listener(settings: str) -> ForwardedFor:
    config = parse_config('storage "inmem" {}\n'
                          f'listener "tcp" {{\n address = "127.0.0.1:0"\n tls_disable = true\n'
                          f"{settings}\n}}")
    return config.listeners[0].forwarded


def test_listener_settings() -> None:
    assert _listener("") == ForwardedFor()
    parsed = _listener('x_forwarded_for_authorized_addrs = "10.0.0.0/8, 192.0.2.7"\n'
                       'x_forwarded_for_hop_skips = "1"\n'
                       'x_forwarded_for_reject_not_authorized = "false"\n'
                       "x_forwarded_for_reject_not_present = false")
    assert [str(n) for n in parsed.authorized] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert (parsed.hop_skips, parsed.reject_not_authorized, parsed.reject_not_present) == (
        1, False, False)
    listed = _listener('x_forwarded_for_authorized_addrs = ["10.0.0.0/8"]')
    assert [str(n) for n in listed.authorized] == ["10.0.0.0/8"]
    with pytest.raises(ConfigError, match=r'"10\.0\.0\.0/33" is not a CIDR'):
        _listener('x_forwarded_for_authorized_addrs = "10.0.0.0/33"')
    with pytest.raises(ConfigError, match="hop_skips must be a whole number"):
        _listener('x_forwarded_for_hop_skips = "-1"')
    with pytest.raises(ConfigError, match="unknown listener settings: forwarded"):
        _listener('forwarded = "x"')
