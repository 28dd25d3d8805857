"""Which names a role lets into a certificate: hostnames, domains, globs, wildcards, IDNA.

Pure functions mirroring Vault's ``ValidateNames``: a name is checked for form first
(control characters, wildcards, ``enforce_hostnames``), then matched against the role's
localhost and ``allowed_domains`` rules. A refusal always comes with the reason.
"""

from __future__ import annotations

import encodings.idna
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_LABEL = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])"
_LEFT_WILD = rf"(\*|\*{_LABEL}|{_LABEL}\*|{_LABEL}\*{_LABEL})"
# A hostname, optionally with an RFC 6125 wildcard in its left-most label (Vault's wildHostnameRegex).
WILD_HOSTNAME = re.compile(rf"^({_LEFT_WILD}\.)?({_LABEL}\.)*{_LABEL}\.?$")
_LOCAL_NAMES = ("localhost", "localdomain")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ODD_DOTS = re.compile("[\u3002\uff0e\uff61]")
# An ASCII name whose labels are 1-63 characters: IDNA leaves it as it is.
_PLAIN_ASCII = re.compile(r"(?:[^.]{1,63}\.)*[^.]{1,63}\.?", re.ASCII)
_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class NamePolicy:
    """The role options that decide which DNS names and email addresses are allowed."""

    allow_any_name: bool = False
    enforce_hostnames: bool = True
    allow_localhost: bool = True
    allowed_domains: tuple[str, ...] = ()
    allow_bare_domains: bool = False
    allow_subdomains: bool = False
    allow_glob_domains: bool = False
    allow_wildcard_certificates: bool = True
    # Verdicts already reached under this policy (check_name is pure; a role, and so its
    # policy, is replaced whenever it changes). Agents renew the same names over and over.
    _verdicts: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False,
                                             repr=False)


def show(name: str) -> str:
    """A name quoted for an error message, with control characters escaped."""
    return '"' + "".join(c if c.isprintable() else _escape(c) for c in name) + '"'


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_control_chars(name: str) -> bool:
    return _CONTROL.search(name) is not None


def to_ascii(name: str) -> str:
    """The IDNA A-label form of a domain name; ASCII input passes through (as Go's idna does).

    Raises ValueError for an empty label, an over-long name, a label IDNA cannot encode, and
    a label IDNA would silently change (zero-width characters, soft hyphens, full-width
    letters): the subject would then show a name that differs from the one in the SAN.
    """
    if name.isascii() and len(name) <= 253 and _PLAIN_ASCII.fullmatch(name):
        return name
    if _ODD_DOTS.search(name):
        raise ValueError("it uses a full-width or ideographic dot; write labels with '.'")
    body = name[:-1] if name.endswith(".") else name
    if not body:
        raise ValueError("empty name")
    labels = body.split(".")
    converted = []
    for label in labels:
        if not label:
            raise ValueError("empty label")
        if not label.isascii():
            try:
                encoded = encodings.idna.ToASCII(label).decode("ascii")
                canonical = encodings.idna.ToUnicode(encoded).casefold() == label.casefold()
            except UnicodeError as exc:
                raise ValueError(f"not a valid internationalized name ({exc})") from None
            if not canonical:
                raise ValueError("it is not in canonical IDNA form (encoding would change it)")
            label = encoded
        if len(label) > 63:
            raise ValueError("a label is longer than 63 characters")
        converted.append(label)
    ascii_name = ".".join(converted)
    if len(ascii_name) > 253:
        raise ValueError("the name is longer than 253 characters")
    return ascii_name + ("." if name.endswith(".") else "")


def is_hostname(name: str) -> bool:
    """A syntactically valid DNS name (wildcard left label allowed), after IDNA conversion."""
    try:
        return WILD_HOSTNAME.match(to_ascii(name)) is not None and not has_control_chars(name)
    except ValueError:
        return False


def glob_match(pattern: str, value: str) -> bool:
    """Shell-style glob where only ``*`` is special and may span dots (ryanuber/go-glob)."""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    if not value.startswith(parts[0]) or not value.endswith(parts[-1]):
        return False
    pos, end = len(parts[0]), len(value) - len(parts[-1])
    if pos > end:
        return False
    for part in parts[1:-1]:
        found = value.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


@dataclass(frozen=True, slots=True)
class _Parsed:
    name: str
    reduced: str  # the host part, without an email's local part or a wildcard label
    wildcard_label: str
    is_email: bool

    @property
    def is_wildcard(self) -> bool:
        return bool(self.wildcard_label)


def _parse(name: str, policy: NamePolicy) -> _Parsed | str:
    reduced, is_email = name, False
    if "@" in name:
        parts = name.split("@")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            return "it is not a valid email address"
        reduced, is_email = parts[1], True
    if "*" not in reduced:
        return _Parsed(name, reduced, "", is_email)
    if not policy.allow_wildcard_certificates:
        return "wildcard certificates are not allowed (allow_wildcard_certificates=false)"
    if is_email:
        return "an email address cannot have a wildcard domain"
    if reduced.count("*") > 1:
        return "only one wildcard is allowed"
    label, dot, rest = reduced.partition(".")
    if not dot or not rest:
        return "a wildcard needs at least one non-wildcard label to its right"
    if "*" in rest:
        return "the wildcard must be in the left-most label"
    return _Parsed(name, rest, label, False)


def check_name(name: str, policy: NamePolicy) -> str | None:
    """None if the role allows ``name`` (a DNS name, wildcard or email address), else why not."""
    memo = policy._verdicts
    if name in memo:
        return memo[name]
    verdict = _check_name(name, policy)
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[name] = verdict
    return verdict


def _check_name(name: str, policy: NamePolicy) -> str | None:
    if not name:
        return "it is empty"
    if has_control_chars(name):
        return "it contains control characters"
    parsed = _parse(name, policy)
    if isinstance(parsed, str):
        return parsed
    if policy.enforce_hostnames:
        why = _hostname_problem(parsed)
        if why:
            return why
    if policy.allow_any_name or _allowed_locally(parsed, policy) or _allowed_by_domains(parsed, policy):
        return None
    return _why_not_allowed(parsed, policy)


def _hostname_problem(parsed: _Parsed) -> str | None:
    try:
        converted = to_ascii(parsed.reduced)
    except ValueError as exc:
        return f"it is not a valid hostname: {exc} (enforce_hostnames=true)"
    if parsed.is_wildcard:
        converted = parsed.wildcard_label + "." + converted
    if not WILD_HOSTNAME.match(converted):
        return "it is not a valid hostname (enforce_hostnames=true)"
    return None


def _allowed_locally(p: _Parsed, policy: NamePolicy) -> bool:
    if not policy.allow_localhost:
        return False
    host = p.reduced.lower()
    if host in _LOCAL_NAMES and not p.is_wildcard:
        return True
    if not policy.allow_subdomains:
        return False
    return any(host.endswith("." + n) or (p.is_wildcard and host == n) for n in _LOCAL_NAMES)


def _allowed_by_domains(p: _Parsed, policy: NamePolicy) -> bool:
    host = p.reduced.lower()
    for domain in (d for d in policy.allowed_domains if d):
        low = domain.lower()
        if policy.allow_bare_domains and (p.name.lower() == low or (p.is_email and host == low)):
            return True
        if policy.allow_subdomains and (host.endswith("." + low) or (p.is_wildcard and host == low)):
            return True
        if policy.allow_glob_domains and "*" in domain and glob_match(low, p.name.lower()):
            return True
    return False


def _why_not_allowed(p: _Parsed, policy: NamePolicy) -> str:
    host = p.reduced.lower()
    if host in _LOCAL_NAMES and not policy.allow_localhost:
        return f"{host} is not allowed (allow_localhost=false)"
    domains = [d for d in policy.allowed_domains if d]
    if not domains:
        return "the role allows no names (allowed_domains is empty and allow_any_name is false)"
    for domain in domains:
        low = domain.lower()
        if (p.name.lower() == low or (p.is_email and host == low)) and not policy.allow_bare_domains:
            return f"the bare domain {show(domain)} is not allowed (allow_bare_domains=false)"
        if host.endswith("." + low) or (p.is_wildcard and host == low):
            kind = "wildcards under" if p.is_wildcard else "subdomains of"
            return f"{kind} {show(domain)} are not allowed (allow_subdomains=false)"
        if "*" in domain and not policy.allow_glob_domains and glob_match(low, p.name.lower()):
            return f"{show(domain)} is a glob pattern but allow_glob_domains=false"
    listed = ", ".join(show(d) for d in domains)
    hint = " (the trailing dot is part of the name)" if p.name.endswith(".") else ""
    return f"it matches none of allowed_domains [{listed}]{hint}"


def check_names(names: Sequence[str], policy: NamePolicy) -> tuple[str, str] | None:
    """The first refused name and the reason, or None if every name is allowed."""
    for name in names:
        why = check_name(name, policy)
        if why is not None:
            return name, why
    return None


def split_alt_names(raw: Sequence[str]) -> tuple[list[str], list[str]]:
    """Vault's alt_names: de-duplicated and sorted, split into (DNS names, email addresses)."""
    unique = sorted({n.strip() for n in raw if n.strip()})
    return [n for n in unique if "@" not in n], [n for n in unique if "@" in n]
