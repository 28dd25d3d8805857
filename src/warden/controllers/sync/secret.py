"""The WardenSecret controller: a kv secret in warden kept in a Kubernetes Secret.

A resource is looked at when it or its Secret changes, and again every ``refreshInterval``
(default 60 s): warden is read with the namespace's own login, the keys are mapped
(``keys``) and rendered (``templates``), and the Secret is written only when its content
differs (a kv v2 ``version`` change, a kv v1 value change, or someone edited the Secret).
Between refreshes nothing is read: a status update alone (its own) changes nothing.

Conditions (``Ready``): True/Synced; False with LoginFailed, PermissionDenied,
WardenRefused, NotFound, MissingKey, TemplateError, SecretNotOwned.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from warden.agent.config_parse import ConfigError, parse_duration
from warden.api import ApiError
from warden.api.kv import KvSecret, read_kv
from warden.controllers.context import Context
from warden.controllers.crds import WardenSecret
from warden.controllers.events import NORMAL, WARNING
from warden.controllers.plugin import DONE, ObjectKey, Result
from warden.controllers.sync.base import Refused, SyncBase, is_refusal
from warden.controllers.sync.owned import NotOwned, apply_secret, check_owner, desired_secret, same_content
from warden.controllers.sync.settings import SyncSettings
from warden.controllers.sync.status import (
    READY,
    TRUE,
    condition,
    conditions_of,
    parse_timestamp,
    patch_status,
    timestamp,
    with_condition,
)

NAME = "secret-sync"
DEFAULT_REFRESH = 60.0
MIN_REFRESH = 1.0
VERSION_ANNOTATION = "warden.dev/synced-version"
PATH_ANNOTATION = "warden.dev/path"


def data_hash(data: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(sorted(data.items()))).encode()).hexdigest()


def refresh_of(spec: Mapping[str, Any]) -> float:
    try:
        return max(
            MIN_REFRESH,
            parse_duration(spec.get("refreshInterval") or DEFAULT_REFRESH, "spec.refreshInterval"),
        )
    except ConfigError:
        return DEFAULT_REFRESH


def secret_data(spec: Mapping[str, Any], secret: KvSecret, templates: SandboxedEnvironment) -> dict[str, str]:
    """The Secret's data (base64): the mapped keys, else every key, plus the templates."""
    values = secret.data
    out: dict[str, bytes] = {}
    mapping = spec.get("keys")
    if mapping:
        for item in mapping:
            source = item["from"]
            if source not in values:
                raise Refused("MissingKey", f"the secret at {spec['path']} has no key {source!r}")
            out[item["key"]] = _text(values[source]).encode()
    else:
        out = {k: _text(v).encode() for k, v in values.items()}
    for key, source in (spec.get("templates") or {}).items():
        try:
            out[key] = templates.from_string(source).render(data=values, version=secret.version).encode()
        except jinja2.TemplateError as exc:
            raise Refused("TemplateError", f"template {key!r}: {exc}") from None
    return {k: base64.b64encode(v).decode() for k, v in sorted(out.items())}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class SecretSyncController(SyncBase):
    resource = WardenSecret
    kind = "WardenSecret"

    def __init__(self, settings: SyncSettings, ctx: Context) -> None:
        super().__init__(settings, ctx)
        self.name = NAME
        self.templates = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
        self.decide = ctx.decisions(NAME)

    async def reconcile(self, key: ObjectKey) -> Result:
        obj = self.get(key)
        if obj is None or obj.metadata.deletionTimestamp:
            return DONE  # its Secret goes with it (owner reference)
        spec = obj.spec or {}
        refresh = refresh_of(spec)
        wait = self._not_due(obj, refresh)
        if wait is not None:
            return Result(requeue_after=wait)
        try:
            secret = await self._read(obj, spec)
            data = secret_data(spec, secret, self.templates)
            written = await self._write(obj, spec, secret, data)
        except Refused as refusal:
            await self._not_ready(obj, refusal)
            return Result(requeue_after=refresh)
        await self._ready(obj, spec, secret, data, written)
        return Result(requeue_after=refresh)

    def _not_due(self, obj: Any, refresh: float) -> float | None:
        """Seconds until the next read when nothing changed since the last good one."""
        status = obj.status or {}
        ready = condition(obj, READY)
        last = parse_timestamp(status.get("lastSyncTime"))
        if (
            ready is None
            or ready.get("status") != TRUE
            or last is None
            or status.get("observedGeneration") != obj.metadata.generation
        ):
            return None
        current = self.secret(obj.metadata.namespace, obj.spec.get("secretName", ""))
        if current is None or data_hash(dict(current.data or {})) != status.get("dataHash"):
            return None
        left = last + refresh - self.ctx.clock.time()
        return left if left > 0 else None

    async def _read(self, obj: Any, spec: Mapping[str, Any]) -> KvSecret:
        namespace, path = obj.metadata.namespace, str(spec["path"])
        api = await self.warden(namespace)
        try:
            secret = await read_kv(api, path, spec.get("version"))
        except ApiError as exc:
            if is_refusal(exc):
                raise await self.refused(namespace, exc, f"read {path}") from None
            raise
        if secret is None:
            version = f" version {spec['version']}" if spec.get("version") else ""
            raise Refused("NotFound", f"no secret at {path}{version}")
        return secret

    async def _write(self, obj: Any, spec: Mapping[str, Any], secret: KvSecret, data: dict[str, str]) -> bool:
        name = str(spec["secretName"])
        current = await self.current_secret(obj.metadata.namespace, name)
        try:
            check_owner(current, obj)
        except NotOwned as exc:
            raise Refused("SecretNotOwned", str(exc)) from None
        annotations = {PATH_ANNOTATION: str(spec["path"])}
        if secret.version is not None:
            annotations[VERSION_ANNOTATION] = str(secret.version)
        wanted = desired_secret(obj, name, str(spec.get("secretType") or "Opaque"), data, annotations)
        await self.remove_stale(obj, name)
        if same_content(current, wanted):
            return False
        self.ctx.ensure_leading()
        self.remember(await apply_secret(self.ctx.kube, wanted))
        return True

    async def _ready(
        self, obj: Any, spec: Mapping[str, Any], secret: KvSecret, data: dict[str, str], written: bool
    ) -> None:
        now = self.ctx.clock.time()
        where = f"{spec['path']}" + (f" (version {secret.version})" if secret.version is not None else "")
        message = f"Secret {spec['secretName']} holds {where}"
        status = {
            "observedGeneration": obj.metadata.generation,
            "syncedVersion": secret.version,
            "lastSyncTime": timestamp(now),
            "secretName": spec["secretName"],
            "dataHash": data_hash(data),
            "conditions": with_condition(
                conditions_of(obj), READY, TRUE, "Synced", message, obj.metadata.generation, now
            ),
        }
        self.ctx.ensure_leading()
        await patch_status(self.ctx.kube, WardenSecret, obj, status)
        if written:
            self.decide(
                "synced",
                "",
                object=f"{obj.metadata.namespace}/{obj.metadata.name}",
                path=spec["path"],
                version=secret.version,
                secret=spec["secretName"],
            )
            await self.ctx.events.record(obj, NORMAL, "Synced", message)

    async def _not_ready(self, obj: Any, refusal: Refused) -> None:
        now = self.ctx.clock.time()
        before = condition(obj, READY)
        status = {
            "observedGeneration": obj.metadata.generation,
            "conditions": with_condition(
                conditions_of(obj), READY, "False", refusal.reason, str(refusal), obj.metadata.generation, now
            ),
        }
        self.ctx.ensure_leading()
        await patch_status(self.ctx.kube, WardenSecret, obj, status)
        if before is None or before.get("reason") != refusal.reason or before.get("message") != str(refusal):
            self.decide(
                "not synced",
                str(refusal),
                object=f"{obj.metadata.namespace}/{obj.metadata.name}",
                reason_code=refusal.reason,
            )
            await self.ctx.events.record(obj, WARNING, refusal.reason, str(refusal))
