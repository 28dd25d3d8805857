"""Client settings: explicit arguments, or the environment as Vault's CLI reads it."""

from __future__ import annotations

import os
import re
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import httpx

from warden.api.errors import ClientError
from warden.api.token_file import read_token_file, token_file_path

DEFAULT_ADDRESS = "https://127.0.0.1:8200"
DEFAULT_TIMEOUT = 60.0

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = MappingProxyType({"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0})


class ConfigError(ClientError):
    """A setting is unusable (bad boolean, unreadable CA file, ...)."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything needed to reach the server. The token is kept out of ``repr``."""

    address: str = DEFAULT_ADDRESS
    token: str = field(default="", repr=False)
    ca_cert: str = ""
    ca_path: str = ""
    client_cert: str = ""
    client_key: str = ""
    tls_skip_verify: bool = False
    timeout: float = DEFAULT_TIMEOUT

    def with_overrides(self, **overrides: Any) -> ClientSettings:
        """Apply the overrides that are not None (as CLI flags left unset are)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _lookup(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    """(name, value) of the first variable set to something non-blank."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return names[0], ""


def _first(env: Mapping[str, str], *names: str) -> str:
    return _lookup(env, *names)[1]


def parse_bool(value: str, name: str) -> bool:
    """Go's ``strconv.ParseBool``, as Vault uses for ``VAULT_SKIP_VERIFY``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"could not parse {name}: {value!r} is not a boolean")


def parse_timeout(value: str, name: str) -> float:
    """Seconds (``30``) or a Go-style duration (``1m30s``)."""
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"could not parse {name}: {value!r} is not a duration")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def check_address(address: str) -> str:
    """The server's address, or ConfigError saying what is wrong with it (never httpx's)."""
    try:
        parts = urllib.parse.urlsplit(address)
        parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
        reason = ("it must start with http:// or https://" if parts.scheme not in ("http", "https")
                  else "it names no host" if not parts.hostname else "")
        if not reason:
            httpx.URL(address)
    except (ValueError, httpx.InvalidURL) as exc:
        reason = str(exc)
    if reason:
        raise ConfigError(f"invalid server address {address!r}: {reason}; expected e.g. "
                          f"{DEFAULT_ADDRESS} (set WARDEN_ADDR or -address)")
    return address


def settings_from_env(env: Mapping[str, str] | None = None) -> ClientSettings:
    """``WARDEN_*`` first, then ``VAULT_*``; the token falls back to ``~/.warden-token``."""
    env = os.environ if env is None else env
    token = _first(env, "WARDEN_TOKEN", "VAULT_TOKEN") or read_token_file(token_file_path(env))
    skip_name, skip = _lookup(env, "WARDEN_SKIP_VERIFY", "VAULT_SKIP_VERIFY")
    timeout_name, timeout = _lookup(env, "WARDEN_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT")
    return ClientSettings(
        address=_first(env, "WARDEN_ADDR", "VAULT_ADDR") or DEFAULT_ADDRESS,
        token=token,
        ca_cert=_first(env, "WARDEN_CACERT", "VAULT_CACERT"),
        ca_path=_first(env, "WARDEN_CAPATH", "VAULT_CAPATH"),
        client_cert=_first(env, "WARDEN_CLIENT_CERT", "VAULT_CLIENT_CERT"),
        client_key=_first(env, "WARDEN_CLIENT_KEY", "VAULT_CLIENT_KEY"),
        tls_skip_verify=parse_bool(skip, skip_name) if skip else False,
        timeout=parse_timeout(timeout, timeout_name) if timeout else DEFAULT_TIMEOUT,
    )


def tls_verify(settings: ClientSettings) -> ssl.SSLContext | bool:
    """What httpx gets as ``verify``: verification stays on unless explicitly skipped."""
    if not (settings.ca_cert or settings.ca_path or settings.client_cert or settings.tls_skip_verify):
        return True
    try:
        ctx = _base_context(settings)
        if settings.client_cert:
            ctx.load_cert_chain(settings.client_cert, settings.client_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"could not set up TLS: {exc}") from None
    return ctx


def _base_context(settings: ClientSettings) -> ssl.SSLContext:
    if settings.tls_skip_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if settings.ca_cert or settings.ca_path:
        return ssl.create_default_context(cafile=settings.ca_cert or None,
                                          capath=settings.ca_path or None)
    import certifi  # httpx's own default trust store

    return ssl.create_default_context(cafile=certifi.where())
