"""Evaluate a token's policies against requests, as Vault's ``vault/acl.go`` does.

Rules with the same path string are merged across policies (capabilities OR-ed, an explicit
``deny`` wipes the rest). A request path is then answered by ONE merged rule:

1. an exact rule for the path, else
2. among matching prefix (``secret/*``) and segment-wildcard (``secret/+/x``) rules, the one
   ranked highest by Vault's documented priority (see ``_rank``).

Capabilities of different rule paths are never unioned. The ACL works on literal path
strings: normalising ``..``, ``//`` and percent-encoding is the HTTP edge's job (``secret/*``
literally matches ``secret/../admin``), so the edge must reject such paths before they get
here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from warden.core.policy import DENY, ROOT_POLICY_NAME, SUDO, ParameterValue, PathRule, Policy
from warden.logical.operation import Operation

_CACHE_SIZE: Final = 4096
# Longer paths are evaluated without the cache so hostile input cannot pin much memory.
_CACHEABLE_PATH_LENGTH: Final = 512
_ALL: Final = "*"

_REQUIRED_CAPABILITY: Final[Mapping[str, str]] = MappingProxyType(
    {
        Operation.CREATE: "create",
        Operation.READ: "read",
        Operation.UPDATE: "update",
        Operation.PATCH: "patch",
        Operation.DELETE: "delete",
        Operation.LIST: "list",
        # Vault maps lease renewal and revocation onto "update".
        Operation.RENEW: "update",
        Operation.REVOKE: "update",
    }
)
# Operations whose request data is checked against parameter constraints (Vault includes
# read, whose data are query parameters).
_PARAMETER_CHECKED: Final = frozenset(
    {Operation.CREATE, Operation.UPDATE, Operation.PATCH, Operation.READ}
)

Parameters = Mapping[str, tuple[ParameterValue, ...]]
Rank = tuple[int, int, int, int, str]


@dataclass(frozen=True, slots=True)
class AclResult:
    allowed: bool
    sudo: bool
    reason: str


_ROOT_RESULT: Final = AclResult(allowed=True, sudo=True, reason="root policy allows everything")
_ROOT_CAPABILITIES: Final = frozenset({"root"})
_DENIED_CAPABILITIES: Final = frozenset({DENY})


def _denied(reason: str) -> AclResult:
    return AclResult(allowed=False, sudo=False, reason=reason)


# --- merged permissions of one rule path ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grant:
    capabilities: frozenset[str]
    allowed_parameters: Parameters
    denied_parameters: Parameters
    required_parameters: tuple[str, ...]
    min_wrapping_ttl: int
    max_wrapping_ttl: int

    @classmethod
    def from_rule(cls, rule: PathRule) -> _Grant:
        if DENY in rule.capabilities:
            return _DENY_GRANT
        return cls(
            capabilities=rule.capabilities,
            allowed_parameters=rule.allowed_parameters,
            denied_parameters=rule.denied_parameters,
            required_parameters=tuple(sorted(set(rule.required_parameters))),
            min_wrapping_ttl=rule.min_wrapping_ttl,
            max_wrapping_ttl=rule.max_wrapping_ttl,
        )

    def merge(self, other: _Grant) -> _Grant:
        """Vault's merge of two rules for the same path; commutative up to value order."""
        if DENY in self.capabilities or DENY in other.capabilities:
            return _DENY_GRANT
        return _Grant(
            capabilities=self.capabilities | other.capabilities,
            allowed_parameters=_merge_parameters(self.allowed_parameters, other.allowed_parameters),
            denied_parameters=_merge_parameters(self.denied_parameters, other.denied_parameters),
            required_parameters=tuple(
                sorted(set(self.required_parameters) | set(other.required_parameters))
            ),
            # The shorter wrapping lifetime wins; 0 means "not set".
            min_wrapping_ttl=_smallest_set(self.min_wrapping_ttl, other.min_wrapping_ttl),
            max_wrapping_ttl=_smallest_set(self.max_wrapping_ttl, other.max_wrapping_ttl),
        )


_DENY_GRANT: Final = _Grant(
    capabilities=frozenset({DENY}),
    allowed_parameters=MappingProxyType({}),
    denied_parameters=MappingProxyType({}),
    required_parameters=(),
    min_wrapping_ttl=0,
    max_wrapping_ttl=0,
)


def _merge_parameters(left: Parameters, right: Parameters) -> Parameters:
    """Union of keys; an empty value list ("any value") absorbs a populated one."""
    if not left:
        return right
    if not right:
        return left
    merged = dict(left)
    for name, values in right.items():
        existing = merged.get(name)
        if existing is None:
            merged[name] = values
        elif not existing or not values:
            merged[name] = ()
        else:
            merged[name] = existing + values
    return MappingProxyType(merged)


def _smallest_set(left: int, right: int) -> int:
    if left and right:
        return min(left, right)
    return left or right


# --- non-exact rules and their priority ----------------------------------------------------


def _rank(first_wildcard: int, is_prefix: bool, wildcards: int, stem: str) -> Rank:
    """Vault's priority order as a sort key; the larger key wins.

    1. the first ``+`` or ``*`` occurs later;  2. not ending in ``*``;  3. fewer ``+``
    segments;  4. longer (trailing ``*`` excluded);  5. lexicographically larger.
    """
    return (first_wildcard, 0 if is_prefix else 1, -wildcards, len(stem), stem)


@dataclass(frozen=True, slots=True)
class _WildcardRule:
    """A rule with at least one ``+`` segment, optionally ending in a ``*`` glob."""

    segments: tuple[str, ...]
    is_prefix: bool
    rank: Rank
    grant: _Grant

    @classmethod
    def from_path(cls, path: str, grant: _Grant) -> _WildcardRule:
        is_prefix = path.endswith("*")
        stem = path[:-1] if is_prefix else path
        segments = tuple(stem.split("/"))
        first = segments.index("+")
        position = sum(len(segment) + 1 for segment in segments[:first])
        rank = _rank(position, is_prefix, segments.count("+"), stem)
        return cls(segments=segments, is_prefix=is_prefix, rank=rank, grant=grant)

    def matches(self, parts: Sequence[str]) -> bool:
        count = len(self.segments)
        if len(parts) < count or (not self.is_prefix and len(parts) != count):
            return False
        last = count - 1
        for index, segment in enumerate(self.segments):
            part = parts[index]
            if segment == "+":
                # Exactly one non-empty segment: "secret/+/x" never matches "secret//x".
                if not part:
                    return False
            elif self.is_prefix and index == last:
                if not part.startswith(segment):
                    return False
            elif part != segment:
                return False
        return True


def _grants_something(grant: _Grant) -> bool:
    return DENY not in grant.capabilities and bool(grant.capabilities)


def _segments_compatible(rule: _WildcardRule, mount_segments: Sequence[str]) -> bool:
    """Could ``rule`` match some path below the mount whose segments are given?"""
    for index, wanted in enumerate(mount_segments):
        if index >= len(rule.segments):
            return rule.is_prefix
        segment = rule.segments[index]
        last = index == len(rule.segments) - 1
        if segment == "+":
            continue
        if rule.is_prefix and last:
            return wanted.startswith(segment)
        if segment != wanted:
            return False
    return True


def _is_wildcard(path: str) -> bool:
    stem = path[:-1] if path.endswith("*") else path
    return "+" in stem.split("/")


# --- the ACL -------------------------------------------------------------------------------


class ACL:
    """An immutable, pre-indexed view of a set of policies. Build it with ``ACL.build``."""

    __slots__ = ("_exact", "_lookup_cached", "_prefix", "_prefix_lengths", "_root", "_wildcards")

    def __init__(
        self,
        *,
        root: bool = False,
        exact: Mapping[str, _Grant] | None = None,
        prefix: Mapping[str, _Grant] | None = None,
        wildcards: Iterable[_WildcardRule] = (),
    ) -> None:
        self._root = root
        self._exact: Mapping[str, _Grant] = MappingProxyType(dict(exact or {}))
        self._prefix: Mapping[str, _Grant] = MappingProxyType(dict(prefix or {}))
        self._prefix_lengths = tuple(sorted({len(p) for p in self._prefix}, reverse=True))
        self._wildcards = tuple(sorted(wildcards, key=lambda rule: rule.rank, reverse=True))
        self._lookup_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._resolve)

    @classmethod
    def build(cls, policies: Iterable[Policy]) -> ACL:
        grants: dict[str, _Grant] = {}
        for policy in policies:
            if policy.name == ROOT_POLICY_NAME:
                return cls(root=True)
            for rule in policy.rules:
                path = rule.path.lstrip("/")
                grant = _Grant.from_rule(rule)
                existing = grants.get(path)
                grants[path] = grant if existing is None else existing.merge(grant)
        return cls._indexed(grants)

    @classmethod
    def _indexed(cls, grants: Mapping[str, _Grant]) -> ACL:
        exact: dict[str, _Grant] = {}
        prefix: dict[str, _Grant] = {}
        wildcards: list[_WildcardRule] = []
        for path, grant in grants.items():
            if _is_wildcard(path):
                wildcards.append(_WildcardRule.from_path(path, grant))
            elif path.endswith("*"):
                prefix[path[:-1]] = grant
            else:
                exact[path] = grant
        return cls(exact=exact, prefix=prefix, wildcards=wildcards)

    @property
    def is_root(self) -> bool:
        return self._root

    def capabilities(self, path: str) -> frozenset[str]:
        """Capabilities on ``path`` as ``sys/capabilities`` reports them.

        Like Vault this evaluates the path as a list request would (a trailing ``/`` may
        fall back to the rule without it). ``{"root"}`` for root, ``{"deny"}`` when no rule
        applies, the rule is a deny, or it grants nothing.
        """
        if self._root:
            return _ROOT_CAPABILITIES
        grant = self._lookup(path.lstrip("/"), for_list=True)
        if grant is None or not grant.capabilities or DENY in grant.capabilities:
            return _DENIED_CAPABILITIES
        return grant.capabilities

    def allowed(
        self,
        operation: Operation,
        path: str,
        data: Mapping[str, object] | None = None,
        *,
        wrap_ttl: int | None = None,
    ) -> AclResult:
        """Whether ``operation`` on ``path`` with ``data`` is permitted.

        ``wrap_ttl`` is the response-wrapping TTL the client asked for, in seconds (None: no
        wrapping); rules with ``min_wrapping_ttl``/``max_wrapping_ttl`` check it. ``data`` of
        None is treated as no parameters, so ``required_parameters`` then fail.
        """
        if self._root:
            return _ROOT_RESULT
        grant = self._lookup(path.lstrip("/"), for_list=operation == Operation.LIST)
        if grant is None:
            return _denied("no policy rule matches the path")
        if DENY in grant.capabilities:
            return _denied("the path is explicitly denied by policy")
        if operation == Operation.HELP:
            return _help_result(grant)
        return _check_grant(grant, operation, data, wrap_ttl)

    def reaches_under(self, mount: str) -> bool:
        """Whether any rule grants something at or below ``mount`` (Vault's hasMountAccess).

        Used to let a token learn which mount serves a path (``sys/internal/ui/mounts``)
        when it may use something in that mount, even without a rule for the mount itself.
        """
        if self._root or self.capabilities(mount) != _DENIED_CAPABILITIES:
            return True
        for path, grant in (*self._exact.items(), *self._prefix.items()):
            if path.startswith(mount) and _grants_something(grant):
                return True
        wanted = mount.rstrip("/").split("/")
        return any(_grants_something(rule.grant) and _segments_compatible(rule, wanted)
                   for rule in self._wildcards)

    # -- lookup --

    def _lookup(self, path: str, *, for_list: bool) -> _Grant | None:
        if len(path) > _CACHEABLE_PATH_LENGTH:
            return self._resolve(path, for_list)
        return self._lookup_cached(path, for_list)

    def _resolve(self, path: str, for_list: bool) -> _Grant | None:
        grant = self._exact.get(path)
        if grant is not None or not for_list:
            return grant if grant is not None else self._non_exact(path)
        # Vault's list fallback: LIST "secret/foo/" is governed first by the rules for
        # "secret/foo", because policies usually name the folder without the slash.
        trimmed = path.removesuffix("/")
        grant = self._exact.get(trimmed)
        if grant is not None:
            return grant
        if trimmed != path:
            grant = self._non_exact(trimmed)
            if grant is not None:
                return grant
        return self._non_exact(path)

    def _non_exact(self, path: str) -> _Grant | None:
        prefix = self._longest_prefix(path)
        prefix_rank = _rank(len(prefix), True, 0, prefix) if prefix is not None else None
        parts: list[str] | None = None
        for rule in self._wildcards:  # sorted best first
            if prefix_rank is not None and prefix_rank > rule.rank:
                break
            if parts is None:
                parts = path.split("/")
            if rule.matches(parts):
                return rule.grant
        return self._prefix[prefix] if prefix is not None else None

    def _longest_prefix(self, path: str) -> str | None:
        size = len(path)
        for length in self._prefix_lengths:
            if length <= size and path[:length] in self._prefix:
                return path[:length]
        return None


# --- checking one grant ----------------------------------------------------------------------


def _help_result(grant: _Grant) -> AclResult:
    if not grant.capabilities:
        return _denied("no capability is granted on the path")
    return AclResult(allowed=True, sudo=SUDO in grant.capabilities, reason="help is allowed")


def _check_grant(
    grant: _Grant,
    operation: Operation,
    data: Mapping[str, object] | None,
    wrap_ttl: int | None,
) -> AclResult:
    needed = _REQUIRED_CAPABILITY.get(operation)
    if needed is None:
        return _denied(f"operation {str(operation)!r} is not covered by policy")
    if needed not in grant.capabilities:
        return _denied(f'policy does not grant the "{needed}" capability on the path')
    problem = _wrapping_problem(grant, wrap_ttl)
    if problem is None and operation in _PARAMETER_CHECKED:
        problem = _parameter_problem(grant, data or {})
    if problem is not None:
        return _denied(problem)
    return AclResult(allowed=True, sudo=SUDO in grant.capabilities, reason="allowed by policy")


def _wrapping_problem(grant: _Grant, wrap_ttl: int | None) -> str | None:
    minimum, maximum = grant.min_wrapping_ttl, grant.max_wrapping_ttl
    if not minimum and not maximum:
        return None
    if wrap_ttl is None:
        return "policy requires the response to be wrapped"
    if maximum and wrap_ttl > maximum:
        return "requested wrapping TTL is longer than the policy allows"
    if minimum and wrap_ttl < minimum:
        return "requested wrapping TTL is shorter than the policy requires"
    # Merging policies can produce min > max even though each rule was valid.
    if minimum and maximum and maximum < minimum:
        return "policy wrapping TTL bounds are contradictory"
    return None


def _parameter_problem(grant: _Grant, data: Mapping[str, object]) -> str | None:
    # Names are compared case-insensitively (policy names are stored lower-cased).
    params = {str(name).lower(): value for name, value in data.items()}
    for name in grant.required_parameters:
        if name not in params:
            return f"required parameter {_name(name)} is missing"
    if not params:
        return None
    return _denied_parameter(grant.denied_parameters, params) or _disallowed_parameter(
        grant.allowed_parameters, params
    )


def _denied_parameter(denied: Parameters, params: Mapping[str, object]) -> str | None:
    if _ALL in denied:
        return "policy denies every parameter on the path"
    for name, value in params.items():
        patterns = denied.get(name)
        if patterns is not None and _value_denied(value, patterns):
            return f"parameter {_name(name)} is denied by policy"
    return None


def _disallowed_parameter(allowed: Parameters, params: Mapping[str, object]) -> str | None:
    if not allowed:
        return None
    allow_any = _ALL in allowed
    for name, value in params.items():
        patterns = allowed.get(name)
        if patterns is None:
            if not allow_any:
                return f"parameter {_name(name)} is not allowed by policy"
        elif not _value_allowed(value, patterns):
            return f"a value of parameter {_name(name)} is not allowed by policy"
    return None


def _name(name: str) -> str:
    shown = name if len(name) <= 64 else name[:64] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- parameter values ------------------------------------------------------------------------


def _value_allowed(value: object, patterns: tuple[ParameterValue, ...]) -> bool:
    """An empty list allows anything; lists and comma strings need every item allowed."""
    if not patterns or _matches_any(value, patterns):
        return True
    items = _items(value)
    return items is not None and all(_matches_any(item, patterns) for item in items)


def _value_denied(value: object, patterns: tuple[ParameterValue, ...]) -> bool:
    """An empty list denies anything; lists and comma strings are denied by any item."""
    if not patterns or _matches_any(value, patterns):
        return True
    items = _items(value)
    return items is not None and any(_matches_any(item, patterns) for item in items)


def _items(value: object) -> list[object] | None:
    """The items of a list, or of a string read as a comma-separated list (as Vault does).

    Empty lists and strings yield None, so they never satisfy an allowed-values list.
    """
    if isinstance(value, list | tuple) and value:
        return list(value)
    if isinstance(value, str) and value:
        return [item.strip() for item in value.split(",")]
    return None


def _matches_any(value: object, patterns: tuple[ParameterValue, ...]) -> bool:
    return any(_matches(pattern, value) for pattern in patterns)


def _matches(pattern: ParameterValue, value: object) -> bool:
    if pattern is None or value is None:
        return pattern is value
    if isinstance(pattern, str):
        return isinstance(value, str) and _glob_match(pattern, value)
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    return isinstance(value, int | float) and pattern == value


def _glob_match(pattern: str, value: str) -> bool:
    """Vault's GlobbedStringsMatch: a leading and/or trailing ``*``; a lone ``*`` is literal."""
    if len(pattern) < 2:
        return value == pattern
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    if starts and ends:
        return pattern[1:-1] in value
    if starts:
        return value.endswith(pattern[1:])
    if ends:
        return value.startswith(pattern[:-1])
    return value == pattern
