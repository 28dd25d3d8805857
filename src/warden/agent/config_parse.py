"""Reading raw configuration values (from HCL, JSON or YAML) with errors that say where.

``Block`` wraps one block's mapping and its location (``certificate "etcd"``); each typed
getter names the block and the key in its error, and ``finish()`` refuses unknown keys so
a typo never silently turns a setting off.
"""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(Exception):
    """The agent's configuration is unusable; the message names the block and key."""


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``30``, ``"30"``, ``"1h30m"``, ``"720h"``, ``"500ms"`` or ``"2d"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as \"30s\" or \"720h\", got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value.strip()):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"{where}: {value!r} is not a duration (use e.g. \"30s\", \"10m\", \"720h\")")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ConfigError(f"{where}: expected a duration such as \"30s\" or \"720h\", got {value!r}")
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative")
    return seconds


def parse_mode(value: Any, where: str) -> int:
    """A file mode written in octal: ``"0640"``, ``"640"`` or (HCL) ``0640``/``640``.

    Integers are read by their digits, as octal: HCL parsers disagree on what ``0640`` is,
    and nobody writes a file mode in decimal.
    """
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    text = text.removeprefix("0o")
    if not re.fullmatch(r"[0-7]{1,4}", text):
        raise ConfigError(f"{where}: {value!r} is not an octal file mode such as \"0640\"")
    return int(text, 8)


def parse_fraction(value: Any, where: str) -> float:
    """A fraction in (0, 1): ``0.66``, ``"2/3"`` or ``"66%"``."""
    try:
        if isinstance(value, str) and "/" in value:
            num, den = value.split("/", 1)
            fraction = float(num) / float(den)
        elif isinstance(value, str) and value.strip().endswith("%"):
            fraction = float(value.strip()[:-1]) / 100
        elif isinstance(value, int | float | str) and not isinstance(value, bool):
            fraction = float(value)
        else:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"{where}: {value!r} is not a fraction such as 0.66, \"2/3\" or \"66%\"") from None
    if not 0 < fraction < 1:
        raise ConfigError(f"{where}: must be between 0 and 1 (exclusive), got {value!r}")
    return fraction


def resolve_user(value: Any, where: str) -> int:
    return _resolve_id(value, where, "user", "uid", lambda name: pwd.getpwnam(name).pw_uid)


def resolve_group(value: Any, where: str) -> int:
    return _resolve_id(value, where, "group", "gid", lambda name: grp.getgrnam(name).gr_gid)


def _resolve_id(value: Any, where: str, kind: str, id_name: str,
                lookup: Callable[[str], int]) -> int:
    """A numeric id as given, or the id of a user/group name; a ConfigError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value:
        try:
            return lookup(value)
        except KeyError:
            raise ConfigError(f"{where}: no such {kind} {value!r}") from None
    raise ConfigError(f"{where}: expected a {kind} name or {id_name}, got {value!r}")


@dataclass(slots=True)
class Block:
    """One configuration block: typed getters that remember which keys were used."""

    where: str
    data: Mapping[str, Any]
    used: set[str] = field(default_factory=set)

    def at(self, key: str) -> str:
        return f"{self.where}: {key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.raw(key)
        if value is None:
            if required:
                raise ConfigError(f"{self.where}: missing required key \"{key}\"")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{self.at(key)}: expected a string, got {value!r}")
        text = str(value)
        if required and not text.strip():
            raise ConfigError(f"{self.where}: \"{key}\" must not be empty")
        return text

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{self.at(key)}: expected true or false, got {value!r}")

    def duration(self, key: str, default: float) -> float:
        value = self.raw(key)
        return default if value is None else parse_duration(value, self.at(key))

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings, or one comma-separated string (as Vault's CLI takes SANs)."""
        value = self.raw(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(s.strip() for s in value.split(",") if s.strip())
        if isinstance(value, list) and all(isinstance(s, str) for s in value):
            return tuple(s.strip() for s in value if s.strip())
        raise ConfigError(f"{self.at(key)}: expected a list of strings, got {value!r}")

    def mapping(self, key: str, *, required: bool = False) -> Mapping[str, Any]:
        value = self.raw(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None:
            if required:
                raise ConfigError(f"{self.where}: missing required block \"{key}\"")
            return {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.at(key)}: expected a block of settings, got {value!r}")
        return value

    def child(self, key: str, where: str, *, required: bool = False) -> Block:
        return Block(where, self.mapping(key, required=required))

    def finish(self) -> None:
        unknown = sorted(k for k in self.data if k not in self.used)
        if unknown:
            name = unknown[0]
            known = ", ".join(sorted(self.used))
            place = self.where or "the top level"
            raise ConfigError(f"{place}: unknown key \"{name}\" (known keys: {known})")


def labeled_blocks(value: Any, fields: frozenset[str], where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The blocks of one kind, as (label, body): HCL gives ``name "label" {...}`` as
    ``{"label": {...}}``, repeated blocks as a list, and unlabeled ones as the body itself;
    YAML and JSON may use any of these shapes. The label is "" when there is none."""
    if value is None:
        return
    if isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            yield from labeled_blocks(item, fields, where)
        return
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a block, got {value!r}")
    own = {k: v for k, v in value.items() if k in fields}
    labeled = {k: v for k, v in value.items() if k not in fields}
    for label, body in labeled.items():
        bodies = body if isinstance(body, list) else [body]
        if not bodies or not all(isinstance(b, Mapping) for b in bodies):
            if not fields:  # a kind whose blocks all carry a label
                raise ConfigError(f"{where}: give the block a label, as in {where} \"NAME\" {{ ... }} "
                                  f"(found the key \"{label}\" where the label goes)")
            raise ConfigError(f"{where}: unknown key \"{label}\" (known keys: {', '.join(sorted(fields))})")
        for inner in bodies:
            yield label, inner
    if own or not labeled:
        yield "", own
