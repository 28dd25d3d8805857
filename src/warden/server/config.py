"""Server configuration: HCL (Vault's shape), YAML or JSON, into frozen dataclasses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from warden.framework.durations import parse_duration
from warden.hclconf import load_hcl
from warden.server.forwarded import ForwardedFor, parse_networks
from warden.server.storage_config import StorageConfigError, check_storage, ha_enabled
from warden.server.translate import DEFAULT_MAX_JSON_DEPTH, MAX_JSON_DEPTH_CEILING

DEFAULT_ADDRESS = "127.0.0.1:8200"


class ConfigError(Exception):
    """A configuration file is unreadable or wrong; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    address: str = DEFAULT_ADDRESS
    tls_disable: bool = False
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    tls_require_and_verify_client_cert: bool = False
    max_request_size: int = 32 * 1024 * 1024
    unauthenticated_metrics_access: bool = False
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    # Vault's x_forwarded_for_* settings; by default X-Forwarded-For is ignored.
    forwarded: ForwardedFor = field(default_factory=ForwardedFor)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f'listener address "{self.address}" must be host:port with a port '
                              "from 0 to 65535 (0 picks a free one), e.g. 127.0.0.1:8200")
        return host.strip("[]"), int(port)

    @property
    def scheme(self) -> str:
        return "http" if self.tls_disable else "https"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    storage_type: str = "sqlite"
    storage: Mapping[str, Any] = field(default_factory=dict)
    listeners: tuple[ListenerConfig, ...] = (ListenerConfig(),)
    api_addr: str = ""
    cluster_addr: str = ""
    # Vault's switch for request forwarding: standbys answer 307 to the active's api_addr.
    disable_clustering: bool = False
    default_lease_ttl: int = 768 * 3600
    max_lease_ttl: int = 768 * 3600
    cluster_name: str = ""
    log_level: str = "info"
    ui: bool = False  # the web dashboard at /ui/
    workers: int = 1  # processes serving the listeners (server/supervisor.py)

    @property
    def ha_enabled(self) -> bool:
        return ha_enabled(self.storage_type, self.storage)


@dataclass(frozen=True, slots=True)
class MigrationConfig:
    """``warden operator migrate``'s file: Vault's ``storage_source``/``storage_destination``."""

    source_type: str
    source: Mapping[str, Any]
    destination_type: str
    destination: Mapping[str, Any]


def load_config(path: str, env: Mapping[str, str] | None = None) -> ServerConfig:
    return parse_config(_read(path), os.path.splitext(path)[1].lower(), env=env)


def load_migration_config(path: str) -> MigrationConfig:
    raw = _parse(_read(path), os.path.splitext(path)[1].lower())
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of settings")
    unknown = sorted(set(raw) - {"storage_source", "storage_destination", "cluster_addr"})
    if unknown:
        raise ConfigError(f"unknown migration settings: {', '.join(unknown)} (a migration "
                          "config has storage_source and storage_destination blocks)")
    blocks = []
    for name in ("storage_source", "storage_destination"):
        if raw.get(name) is None:
            raise ConfigError(f'missing {name} block, e.g. {name} "sqlite" {{ path = "..." }}')
        blocks.append(_single_block(raw[name], name, default=("", {})))
    if blocks[0] == blocks[1]:
        raise ConfigError("storage_source and storage_destination are the same store")
    return MigrationConfig(blocks[0][0], blocks[0][1], blocks[1][0], blocks[1][1])


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: it is not UTF-8 text") from None


def parse_config(text: str, suffix: str = ".hcl",
                 env: Mapping[str, str] | None = None) -> ServerConfig:
    env = os.environ if env is None else env
    raw = _parse(text, suffix)
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of settings")
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(f"unknown config settings: {', '.join(unknown)}")
    storage_type, storage = _single_block(raw.get("storage"), "storage", default=("", {}))
    listeners = tuple(_listener(t, b) for t, b in _blocks(raw.get("listener"), "listener"))
    config = ServerConfig(
        storage_type=storage_type,
        storage=storage,
        listeners=listeners or (ListenerConfig(),),
        api_addr=_address(env, raw, "api_addr", ("WARDEN_API_ADDR", "VAULT_API_ADDR")),
        cluster_addr=_address(env, raw, "cluster_addr",
                              ("WARDEN_CLUSTER_ADDR", "VAULT_CLUSTER_ADDR")),
        disable_clustering=_bool(raw.get("disable_clustering", False)),
        default_lease_ttl=_duration(raw, "default_lease_ttl", 768 * 3600),
        max_lease_ttl=_duration(raw, "max_lease_ttl", 768 * 3600),
        cluster_name=str(raw.get("cluster_name", "")),
        log_level=str(raw.get("log_level", "info")).lower(),
        ui=_bool(raw.get("ui", False)),
        workers=_workers(raw.get("workers", 1)),
    )
    if not storage_type:
        raise ConfigError('a storage block is required, e.g. storage "sqlite" { path = '
                          '"/var/lib/warden/warden.db" }')
    if not listeners:
        raise ConfigError('a listener block is required, e.g. listener "tcp" { address = "0.0.0.0:8200" '
                          'tls_cert_file = "..." tls_key_file = "..." }')
    check_workers(config)
    if config.ha_enabled and not config.api_addr:
        raise ConfigError("ha_enabled storage needs api_addr: the URL other nodes send clients "
                          'to, e.g. api_addr = "https://node-1.example:8200"')
    return config


def _address(env: Mapping[str, str], raw: Mapping[str, Any], key: str,
             names: tuple[str, ...]) -> str:
    value = next((env[n] for n in names if env.get(n)), str(raw.get(key, "")))
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f'{key} must be a full URL with scheme, e.g. "https://10.0.0.5:8200"')
    return value.rstrip("/")


_TOP_LEVEL = {
    "storage", "backend", "listener", "api_addr", "cluster_addr", "default_lease_ttl",
    "max_lease_ttl", "cluster_name", "log_level", "ui", "disable_mlock", "telemetry",
    "pid_file", "disable_clustering", "workers",
}
MAX_WORKERS = 64


def _workers(value: Any) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ConfigError(f'workers must be a number from 1 to {MAX_WORKERS} (got "{text}"): the '
                          "processes that serve the listeners, e.g. one per core")
    return int(text)


def check_workers(config: ServerConfig) -> None:
    """What several worker processes cannot share (yet): said before anything starts."""
    if config.workers == 1:
        return
    if config.storage_type == "inmem":
        raise ConfigError('workers > 1 needs a store the processes share: storage "inmem" is one '
                          'process\'s memory; use storage "sqlite" (or etcd)')
    if config.ha_enabled:
        raise ConfigError("workers > 1 cannot be combined with ha_enabled yet: run one process "
                          "per node in an HA cluster (or turn ha_enabled off)")


_FORWARDED_KEYS = {
    "x_forwarded_for_authorized_addrs", "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized", "x_forwarded_for_reject_not_present",
}
_LISTENER_KEYS = (set(ListenerConfig.__dataclass_fields__) - {"forwarded"}
                  | {"telemetry", "tls_min_version"} | _FORWARDED_KEYS)


def _parse(text: str, suffix: str) -> Any:
    try:
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return load_hcl(text)  # reads JSON as well
    except Exception as exc:
        raise ConfigError(f"cannot parse config: {exc}") from None


def _blocks(value: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Vault's labelled blocks: ``listener "tcp" {...}``, possibly repeated."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError(f'"{name}" must be a block such as {name} "type" {{ ... }}')
        for kind, body in item.items():
            bodies = body if isinstance(body, list) else [body]
            for b in bodies:
                if not isinstance(b, dict):
                    raise ConfigError(f'{name} "{kind}" must contain settings')
                out.append((kind, b))
    return out


def _single_block(value: Any, name: str, *, default: tuple[str, dict[str, Any]]
                  ) -> tuple[str, dict[str, Any]]:
    blocks = _blocks(value, name)
    if not blocks:
        return default
    if len(blocks) > 1:
        raise ConfigError(f"only one {name} block is allowed")
    kind, body = blocks[0]
    try:
        check_storage(kind, body)
    except StorageConfigError as exc:
        raise ConfigError(f"{name}: {exc}" if name != "storage" else str(exc)) from None
    return kind, body


def _listener(kind: str, body: dict[str, Any]) -> ListenerConfig:
    if kind != "tcp":
        raise ConfigError(f'unknown listener type "{kind}": use "tcp"')
    unknown = sorted(set(body) - _LISTENER_KEYS)
    if unknown:
        raise ConfigError(f"unknown listener settings: {', '.join(unknown)}")
    telemetry = body.get("telemetry") or {}
    if isinstance(telemetry, list):
        telemetry = telemetry[0] if telemetry else {}
    cfg = ListenerConfig(
        address=str(body.get("address", DEFAULT_ADDRESS)),
        tls_disable=_bool(body.get("tls_disable", False)),
        tls_cert_file=str(body.get("tls_cert_file", "")),
        tls_key_file=str(body.get("tls_key_file", "")),
        tls_client_ca_file=str(body.get("tls_client_ca_file", "")),
        tls_require_and_verify_client_cert=_bool(
            body.get("tls_require_and_verify_client_cert", False)),
        max_request_size=int(body.get("max_request_size", 32 * 1024 * 1024)),
        unauthenticated_metrics_access=_bool(
            telemetry.get("unauthenticated_metrics_access",
                          body.get("unauthenticated_metrics_access", False))),
        max_json_depth=_json_depth(body.get("max_json_depth", DEFAULT_MAX_JSON_DEPTH)),
        forwarded=_forwarded(body),
    )
    cfg.host_port  # noqa: B018 - validates the address now, not at bind time
    if not cfg.tls_disable and not (cfg.tls_cert_file and cfg.tls_key_file):
        raise ConfigError(
            "listener: tls_cert_file and tls_key_file are required unless tls_disable = true")
    return cfg


def _json_depth(value: Any) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_JSON_DEPTH_CEILING:
        raise ConfigError(f"listener: max_json_depth must be a number from 1 to "
                          f"{MAX_JSON_DEPTH_CEILING} (got \"{text}\"): stored and audited values "
                          "nest a few levels deeper than the request, up to 254 at most")
    return int(text)


def _forwarded(body: Mapping[str, Any]) -> ForwardedFor:
    """Vault's x_forwarded_for_* listener settings (addresses: a list or comma-separated)."""
    addrs = body.get("x_forwarded_for_authorized_addrs", [])
    if isinstance(addrs, str):
        addrs = [a for a in addrs.split(",") if a.strip()]
    if not isinstance(addrs, list):
        raise ConfigError("listener: x_forwarded_for_authorized_addrs must be a list of CIDR "
                          'blocks or a comma-separated string, e.g. "10.0.0.0/8, 192.0.2.7"')
    try:
        authorized = parse_networks([str(a) for a in addrs], "x_forwarded_for_authorized_addrs")
    except ValueError as exc:
        raise ConfigError(f"listener: {exc}") from None
    skips = str(body.get("x_forwarded_for_hop_skips", 0)).strip()
    if not skips.isdigit():
        raise ConfigError("listener: x_forwarded_for_hop_skips must be a whole number of hops, "
                          f'0 or more (got "{skips}")')
    return ForwardedFor(
        authorized=authorized,
        hop_skips=int(skips),
        reject_not_authorized=_bool(body.get("x_forwarded_for_reject_not_authorized", True)),
        reject_not_present=_bool(body.get("x_forwarded_for_reject_not_present", True)),
    )


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _duration(raw: Mapping[str, Any], key: str, default: int) -> int:
    if key not in raw:
        return default
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
