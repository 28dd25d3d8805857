"""Durations as Vault spells them: "72h", "1h30m", "90s", "7d", or plain seconds."""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
# Go's time.Duration (int64 nanoseconds), which is what Vault's durations are.
MAX_SECONDS = (2**63 - 1) // 1_000_000_000
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(value: object, *, signed: bool = False) -> int:
    """Return whole seconds; raise ValueError with a user-facing reason."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float):
        seconds = int(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError('expected a duration such as "72h" or a number of seconds')
    if seconds < 0 and not signed:
        raise ValueError("duration must not be negative")
    if abs(seconds) > MAX_SECONDS:
        raise ValueError("duration is too large (the limit is about 292 years)")
    return seconds


def parse_seconds(value: object) -> float:
    """Like ``parse_duration`` (never negative), but keeps fractions of a second ("250ms")."""
    if isinstance(value, str) and not re.fullmatch(r"[+-]?\d+", value.strip()):
        seconds = _parse_units(value.strip())
        if seconds < 0:
            raise ValueError("duration must not be negative")
        if seconds > MAX_SECONDS:
            raise ValueError("duration is too large (the limit is about 292 years)")
        return seconds
    return float(parse_duration(value))


def _parse_text(text: str) -> int:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return int(_parse_units(text))


def _parse_units(text: str) -> float:
    if text == "":
        return 0.0
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError('expected a duration such as "72h", "30m", "1h30m" or seconds')
    return sign * total


def format_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds, as Vault prints TTLs: 768h0m0s."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"
