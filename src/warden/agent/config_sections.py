"""Configuration sections shared by several blocks: the auto-auth method, sinks, file
permissions and commands."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from warden.agent.config_parse import (
    Block,
    ConfigError,
    labeled_blocks,
    parse_mode,
    resolve_group,
    resolve_user,
)
from warden.agent.files import Perms

DEFAULT_SA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
DEFAULT_METADATA_ADDRESS = "http://169.254.169.254"
DEFAULT_COMMAND_TIMEOUT = 30.0

METHOD_FIELDS = frozenset({"type", "mount_path", "config", "wrap_ttl", "min_backoff",
                           "max_backoff", "exit_on_err", "namespace"})
SINK_FIELDS = frozenset({"type", "config", "wrap_ttl", "format"})

SinkFormat = Literal["token", "json"]
SINK_PERMS = Perms(0o640)


@dataclass(frozen=True, slots=True)
class TokenFileParams:
    token_file_path: Path


@dataclass(frozen=True, slots=True)
class AppRoleParams:
    role_id_file_path: Path
    secret_id_file_path: Path | None = None
    remove_secret_id_file_after_reading: bool = True
    secret_id_response_wrapping_path: str = ""


@dataclass(frozen=True, slots=True)
class KubernetesParams:
    role: str
    token_path: Path = Path(DEFAULT_SA_TOKEN_PATH)


@dataclass(frozen=True, slots=True)
class AwsParams:
    role: str
    pkcs7_file: Path | None = None
    metadata_address: str = DEFAULT_METADATA_ADDRESS
    nonce: str = ""


MethodParams = TokenFileParams | AppRoleParams | KubernetesParams | AwsParams


@dataclass(frozen=True, slots=True)
class MethodConfig:
    type: str
    mount_path: str
    params: MethodParams
    wrap_ttl: str = ""
    min_backoff: float = 1.0
    max_backoff: float = 300.0
    exit_on_err: bool = False


@dataclass(frozen=True, slots=True)
class SinkConfig:
    path: Path
    perms: Perms = SINK_PERMS
    format: SinkFormat = "token"
    wrap_ttl: str = ""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What to run after files change: an argv list, or a string run by ``sh -c``."""

    argv: tuple[str, ...]
    timeout: float = DEFAULT_COMMAND_TIMEOUT

    @property
    def display(self) -> str:
        if self.argv[:2] == ("sh", "-c") and len(self.argv) == 3:
            return self.argv[2]
        return shlex.join(self.argv)


def parse_method(value: Any) -> MethodConfig:
    blocks = list(labeled_blocks(value, METHOD_FIELDS, "auto_auth.method"))
    if not blocks:
        raise ConfigError("auto_auth: missing required block \"method\"")
    if len(blocks) > 1:
        raise ConfigError("auto_auth: exactly one \"method\" block is allowed")
    label, body = blocks[0]
    b = Block(f"auto_auth.method \"{label}\"" if label else "auto_auth.method", body)
    kind = b.string("type", label)
    if label and kind != label:
        raise ConfigError(f"{b.where}: type {kind!r} contradicts the block label {label!r}")
    if not kind:
        raise ConfigError("auto_auth.method: missing required key \"type\"")
    where = f"auto_auth.method \"{kind}\""
    b.where = where
    parser = _METHOD_PARSERS.get(kind)
    if parser is None:
        raise ConfigError(f"{where}: unsupported method type {kind!r} "
                          f"(supported: {', '.join(sorted(_METHOD_PARSERS))})")
    config = b.child("config", f"{where}.config", required=True)
    params = parser(config)
    config.finish()
    method = MethodConfig(
        type=kind,
        mount_path=b.string("mount_path", f"auth/{_default_mount(kind)}").strip("/"),
        params=params,
        wrap_ttl=_wrap_ttl(b),
        min_backoff=b.duration("min_backoff", 1.0),
        max_backoff=b.duration("max_backoff", 300.0),
        exit_on_err=b.boolean("exit_on_err"),
    )
    if method.wrap_ttl and kind == "token_file":
        raise ConfigError(f"{where}: wrap_ttl: a token from a file is not a login to wrap; "
                          "use wrap_ttl on a sink instead")
    if b.string("namespace"):
        raise ConfigError(f"{where}: namespace: warden has no namespaces")
    b.finish()
    if not 0 < method.min_backoff <= method.max_backoff:
        raise ConfigError(f"{where}: need 0 < min_backoff <= max_backoff")
    return method


def _default_mount(kind: str) -> str:
    return "token" if kind == "token_file" else kind


def _wrap_ttl(b: Block) -> str:
    if not b.has("wrap_ttl"):
        return ""
    ttl = b.raw("wrap_ttl")
    seconds = b.duration("wrap_ttl", 0.0)
    if seconds <= 0:
        raise ConfigError(f"{b.at('wrap_ttl')}: must be a positive duration")
    return str(ttl) if isinstance(ttl, str) else f"{int(seconds)}s"


def _token_file(c: Block) -> TokenFileParams:
    return TokenFileParams(Path(c.string("token_file_path", required=True)))


def _alias(c: Block, name: str, alias: str) -> str:
    """Vault's key, or the short spelling (``role_id_file``); never both."""
    if c.has(name) and c.has(alias):
        raise ConfigError(f"{c.where}: \"{name}\" and \"{alias}\" are the same setting; give one")
    return alias if c.has(alias) else name


def _approle(c: Block) -> AppRoleParams:
    secret_id = c.string(_alias(c, "secret_id_file_path", "secret_id_file"))
    params = AppRoleParams(
        role_id_file_path=Path(c.string(_alias(c, "role_id_file_path", "role_id_file"), required=True)),
        secret_id_file_path=Path(secret_id) if secret_id else None,
        remove_secret_id_file_after_reading=c.boolean("remove_secret_id_file_after_reading", True),
        secret_id_response_wrapping_path=c.string("secret_id_response_wrapping_path").strip("/"),
    )
    if params.secret_id_response_wrapping_path and params.secret_id_file_path is None:
        raise ConfigError(f"{c.where}: secret_id_response_wrapping_path needs secret_id_file_path")
    return params


def _kubernetes(c: Block) -> KubernetesParams:
    return KubernetesParams(role=c.string("role", required=True),
                            token_path=Path(c.string("token_path", DEFAULT_SA_TOKEN_PATH)))


def _aws(c: Block) -> AwsParams:
    kind = c.string("type", "ec2")
    if kind != "ec2":
        raise ConfigError(f"{c.at('type')}: only \"ec2\" (signed instance identity) is supported")
    pkcs7 = c.string("pkcs7_file")
    address = c.string("metadata_address", DEFAULT_METADATA_ADDRESS).rstrip("/")
    if not address.startswith(("http://", "https://")):
        raise ConfigError(f"{c.at('metadata_address')}: {address!r} must start with http:// or https://")
    return AwsParams(role=c.string("role", required=True), pkcs7_file=Path(pkcs7) if pkcs7 else None,
                     metadata_address=address, nonce=c.string("nonce"))


_METHOD_PARSERS: dict[str, Callable[[Block], MethodParams]] = {
    "token_file": _token_file, "approle": _approle, "kubernetes": _kubernetes, "aws": _aws}


def parse_sink(label: str, body: Mapping[str, Any], index: int) -> SinkConfig:
    b = Block(f"auto_auth.sink #{index + 1}", body)
    kind = b.string("type", label or "file")
    if kind != "file":
        raise ConfigError(f"{b.where}: unsupported sink type {kind!r} (supported: file)")
    c = b.child("config", f"{b.where}.config", required=True)
    fmt = (b.string("format") or c.string("format") or "token").lower()
    if fmt not in ("token", "json"):
        raise ConfigError(f"{b.where}: format must be \"token\" or \"json\", got {fmt!r}")
    uid = c.raw("uid") if c.has("uid") else c.raw("owner")
    gid = c.raw("gid") if c.has("gid") else c.raw("group")
    c.used.update({"owner", "group"})
    sink = SinkConfig(
        path=Path(c.string("path", required=True)),
        perms=parse_perms(c, (uid, gid), "mode", 0o640),
        format="json" if fmt == "json" else "token",
        wrap_ttl=_wrap_ttl(b),
    )
    c.finish()
    b.finish()
    return sink


def parse_perms(b: Block, owner: tuple[Any, Any], mode_key: str, default_mode: int | None) -> Perms:
    user, group = owner
    uid = -1 if user is None or user == -1 else resolve_user(user, b.at("owner"))
    gid = -1 if group is None or group == -1 else resolve_group(group, b.at("group"))
    b.used.update({"owner", "group", "uid", "gid"} & set(b.data))
    mode = parse_mode(b.raw(mode_key), b.at(mode_key)) if b.has(mode_key) else default_mode
    if mode == 0 and mode_key == "mode" and b.has(mode_key):
        mode = None  # Vault's sink: 0000 means "leave the mode alone"
    return Perms(mode, uid, gid)


def parse_command(b: Block) -> CommandSpec | None:
    if b.has("exec") and b.has("command"):
        raise ConfigError(f"{b.where}: give either \"command\" or an \"exec\" block, not both")
    if b.has("exec"):
        e = b.child("exec", f"{b.where}.exec")
        spec = _command(e, "command", "timeout")
        e.finish()
        return spec
    return _command(b, "command", "command_timeout")


def _command(b: Block, key: str, timeout_key: str) -> CommandSpec | None:
    value = b.raw(key)
    timeout = b.duration(timeout_key, DEFAULT_COMMAND_TIMEOUT)
    if value is None or value == "" or value == []:
        return None
    if timeout <= 0:
        raise ConfigError(f"{b.at(timeout_key)}: must be a positive duration")
    if isinstance(value, str):
        return CommandSpec(("sh", "-c", value), timeout)
    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
        return CommandSpec(tuple(value), timeout)
    raise ConfigError(f"{b.at(key)}: expected a string (run by sh -c) or a list of arguments")
