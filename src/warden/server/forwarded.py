"""The client's address: the TCP peer, or what an authorized proxy says in X-Forwarded-For.

Vault's listener options, with Vault's semantics (``http/handler.go``,
``WrapForwardedForHandler``): the header is ignored unless ``x_forwarded_for_authorized_addrs``
is set; then a request must carry it (``reject_not_present``) and come from an authorized
address (``reject_not_authorized``), and the client is the hop ``hop_skips`` from the end of
the chain. The address this returns is the one every CIDR binding and the audit log see.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from warden.logical.errors import InvalidRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ForwardedFor:
    authorized: tuple[Network, ...] = ()
    hop_skips: int = 0
    reject_not_authorized: bool = True
    reject_not_present: bool = True

    def client_address(self, peer: str, header_values: Sequence[str]) -> str:
        """The client's address for a request from ``peer`` carrying these X-Forwarded-For
        header values (one per header line); raises InvalidRequest to refuse the request."""
        if not self.authorized:
            return peer  # not configured: the header is anyone's claim
        hops = [hop.strip() for value in header_values for hop in value.split(",")]
        if not any(hops):
            if self.reject_not_present:
                raise InvalidRequest(
                    "missing x-forwarded-for header and configured to reject when not present")
            return peer
        if not self._authorized(peer):
            if self.reject_not_authorized:
                raise InvalidRequest("client address not authorized for x-forwarded-for and "
                                     "configured to reject connection")
            return peer
        index = len(hops) - 1 - self.hop_skips
        if index < 0:
            raise InvalidRequest(
                f"malformed x-forwarded-for configuration or request, hops to skip "
                f"({self.hop_skips}) would skip before earliest chain link "
                f"(chain length {len(hops)})")
        client = _address(hops[index])
        if client is None:
            raise InvalidRequest(f'x-forwarded-for hop "{hops[index][:64]}" is not an IP address')
        return str(client)

    def _authorized(self, peer: str) -> bool:
        addr = _address(peer)
        return addr is not None and any(addr in net for net in self.authorized)


def _address(text: str) -> Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return addr


def parse_networks(values: Sequence[str], setting: str) -> tuple[Network, ...]:
    """CIDR blocks or single addresses; ValueError names the setting and the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f'{setting}: "{value.strip()}" is not a CIDR block or IP address'
                             ) from None
    return tuple(networks)
