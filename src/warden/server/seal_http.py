"""Endpoints that work while sealed, answered by the edge itself as Vault does:
``sys/init``, ``sys/seal-status``, ``sys/unseal``, ``sys/health``, ``sys/leader``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from warden import __version__
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest, UnsupportedOperation

if TYPE_CHECKING:
    from warden.core.core import Core

Result = tuple[int, dict[str, Any]]
SEAL_PATHS = frozenset({"sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader"})


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f'"{key}" must be an integer')
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f'"{key}" must be an integer') from None


def decode_key(text: str) -> bytes:
    """Unseal keys are accepted hex- or base64-encoded, as by Vault."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("'key' must be a valid hex or base64 string") from None


async def seal_status(core: Core) -> dict[str, Any]:
    status = await core.seal_status()
    return {
        "type": "shamir",
        "initialized": status.initialized,
        "sealed": core.sealed,
        "t": status.t,
        "n": status.n,
        "progress": status.progress,
        "nonce": status.nonce,
        "version": __version__,
        "build_date": "",
        "migration": False,
        "recovery_seal": False,
        "storage_type": core.storage_type,
        "cluster_name": core.cluster_name if not core.sealed else "",
        "cluster_id": core.cluster_id if not core.sealed else "",
    }


async def handle(core: Core, method: str, path: str, data: Mapping[str, Any]) -> Result:
    await core.sync()  # another worker of this server may have unsealed or sealed it
    if path == "sys/init":
        return await _init(core, method, data)
    if path == "sys/seal-status":
        return 200, await seal_status(core)
    if path == "sys/unseal":
        return await _unseal(core, method, data)
    if path == "sys/health":
        return await _health(core, data)
    return await _leader(core)


_NEVER = "0001-01-01T00:00:00Z"


async def _leader(core: Core) -> Result:
    """Vault's ``sys/leader``; a standby reads the active node's advertisement."""
    body: dict[str, Any] = {
        "ha_enabled": core.ha is not None, "is_self": False, "active_time": _NEVER,
        "leader_address": "", "leader_cluster_address": "", "performance_standby": False,
        "performance_standby_last_remote_wal": 0,
    }
    if core.ha is None:
        body["is_self"] = not core.sealed
        return 200, body
    if core.sealed:
        return 200, body
    leader = await core.ha.leader(fresh=True)
    if leader is not None:
        body.update(is_self=leader.is_self and core.active, active_time=to_rfc3339(leader.active_time),
                    leader_address=leader.api_addr, leader_cluster_address=leader.cluster_addr)
    return 200, body


async def _init(core: Core, method: str, data: Mapping[str, Any]) -> Result:
    if method in ("GET", "HEAD"):
        return 200, {"initialized": await core.initialized()}
    if method not in ("PUT", "POST"):
        raise UnsupportedOperation()
    if data.get("pgp_keys") or data.get("root_token_pgp_key"):
        raise InvalidRequest("PGP-encrypted unseal keys are not supported")
    result = await core.initialize(_int(data, "secret_shares"), _int(data, "secret_threshold"))
    return 200, {
        "keys": [k.hex() for k in result.keys],
        "keys_base64": [base64.b64encode(k).decode() for k in result.keys],
        "root_token": result.root_token,
    }


async def _unseal(core: Core, method: str, data: Mapping[str, Any]) -> Result:
    if method not in ("PUT", "POST"):
        raise UnsupportedOperation()
    if data.get("reset"):
        core.seal.reset_progress()
        return 200, await seal_status(core)
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("'key' must be specified in request body as JSON, or 'reset' set to true")
    await core.unseal(decode_key(key))
    return 200, await seal_status(core)


# The status-code parameters Vault reads; each given one is checked, used or not (as Vault).
_HEALTH_CODES = ("activecode", "standbycode", "sealedcode", "uninitcode", "drsecondarycode",
                 "performancestandbycode", "removedcode", "haunhealthycode")


def _health_codes(query: Mapping[str, Any]) -> dict[str, int]:
    """The status codes asked for: final HTTP statuses only (a 1xx cannot end a response,
    and a status line outside 100-599 is not HTTP)."""
    codes: dict[str, int] = {}
    for name in _HEALTH_CODES:
        if name not in query:
            continue
        value = query[name]
        text = value[0] if isinstance(value, list) and value else value
        if not (isinstance(text, str) and len(text) == 3 and text.isascii() and text.isdigit()
                and 200 <= int(text) <= 599):
            raise InvalidRequest(f"bad code for {name}: must be an HTTP status from 200 to 599")
        codes[name] = int(text)
    return codes


async def _health(core: Core, query: Mapping[str, Any]) -> Result:
    codes = _health_codes(query)
    initialized = await core.initialized()
    sealed = core.sealed
    standby = core.standby

    def flag(name: str) -> bool:
        value = query.get(name)
        return value is True or (isinstance(value, str)
                                 and value.strip().lower() in ("", "1", "true", "yes"))

    if not initialized:
        status = codes.get("uninitcode", 501)
    elif sealed:
        status = codes.get("sealedcode", 503)
    elif standby and not flag("standbyok"):
        status = codes.get("standbycode", 429)
    else:
        status = codes.get("activecode", 200)
    return status, {
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(core.clock.time()),
        "version": __version__,
        "cluster_name": core.cluster_name,
        "cluster_id": core.cluster_id,
        "echo_time": to_rfc3339(core.clock.time()),
    }
