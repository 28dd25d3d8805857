"""The token fields every login method shares (Vault's sdk/helper/tokenutil).

A role of any auth method carries a ``TokenParams``: which policies, TTLs, use
limit and CIDR binding the tokens minted by its logins get. ``token_fields()``
declares them once (with the older names a method still accepts), and
``TokenParams.updated()`` parses a role write into a new value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from warden.framework import Field, FieldData, FieldType
from warden.logical.errors import InvalidRequest
from warden.logical.response import Auth

# The legacy names Vault still accepts, and the field each one stands for.
LEGACY_NAMES: Mapping[str, str] = {
    "policies": "token_policies",
    "period": "token_period",
    "ttl": "token_ttl",
    "max_ttl": "token_max_ttl",
    "num_uses": "token_num_uses",
    "bound_cidrs": "token_bound_cidrs",
}

TOKEN_FIELDS: Mapping[str, Field] = {
    "token_policies": Field(
        FieldType.COMMA_STRING_SLICE,
        "Policies attached to tokens issued through this role (comma-separated or a list)."),
    "token_ttl": Field(
        FieldType.DURATION, "Initial TTL of issued tokens, e.g. 1h; 0 means the mount's default."),
    "token_max_ttl": Field(
        FieldType.DURATION, "Longest a token may live through renewals; 0 means the mount's max."),
    "token_explicit_max_ttl": Field(
        FieldType.DURATION, "A hard limit no renewal can pass, even for periodic tokens."),
    "token_period": Field(
        FieldType.DURATION, "Make tokens periodic: each renewal resets the TTL to this period."),
    "token_num_uses": Field(
        FieldType.INT, "How many requests an issued token may make; 0 is unlimited."),
    "token_bound_cidrs": Field(
        FieldType.COMMA_STRING_SLICE,
        "CIDR blocks or IP addresses from which issued tokens may be used."),
    "token_no_default_policy": Field(
        FieldType.BOOL, 'Do not attach the "default" policy to issued tokens.'),
    "token_type": Field(
        FieldType.STRING, 'Type of issued tokens: "service", "batch" (not stored: cannot be '
        'renewed or revoked, expire with their TTL) or "default" (the mount\'s default).',
        default="default"),
    "token_renewable": Field(
        FieldType.BOOL,
        "warden extension: false issues tokens that can never be renewed (default true).",
        default=True),
}

_LEGACY_FIELDS: Mapping[str, Field] = {
    name: Field(TOKEN_FIELDS[new].type, f'Deprecated: use "{new}".', deprecated=True)
    for name, new in LEGACY_NAMES.items()
}


def token_fields(legacy: Iterable[str] = ("policies", "period")) -> dict[str, Field]:
    """The common token fields plus the legacy names this auth method still accepts."""
    fields = dict(TOKEN_FIELDS)
    for name in legacy:
        fields[name] = _LEGACY_FIELDS[name]
    return fields


@dataclass(frozen=True, slots=True)
class TokenParams:
    """How tokens minted by a role's logins look; durations in seconds."""

    policies: tuple[str, ...] = ()
    ttl: int = 0
    max_ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    bound_cidrs: tuple[str, ...] = ()
    no_default_policy: bool = False
    token_type: str = "default"
    renewable: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("policies", "bound_cidrs"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    def updated(self, data: FieldData) -> TokenParams:
        """This value with every supplied token field applied, validated."""
        values = self.to_json()
        for attr, name in _ATTRS.items():
            found, value = _supplied(data, name)
            if found:
                values[attr] = value
        values["policies"] = tuple(normalize_policies(values["policies"]))
        values["bound_cidrs"] = tuple(check_cidrs(values["bound_cidrs"], "token_bound_cidrs"))
        params = TokenParams(**values)
        params.validate()
        return params

    def validate(self) -> None:
        if self.token_type not in ("service", "batch", "default"):
            raise InvalidRequest(f"invalid 'token_type' value {self.token_type!r}: use "
                                 '"service", "batch" or "default"')
        if self.token_type == "batch" and self.period:
            raise InvalidRequest("'token_type' cannot be 'batch' when set to generate periodic "
                                 "tokens")
        if self.token_type == "batch" and self.num_uses:
            raise InvalidRequest("'token_type' cannot be 'batch' when set to generate tokens "
                                 "with limited use count")
        if self.num_uses < 0:
            raise InvalidRequest("token_num_uses cannot be negative")
        if self.max_ttl and self.ttl > self.max_ttl:
            raise InvalidRequest('"token_ttl" cannot be greater than "token_max_ttl"')
        if "root" in self.policies:
            raise InvalidRequest('token_policies may not contain "root": auth methods cannot '
                                 "issue root tokens")

    def response_data(self, legacy: Iterable[str] = ("policies", "period")) -> dict[str, Any]:
        """The token fields of a role read, with the legacy names mirrored as Vault does."""
        data: dict[str, Any] = {
            "token_policies": list(self.policies),
            "token_ttl": self.ttl,
            "token_max_ttl": self.max_ttl,
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "token_period": self.period,
            "token_num_uses": self.num_uses,
            "token_bound_cidrs": list(self.bound_cidrs),
            "token_no_default_policy": self.no_default_policy,
            "token_type": self.token_type,
            "token_renewable": self.renewable,
        }
        for name in legacy:
            data[name] = data[LEGACY_NAMES[name]]
        return data

    def to_auth(
        self,
        *,
        display_name: str,
        metadata: Mapping[str, str],
        internal_data: Mapping[str, Any],
        bound_cidrs: Sequence[str] | None = None,
    ) -> Auth:
        """The Auth a login returns; the core turns it into a token."""
        return Auth(
            policies=list(self.policies),
            metadata=dict(metadata),
            display_name=display_name,
            ttl=self.ttl,
            max_ttl=self.max_ttl,
            explicit_max_ttl=self.explicit_max_ttl,
            period=self.period,
            num_uses=self.num_uses,
            renewable=self.renewable,
            no_default_policy=self.no_default_policy,
            token_type=self.token_type,
            bound_cidrs=list(self.bound_cidrs if bound_cidrs is None else bound_cidrs),
            internal_data={**internal_data, "policies": list(self.policies)},
        )

    def renewal(self, current: Auth) -> Auth:
        """The Auth a renewal returns: the role's current TTLs, or refused if policies moved."""
        issued = current.internal_data.get("policies")
        if issued is None or not policies_equivalent(issued, self.policies):
            raise InvalidRequest("the role's policies have changed since login; not renewing")
        if not self.renewable:
            raise InvalidRequest("tokens issued by this role are not renewable")
        return replace(
            current, ttl=self.ttl, max_ttl=self.max_ttl, period=self.period,
            explicit_max_ttl=self.explicit_max_ttl,
        )


# TokenParams attribute -> field name in a request.
_ATTRS: Mapping[str, str] = {
    "policies": "token_policies",
    "ttl": "token_ttl",
    "max_ttl": "token_max_ttl",
    "explicit_max_ttl": "token_explicit_max_ttl",
    "period": "token_period",
    "num_uses": "token_num_uses",
    "bound_cidrs": "token_bound_cidrs",
    "no_default_policy": "token_no_default_policy",
    "token_type": "token_type",
    "renewable": "token_renewable",
}


def _supplied(data: FieldData, name: str) -> tuple[bool, Any]:
    """The new name wins; a legacy name counts only if the path declares it."""
    if data.supplied(name):
        return True, data.get(name)
    for old, new in LEGACY_NAMES.items():
        if new == name and data.supplied(old):
            return True, data.get(old)
    return False, None


def normalize_policies(policies: Iterable[str]) -> list[str]:
    """Vault's policyutil.ParsePolicies: trimmed, lower-cased, de-duplicated, sorted."""
    return sorted({p.strip().lower() for p in policies if p.strip()})


def policies_equivalent(a: Iterable[str], b: Iterable[str]) -> bool:
    """Equal as sets, ignoring "default" (Vault's policyutil.EquivalentPolicies)."""
    return set(normalize_policies(a)) - {"default"} == set(normalize_policies(b)) - {"default"}


def check_cidrs(values: Iterable[str], field: str) -> list[str]:
    """Each entry must be a CIDR block or a single address; returns them unchanged."""
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise InvalidRequest(
                f'"{field}" entry {i + 1} is not a valid CIDR block or IP address: "{value}"'
            ) from None
        out.append(value)
    return out





def cidrs_subset(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether every block of ``inner`` lies inside some block of ``outer``."""
    outer_nets = [ipaddress.ip_network(c, strict=False) for c in outer]
    for c in inner:
        net = ipaddress.ip_network(c, strict=False)
        if not any(net.version == o.version and net.subnet_of(o) for o in outer_nets):  # type: ignore[arg-type]
            return False
    return True


RoleT = TypeVar("RoleT")


def role_to_json(role: Any) -> dict[str, Any]:
    """A stored role (a dataclass with a ``token: TokenParams`` field) as JSON."""
    data = asdict(role)
    data["token"] = role.token.to_json()
    return data


def role_from_json(cls: type[RoleT], data: Mapping[str, Any], *, tuples: Iterable[str],
                   schema_version: int) -> RoleT:
    """The role back from JSON: unknown keys dropped (older or newer writers), the named
    list fields as tuples, the token parameters decoded, upgraded to ``schema_version``."""
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    values = {k: v for k, v in data.items() if k in fields}
    for name in tuples:
        values[name] = tuple(values.get(name) or ())
    values["token"] = TokenParams.from_json(values.get("token") or {})
    values["schema_version"] = schema_version
    return cls(**values)
