"""Address checks shared by the core (token CIDR bindings) and the auth methods."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def addr_in_cidrs(addr: str, cidrs: Iterable[str]) -> bool:
    """Whether ``addr`` falls in any block; an unparsable or empty address never does."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cidrs)
