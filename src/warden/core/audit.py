"""The audit broker: every request and response goes to every enabled device, or nothing happens.

The device table lives in the barrier at ``core/audit``; the HMAC key (one per
server, so ``sys/audit-hash`` answers the same for every device) at ``core/audit-key``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from warden.audit.devices import AuditDevice, AuditDeviceError, open_device
from warden.audit.hashing import Hasher
from warden.audit.record import AuditRecord
from warden.logical.errors import CodedError, InvalidRequest
from warden.logical.storage import Storage

log = logging.getLogger("warden.audit")

TABLE_KEY = "core/audit"
KEY_KEY = "core/audit-key"


@dataclass(frozen=True, slots=True)
class AuditDeviceEntry:
    path: str
    type: str
    description: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    local: bool = False


class AuditBroker:
    def __init__(self, storage: Storage, *, randbytes: Callable[[int], bytes]) -> None:
        self._storage = storage
        self._randbytes = randbytes
        self._entries: dict[str, AuditDeviceEntry] = {}
        self._devices: dict[str, AuditDevice] = {}
        self._hasher: Hasher | None = None
        self._on_change: Callable[[], None] = lambda: None

    def on_change(self, announce: Callable[[], None]) -> None:
        """Called after the device table changed (the server's other processes reload it)."""
        self._on_change = announce

    @property
    def enabled(self) -> bool:
        return bool(self._devices)

    @property
    def entries(self) -> dict[str, AuditDeviceEntry]:
        return dict(self._entries)

    async def setup(self) -> None:
        key = await self._storage.get(KEY_KEY)
        if key is None:
            key = self._randbytes(32)
            await self._storage.put(KEY_KEY, key)
        self._hasher = Hasher(key)
        await self.reload()

    async def reload(self) -> None:
        """Match the open devices to the stored table (another process may have changed it)."""
        stored = await self._stored_entries()
        for path in [p for p in self._devices if stored.get(p) != self._entries.get(p)]:
            device = self._devices.pop(path)
            with contextlib.suppress(Exception):
                await device.close()
        self._entries = stored
        for entry in stored.values():
            if entry.path not in self._devices:
                self._devices[entry.path] = self._open(entry)

    async def _stored_entries(self) -> dict[str, AuditDeviceEntry]:
        raw = await self._storage.get(TABLE_KEY)
        entries = {}
        for item in orjson.loads(raw)["devices"] if raw else []:
            entry = AuditDeviceEntry(**{**item, "options": dict(item.get("options") or {})})
            entries[entry.path] = entry
        return entries

    def _open(self, entry: AuditDeviceEntry) -> AuditDevice:
        try:
            return open_device(entry.type, entry.options, self.hasher)
        except AuditDeviceError as exc:
            # Fail closed: the device stays in the table, so requests are refused
            # until it can write again (or an operator disables it).
            log.error("audit device %s cannot be opened: %s", entry.path, exc)
            return _Broken(str(exc))

    @property
    def hasher(self) -> Hasher:
        if self._hasher is None:
            raise RuntimeError("audit broker used before setup")
        return self._hasher

    async def _save(self) -> None:
        payload = {"devices": [{**asdict(e), "options": dict(e.options)}
                               for e in self._entries.values()]}
        await self._storage.put(TABLE_KEY, orjson.dumps(payload))

    async def enable(self, entry: AuditDeviceEntry) -> None:
        path = _normalize(entry.path)
        if path in self._entries:
            raise InvalidRequest(f'an audit device is already enabled at "{path}"')
        try:
            device = open_device(entry.type, entry.options, self.hasher)
        except AuditDeviceError as exc:
            raise InvalidRequest(str(exc)) from None
        self._entries[path] = AuditDeviceEntry(path, entry.type, entry.description,
                                               dict(entry.options), entry.local)
        self._devices[path] = device
        await self._save()
        self._on_change()

    async def disable(self, path: str) -> None:
        path = _normalize(path)
        if path not in self._entries:
            return
        del self._entries[path]
        device = self._devices.pop(path, None)
        await self._save()
        self._on_change()
        if device is not None:
            await device.close()

    def hash(self, path: str, value: str) -> str:
        if _normalize(path) not in self._entries:
            # Vault's words first ("unknown audit backend"), then what they mean.
            raise InvalidRequest(f'unknown audit backend "{path}": no audit device is enabled '
                                 f'at "{path}"')
        return self.hasher.hash(value)

    async def log(self, record: AuditRecord) -> None:
        """Write to every device; raise if none could record it (Vault's rule)."""
        if not self._devices:
            return
        written = 0
        for path, device in list(self._devices.items()):
            try:
                await device.log(record)
                written += 1
            except Exception as exc:
                log.error("audit device %s failed: %s", path, type(exc).__name__)
        if written == 0:
            raise CodedError(500, "no audit device could record the request; it was not served")

    async def reopen(self) -> None:
        """Reopen files (log rotation); devices that could not open get another try."""
        for path, device in list(self._devices.items()):
            if isinstance(device, _Broken):
                try:
                    entry = self._entries[path]
                    self._devices[path] = open_device(entry.type, entry.options, self.hasher)
                except AuditDeviceError as exc:
                    log.error("audit device %s still cannot be opened: %s", path, exc)
        for device in self._devices.values():
            try:
                await device.reopen()
            except Exception as exc:
                log.error("reopening an audit device failed: %s", exc)

    async def close(self) -> None:
        for device in self._devices.values():
            await device.close()
        self._devices = {}


class _Broken:
    """Stands in for a device that could not be opened: every write fails."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def log(self, record: AuditRecord) -> None:
        raise AuditDeviceError(self.reason)

    async def reopen(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _normalize(path: str) -> str:
    path = path.strip().strip("/")
    if not path or any(p in ("", ".", "..") for p in path.split("/")):
        raise InvalidRequest(f'invalid audit device path "{path}"')
    return path + "/"


def device_view(entry: AuditDeviceEntry) -> dict[str, Any]:
    return {"type": entry.type, "description": entry.description, "path": entry.path,
            "options": dict(entry.options), "local": entry.local}
