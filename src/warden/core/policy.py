"""ACL policy documents: HCL or JSON text in, frozen ``Policy``/``PathRule`` records out.

This follows Vault's ``vault/policy.go``: a document is a list of ``path "<pattern>" { ... }``
blocks with ``capabilities``, the legacy ``policy = "read"`` shorthand, parameter constraints
and response-wrapping TTL bounds. Evaluating the rules against requests is ``acl.py``'s job;
this module only parses and validates, failing with ``InvalidRequest`` whose message names
the policy, the rule path and what is wrong.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from hcl.parser import HclParser  # type: ignore[import-untyped]
from hcl.ply import yacc  # type: ignore[import-untyped]

from warden.logical.errors import InvalidRequest

ROOT_POLICY_NAME: Final = "root"
DEFAULT_POLICY_NAME: Final = "default"

DENY: Final = "deny"
SUDO: Final = "sudo"
# "subscribe" and "recover" are accepted because current Vault accepts them; warden has no
# operation they grant yet, so a rule holding only those allows nothing.
CAPABILITIES: Final = frozenset(
    {"create", "read", "update", "patch", "delete", "list", SUDO, DENY, "subscribe", "recover"}
)

_WRITE: Final = frozenset({"create", "read", "update", "delete", "list"})
# Vault's pre-0.5 ``policy = "..."`` shorthand; "write" predates "patch" and does not grant it.
LEGACY_POLICIES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "deny": frozenset({DENY}),
        "read": frozenset({"read", "list"}),
        "write": _WRITE,
        "sudo": _WRITE | {SUDO},
    }
)

ParameterValue = str | int | float | bool | None

_TOP_LEVEL_KEYS: Final = frozenset({"path", "name"})
_RULE_KEYS: Final = frozenset(
    {
        "comment",
        "policy",
        "capabilities",
        "allowed_parameters",
        "denied_parameters",
        "required_parameters",
        "min_wrapping_ttl",
        "max_wrapping_ttl",
    }
)
# Keys Vault Enterprise or OpenBao understand. Ignoring them would silently grant more than
# their author meant (no MFA, no expiry), so they are refused instead.
_UNSUPPORTED_RULE_KEYS: Final = frozenset(
    {
        "mfa_methods",
        "control_group",
        "expiration",
        "pagination_limit",
        "list_scan_response_keys_filter_path",
        "subscribe_event_types",
    }
)
# Segments joined by "/": seed 000 names policies after their paths
# ("<cluster>/pki/etcd/member"). No empty, "." or ".." segments are possible.
_NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_.-]*(?:/[a-z0-9][a-z0-9_.-]*)*")
_NAME_MAX: Final = 256
_DURATION_PATTERN: Final = re.compile(r"(?:\d+[smhd])+")
_DURATION_PART: Final = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS: Final[Mapping[str, int]] = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400})
_MAX_DETAIL: Final = 200


def _empty_parameters() -> Mapping[str, tuple[ParameterValue, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PathRule:
    """One ``path`` block. ``path`` keeps a trailing ``*`` (prefix glob) and ``+`` segments.

    Parameter names are lower-cased; an empty value tuple means "any value". A ``deny`` rule
    carries nothing but ``{"deny"}``, as in Vault.
    """

    path: str
    capabilities: frozenset[str]
    allowed_parameters: Mapping[str, tuple[ParameterValue, ...]] = field(
        default_factory=_empty_parameters
    )
    denied_parameters: Mapping[str, tuple[ParameterValue, ...]] = field(
        default_factory=_empty_parameters
    )
    required_parameters: tuple[str, ...] = ()
    min_wrapping_ttl: int = 0
    max_wrapping_ttl: int = 0

    def __post_init__(self) -> None:
        # Copy and freeze so a caller's dict cannot change a rule after the fact.
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        object.__setattr__(self, "allowed_parameters", _freeze(self.allowed_parameters))
        object.__setattr__(self, "denied_parameters", _freeze(self.denied_parameters))
        object.__setattr__(self, "required_parameters", tuple(self.required_parameters))


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    raw: str
    rules: tuple[PathRule, ...]


def _freeze(
    parameters: Mapping[str, tuple[ParameterValue, ...]],
) -> Mapping[str, tuple[ParameterValue, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in parameters.items()})


def validate_policy_name(name: str) -> str:
    """Return the canonical (trimmed, lower-cased) policy name or raise ``InvalidRequest``."""
    if not isinstance(name, str):
        raise InvalidRequest("policy name must be a string")
    normalised = name.strip().lower()
    if not normalised:
        raise InvalidRequest("policy name must not be empty")
    if len(normalised) > _NAME_MAX or not _NAME_PATTERN.fullmatch(normalised):
        raise InvalidRequest(
            f"invalid policy name {_quote(normalised)}: use up to {_NAME_MAX} letters, digits, "
            '"-", "_", "." and "/", each "/"-separated part starting with a letter or digit'
        )
    return normalised


def root_policy() -> Policy:
    """The built-in ``root`` policy: no rules, the ACL short-circuits on its name."""
    return Policy(name=ROOT_POLICY_NAME, raw="", rules=())


def parse_policy(name: str, raw: str) -> Policy:
    """Parse a policy document (HCL or JSON) into a ``Policy`` named ``name``, normalised.

    ``root`` cannot be written: an ACL holding a policy of that name allows everything, so
    the name is only ever given to the empty built-in (``parse_policy("root", "")`` returns
    ``root_policy()``); any document under that name is refused.
    """
    policy_name = validate_policy_name(name)
    if not isinstance(raw, str):
        raise InvalidRequest(f"failed to parse policy {_quote(policy_name)}: policy must be text")
    if policy_name == ROOT_POLICY_NAME:
        if raw.strip():
            raise InvalidRequest(f"cannot update the {_quote(ROOT_POLICY_NAME)} policy")
        return root_policy()
    try:
        rules = tuple(_parse_rule(path, body) for path, body in _path_blocks(raw))
    except _PolicyError as exc:
        raise InvalidRequest(f"failed to parse policy {_quote(policy_name)}: {exc}") from None
    return Policy(name=policy_name, raw=raw, rules=rules)


class _PolicyError(ValueError):
    """A problem in the document; ``parse_policy`` prefixes the policy name."""


# --- document structure ------------------------------------------------------------------


class _HclParser(HclParser):  # type: ignore[misc]
    """pyhcl, made strict enough for authorization rules.

    Stock pyhcl folds repeated ``path "x"`` blocks together (the later one silently wins
    key by key), which could drop a ``deny``. The document root is therefore returned as
    the raw list of items, and a repeated key inside any block is an error. Lists may also
    hold booleans, and numbers after strings (``no_store = ["false", false, 0]``), which
    stock pyhcl rejects.
    """

    start = "top"

    def __init__(self) -> None:
        # Same tables as pyhcl builds, without grammar chatter on stderr.
        self.yacc = yacc.yacc(module=self, debug=False, optimize=1, errorlog=yacc.NullLogger())

    def objectlist_flat(self, items: list[tuple[Any, Any]], replace: bool) -> Any:
        if replace:  # only the document root is flattened with replace=True
            return list(items)
        flat: dict[Any, Any] = {}
        for key, value in items:
            if key in flat:
                raise _PolicyError(f"duplicate key {_quote(str(key))}")
            flat[key] = value
        return flat

    def p_listitem_bool(self, p: Any) -> None:
        "listitem : BOOL"
        p[0] = p[1]

    def p_listitems_scalar_after_key(self, p: Any) -> None:
        """
        listitems : objectkey COMMA number
                  | objectkey COMMA BOOL
        """
        p[0] = [p[1], p[3]]


@functools.cache
def _parser() -> _HclParser:
    """The parser, built once: building its LALR tables takes ~20 ms, parsing a policy well
    under one. Parsing is synchronous, so one event loop never interleaves two parses."""
    return _HclParser()


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _PolicyError(f"duplicate key {_quote(key)}")
        result[key] = value
    return result


def _top_level_items(raw: str) -> list[tuple[Any, Any]]:
    """The document's top-level ``(key, value)`` items, repeats included, HCL or JSON."""
    try:
        if raw.lstrip().startswith("{"):
            document = json.loads(raw, object_pairs_hook=_reject_duplicate_json_keys)
            return _json_items(document)
        return list(_parser().parse(raw))
    except _PolicyError:
        raise
    except RecursionError:
        raise _PolicyError("document is nested too deeply") from None
    except (ValueError, TypeError, SyntaxError) as exc:
        raise _PolicyError(_truncate(str(exc))) from None


def _json_items(document: Any) -> list[tuple[Any, Any]]:
    if not isinstance(document, dict):
        raise _PolicyError("document must be an object")
    items: list[tuple[Any, Any]] = []
    for key, value in document.items():
        # Vault's JSON form also allows a list of path objects.
        values = value if key == "path" and isinstance(value, list) else [value]
        items.extend((key, each) for each in values)
    return items


def _path_blocks(raw: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, value in _top_level_items(raw):
        if key not in _TOP_LEVEL_KEYS:
            raise _PolicyError(f"invalid key {_quote(str(key))}")
        if key == "name":  # accepted and ignored, as in Vault: the API names the policy
            continue
        if not isinstance(value, dict):
            raise _PolicyError('"path" must be a block: path "<pattern>" { ... }')
        for path, body in value.items():
            if not isinstance(body, dict):
                raise _PolicyError(f"path {_quote(str(path))}: rule must be a block")
            yield str(path), body


# --- one rule ----------------------------------------------------------------------------


def _parse_rule(key: str, body: Mapping[str, Any]) -> PathRule:
    try:
        _check_rule_keys(body)
        path = _rule_path(key)
        capabilities = _rule_capabilities(body)
        allowed = _parameters(body.get("allowed_parameters"), "allowed_parameters")
        denied = _parameters(body.get("denied_parameters"), "denied_parameters")
        required = _required_parameters(body.get("required_parameters"))
        min_ttl = _ttl(body.get("min_wrapping_ttl"), "min_wrapping_ttl")
        max_ttl = _ttl(body.get("max_wrapping_ttl"), "max_wrapping_ttl")
    except _PolicyError as exc:
        raise _PolicyError(f"path {_quote(key)}: {exc}") from None
    if min_ttl and max_ttl and max_ttl < min_ttl:
        raise _PolicyError(
            f"path {_quote(key)}: max_wrapping_ttl cannot be less than min_wrapping_ttl"
        )
    if DENY in capabilities:
        return PathRule(path=path, capabilities=frozenset({DENY}))
    return PathRule(
        path=path,
        capabilities=capabilities,
        allowed_parameters=allowed,
        denied_parameters=denied,
        required_parameters=required,
        min_wrapping_ttl=min_ttl,
        max_wrapping_ttl=max_ttl,
    )


def _check_rule_keys(body: Mapping[str, Any]) -> None:
    for key in body:
        if key in _UNSUPPORTED_RULE_KEYS:
            raise _PolicyError(f"{_quote(key)} is not supported by warden")
        if key not in _RULE_KEYS:
            raise _PolicyError(f"invalid key {_quote(str(key))}")


def _rule_path(key: str) -> str:
    # Policy paths start after the "/v1/" of the API path, as in Vault.
    path = key.lstrip("/")
    if "{{" in path:
        raise _PolicyError("templated policy paths are not supported")
    if "+*" in path:
        raise _PolicyError("invalid use of wildcards ('+*' is forbidden)")
    if "*" in path[:-1]:
        raise _PolicyError("'*' is only allowed as the last character of a path")
    return path


def _rule_capabilities(body: Mapping[str, Any]) -> frozenset[str]:
    capabilities = _capability_list(body.get("capabilities"))
    legacy = body.get("policy")
    if legacy is None:
        return capabilities
    if not isinstance(legacy, str) or legacy not in LEGACY_POLICIES:
        raise _PolicyError(f"invalid policy {_quote(str(legacy))}")
    return capabilities | LEGACY_POLICIES[legacy]


def _capability_list(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise _PolicyError("capabilities must be a list of strings")
    for capability in value:
        if not isinstance(capability, str) or capability not in CAPABILITIES:
            raise _PolicyError(f"invalid capability {_quote(str(capability))}")
    return frozenset(value)


def _parameters(value: Any, field_name: str) -> Mapping[str, tuple[ParameterValue, ...]]:
    if value is None:
        return _empty_parameters()
    if not isinstance(value, dict):
        raise _PolicyError(f"{field_name} must map parameter names to lists of values")
    parameters: dict[str, tuple[ParameterValue, ...]] = {}
    for key, values in value.items():
        name = _parameter_name(key, field_name, wildcard_allowed=True)
        if name in parameters:
            raise _PolicyError(f"{field_name}: parameter {_quote(name)} is listed twice")
        parameters[name] = _parameter_values(name, values, field_name)
    return MappingProxyType(parameters)


def _parameter_name(key: Any, field_name: str, *, wildcard_allowed: bool) -> str:
    if not isinstance(key, str) or not key:
        raise _PolicyError(f"{field_name}: parameter names must be non-empty strings")
    if key.startswith("/"):
        raise _PolicyError(
            f"{field_name}: nested parameter paths ({_quote(key)}) are not supported"
        )
    if "*" in key and (key != "*" or not wildcard_allowed):
        raise _PolicyError(f"{field_name}: parameter {_quote(key)} cannot contain '*'")
    return key.lower()


def _parameter_values(name: str, values: Any, field_name: str) -> tuple[ParameterValue, ...]:
    if not isinstance(values, list):
        raise _PolicyError(f"{field_name}: parameter {_quote(name)} must have a list of values")
    if name == "*" and values:
        raise _PolicyError(f'{field_name}: parameter "*" only accepts an empty list')
    for item in values:
        if item is not None and not isinstance(item, str | int | float | bool):
            raise _PolicyError(
                f"{field_name}: values of parameter {_quote(name)} must be strings, "
                "numbers or booleans"
            )
    return tuple(values)


def _required_parameters(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _PolicyError("required_parameters must be a list of strings")
    names = (
        _parameter_name(item, "required_parameters", wildcard_allowed=False) for item in value
    )
    return tuple(dict.fromkeys(names))


def _ttl(value: Any, field_name: str) -> int:
    """Seconds from an integer, a string of digits or a duration such as "1h30m"."""
    if value is None:
        return 0
    seconds = _duration_seconds(value)
    if seconds is None:
        text = _quote(str(value))
        raise _PolicyError(
            f'invalid {field_name} {text}: use seconds or a duration like "90s", "5m", "1h"'
        )
    return seconds


def _duration_seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value >= 0 and value.is_integer() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    if not _DURATION_PATTERN.fullmatch(text):
        return None
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."


def _quote(text: str, limit: int = 120) -> str:
    """Double-quoted like Go's %q, shortened so a huge input is never echoed back."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return json.dumps(shown, ensure_ascii=False)


# --- the built-in "default" policy -------------------------------------------------------

DEFAULT_POLICY: Final = """\
# warden's built-in "default" policy. It is attached to every token unless the token
# was created without it, and it only lets a token look after itself. Operators may
# edit it; warden never rewrites it once stored.

# Inspect, renew and give up the calling token.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Ask which capabilities the calling token holds on some paths.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Discover mounts, so clients and the UI can find the engines they may use.
path "sys/internal/ui/mounts" {
  capabilities = ["read"]
}

path "sys/internal/ui/mounts/*" {
  capabilities = ["read"]
}

# Look up and renew leases the token was handed.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

# Response wrapping: wrap data, inspect a wrapping token, unwrap it.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Hash data with the server's hashing tool.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}

# Each token's private scratch space; it disappears with the token.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
"""
