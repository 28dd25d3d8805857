"""Token sinks: files that receive the agent's token each time it logs in.

Formats: the bare token (Vault Agent's file sink), or seed 003's JSON
(``clientToken``, ``accessor``, ``leaseDuration``, ``renewable``, ``vaultAddr``). With a
sink ``wrap_ttl`` the token is wrapped through ``sys/wrapping/wrap`` and the file holds the
wrap information as JSON (Vault's ``SecretWrapInfo``); a login wrapped by the method is
written the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from warden.agent.config_sections import SinkConfig
from warden.agent.errors import AgentError, describe, is_retryable
from warden.agent.files import FileSpec, write_file
from warden.agent.lifetime import TokenInfo
from warden.agent.logs import AgentLog
from warden.api import AsyncClient, JsonDict


def token_json(info: TokenInfo, address: str) -> bytes:
    return _json({"clientToken": info.token, "accessor": info.accessor,
                  "leaseDuration": int(info.lease_duration), "renewable": info.renewable,
                  "vaultAddr": address})


def _json(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


async def sink_content(sink: SinkConfig, info: TokenInfo | None, response: JsonDict,
                       api: AsyncClient, address: str) -> bytes:
    if response.get("wrap_info") and info is None:
        return _json(response["wrap_info"])
    assert info is not None
    if sink.wrap_ttl:
        wrapped = await api.request("PUT", "sys/wrapping/wrap", json={"token": info.token},
                                    wrap_ttl=sink.wrap_ttl)
        wrap_info = (wrapped or {}).get("wrap_info")
        if not wrap_info:
            raise AgentError("sys/wrapping/wrap answered without wrap_info")
        return _json(wrap_info)
    if sink.format == "json":
        return token_json(info, address)
    return info.token.encode()


async def write_sinks(sinks: Sequence[SinkConfig], info: TokenInfo | None, response: JsonDict,
                      api: AsyncClient, address: str, log: AgentLog) -> list[str]:
    """Write every sink; the failures, described (a failing sink never stops the others)."""
    failures: list[str] = []
    for sink in sinks:
        try:
            content = await sink_content(sink, info, response, api, address)
            changed = write_file(FileSpec(sink.path, content, sink.perms))
        except Exception as exc:
            if not is_retryable(exc):
                raise
            failures.append(f"token sink {sink.path}: {describe(exc)}")
            log.error("could not write token sink", path=str(sink.path), error=describe(exc))
            continue
        log.info("wrote token sink" if changed else "token sink already up to date",
                 path=str(sink.path), format="wrapped" if sink.wrap_ttl else sink.format)
    return failures
