"""The ``storage`` block: which physical backend, with which settings (Vault's key names).

``sqlite`` (the embedded default), ``inmem`` and ``etcd``. For etcd, Vault's keys and
environment variables: ``address`` (comma-separated URLs, or ``ETCD_ADDR``), ``path``,
``ha_enabled`` (or ``ETCD_HA_ENABLED``), ``tls_ca_file``, ``tls_cert_file``,
``tls_key_file``, ``tls_server_name``, ``username``/``password`` (or ``ETCD_USERNAME``/
``ETCD_PASSWORD``), ``request_timeout``, ``lock_timeout`` (the HA lease TTL), plus
warden's ``max_value_bytes``, ``max_request_bytes`` and ``max_txn_ops``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden.framework.durations import parse_duration
from warden.storage.etcd_settings import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_TXN_OPS,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_PATH,
    EtcdOptions,
    EtcdSettings,
)

STORAGE_TYPES = ("sqlite", "inmem", "etcd")
_ETCD_KEYS = frozenset({
    "address", "path", "ha_enabled", "tls_ca_file", "tls_cert_file", "tls_key_file",
    "tls_server_name", "username", "password", "request_timeout", "lock_timeout",
    "max_value_bytes", "max_request_bytes", "max_txn_ops", "etcd_api", "sync",
})


class StorageConfigError(ValueError):
    """A storage block is wrong; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    settings: EtcdSettings
    options: EtcdOptions


def check_storage(kind: str, body: Mapping[str, Any]) -> None:
    """Raise StorageConfigError if the block cannot work; nothing is opened."""
    if kind not in STORAGE_TYPES:
        raise StorageConfigError(f'unknown storage type "{kind}": use "sqlite", "etcd" or "inmem"')
    if kind == "sqlite" and not body.get("path"):
        raise StorageConfigError(
            'storage "sqlite" needs a path, e.g. path = "/var/lib/warden/warden.db"')
    if kind == "etcd":
        etcd_config(body)


def ha_enabled(kind: str, body: Mapping[str, Any]) -> bool:
    return kind == "etcd" and etcd_config(body).options.ha_enabled


def etcd_config(body: Mapping[str, Any], env: Mapping[str, str] | None = None) -> EtcdConfig:
    env = os.environ if env is None else env
    unknown = sorted(set(body) - _ETCD_KEYS)
    if unknown:
        raise StorageConfigError(f'unknown storage "etcd" settings: {", ".join(unknown)}')
    if str(body.get("etcd_api", "v3")) != "v3":
        raise StorageConfigError('storage "etcd": only etcd_api = "v3" is supported')
    address = env.get("ETCD_ADDR") or str(body.get("address", "http://127.0.0.1:2379"))
    try:
        settings = EtcdSettings(
            endpoints=tuple(a.strip() for a in address.split(",") if a.strip()),
            tls_ca_file=str(body.get("tls_ca_file", "")),
            tls_cert_file=str(body.get("tls_cert_file", "")),
            tls_key_file=str(body.get("tls_key_file", "")),
            tls_server_name=str(body.get("tls_server_name", "")),
            username=env.get("ETCD_USERNAME") or str(body.get("username", "")),
            password=env.get("ETCD_PASSWORD") or str(body.get("password", "")),
            request_timeout=_seconds(body, "request_timeout", 5.0),
        )
        options = EtcdOptions(
            path=str(body.get("path", DEFAULT_PATH)),
            ha_enabled=_bool(env.get("ETCD_HA_ENABLED", body.get("ha_enabled", False))),
            lock_ttl=_seconds(body, "lock_timeout", 3.0),
            max_request_bytes=_int(body, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
            max_value_bytes=_int(body, "max_value_bytes", DEFAULT_MAX_VALUE_BYTES),
            max_txn_ops=_int(body, "max_txn_ops", DEFAULT_MAX_TXN_OPS),
        )
    except ValueError as exc:
        raise StorageConfigError(f'storage "etcd": {str(exc).removeprefix("etcd: ")}') from None
    if settings.tls:
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(settings, name)
            if path and not os.path.isfile(path):
                raise StorageConfigError(f'storage "etcd": {name} "{path}" does not exist')
    return EtcdConfig(settings, options)


def _seconds(body: Mapping[str, Any], key: str, default: float) -> float:
    if key not in body:
        return default
    value = body[key]
    try:
        if isinstance(value, str) and value.strip().endswith("ms"):
            return int(value.strip()[:-2]) / 1000
        return float(parse_duration(value))
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer") from None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
