"""Stored ACL policies, parsed once, with ACLs cached per policy set."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson

from warden.core.acl import ACL
from warden.core.policy import (
    DEFAULT_POLICY,
    Policy,
    parse_policy,
    root_policy,
    validate_policy_name,
)
from warden.logical.errors import InvalidRequest
from warden.logical.storage import Storage, scan

ROOT = "root"
DEFAULT = "default"
# The policy a wrapping token carries: it may only unwrap or look itself up.
RESPONSE_WRAPPING = "response-wrapping"
_WRAPPING_HCL = """
path "sys/wrapping/unwrap" { capabilities = ["update"] }
path "sys/wrapping/lookup" { capabilities = ["update"] }
"""


class PolicyStore:
    """Caches parsed policies and built ACLs. A read fills the cache only if no change
    overtook it (``_generation``); every change is announced (``on_change``) after it is
    stored, so the server's other processes drop their caches before their next request."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._parsed: dict[str, Policy | None] = {}
        self._acls: dict[frozenset[str], ACL] = {}
        self._generation = 0
        self._on_change: Callable[[], None] = lambda: None
        self._builtin = {
            ROOT: root_policy(),
            RESPONSE_WRAPPING: parse_policy(RESPONSE_WRAPPING, _WRAPPING_HCL),
        }

    async def setup(self) -> None:
        if await self._storage.get(DEFAULT) is None:
            await self.put(DEFAULT, DEFAULT_POLICY)

    def on_change(self, announce: Callable[[], None]) -> None:
        self._on_change = announce

    def forget_cache(self) -> None:
        """Drop every parsed policy and ACL (another process or node changed policies)."""
        self._invalidate()

    def _invalidate(self) -> None:
        self._generation += 1
        self._parsed.clear()
        self._acls.clear()

    async def get(self, name: str) -> Policy | None:
        name = name.lower()
        if name in self._builtin:
            return self._builtin[name]
        if name in self._parsed:
            return self._parsed[name]
        generation = self._generation
        raw = await self._storage.get(name)
        policy = None if raw is None else parse_policy(name, orjson.loads(raw)["policy"])
        if generation == self._generation:  # no change overtook this read
            self._parsed[name] = policy
        return policy

    async def put(self, name: str, text: str) -> Policy:
        name = name.lower()
        validate_policy_name(name)
        if name in self._builtin:
            raise InvalidRequest(f'cannot update the "{name}" policy')
        policy = parse_policy(name, text)
        await self._storage.put(name, orjson.dumps({"name": name, "policy": text}))
        self._invalidate()
        self._on_change()
        return policy

    async def delete(self, name: str) -> None:
        name = name.lower()
        if name in (ROOT, DEFAULT, RESPONSE_WRAPPING):
            raise InvalidRequest(f'cannot delete the "{name}" policy')
        await self._storage.delete(name)
        self._invalidate()
        self._on_change()

    async def list(self) -> list[str]:
        stored = await scan(self._storage)  # names may contain "/" (seed 000's spelling)
        return sorted({*stored, ROOT})

    async def acl(self, names: Iterable[str]) -> ACL:
        key = frozenset(n.lower() for n in names)
        acl = self._acls.get(key)
        if acl is None:
            generation = self._generation
            policies = [p for p in [await self.get(n) for n in sorted(key)] if p is not None]
            acl = ACL.build(policies)
            if generation == self._generation:
                self._acls[key] = acl
        return acl
