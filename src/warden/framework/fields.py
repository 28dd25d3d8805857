"""Field types and their weak coercions (Vault's framework.FieldType and field_data.go)."""

from __future__ import annotations

import datetime as _dt
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from warden.framework.durations import parse_duration

NAME_RE = re.compile(r"^\w(([\w.-]+)?\w)?$")


class FieldType(enum.Enum):
    STRING = "string"
    LOWERCASE_STRING = "lowercase_string"
    NAME_STRING = "name_string"
    INT = "int"
    BOOL = "bool"
    FLOAT = "float"
    DURATION = "duration_second"
    SIGNED_DURATION = "signed_duration_second"
    MAP = "map"
    SLICE = "slice"
    STRING_SLICE = "string_slice"
    COMMA_STRING_SLICE = "comma_string_slice"
    COMMA_INT_SLICE = "comma_int_slice"
    KV_PAIRS = "kv_pairs"
    HEADER = "header"
    TIME = "time"


@dataclass(frozen=True, slots=True)
class Field:
    type: FieldType = FieldType.STRING
    description: str = ""
    default: Any = None
    required: bool = False
    allowed_values: Sequence[Any] = ()
    deprecated: bool = False
    # Name under which the field is shown in help output when it differs (rare).
    display_name: str = ""


_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off", ""}


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    raise ValueError("expected a string")


_INT64 = 2**63


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    elif isinstance(v, str) and re.fullmatch(r"[+-]?\d{1,20}", v.strip()):
        v = int(v.strip())
    if not isinstance(v, int):
        raise ValueError("expected an integer")
    if not -_INT64 <= v < _INT64:
        raise ValueError("integer out of range (64-bit)")
    return v


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise ValueError("expected a boolean (true or false)")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise ValueError("expected a number")


def _to_map(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, str):
        try:
            parsed = orjson.loads(v) if v.strip() else {}
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise ValueError("expected a JSON object")


def _to_list(v: Any) -> list[Any]:
    if isinstance(v, list | tuple):
        return list(v)
    if isinstance(v, str) and v.strip().startswith("["):
        try:
            parsed = orjson.loads(v)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    raise ValueError("expected a list")


def _to_str_slice(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v] if v else []
    return [_to_str(x) for x in _to_list(v)]


def _to_comma_str_slice(v: Any) -> list[str]:
    if isinstance(v, str):
        items = v.split(",")
    elif isinstance(v, list | tuple):
        items = [_to_str(x) for x in v]
    else:
        items = [_to_str(v)]
    return [s.strip() for s in items if s.strip()]


def _to_comma_int_slice(v: Any) -> list[int]:
    return [_to_int(x) for x in _to_comma_str_slice(v)]


def _to_kv_pairs(v: Any) -> dict[str, str]:
    if isinstance(v, dict):
        return {str(k): _to_str(x) for k, x in v.items()}
    out: dict[str, str] = {}
    for item in _to_comma_str_slice(v):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError('expected key=value pairs')
        out[key] = value
    return out


def _to_header(v: Any) -> dict[str, list[str]]:
    m = _to_map(v)
    return {str(k): _to_str_slice(x) for k, x in m.items()}


def _to_time(v: Any) -> _dt.datetime:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _dt.datetime.fromtimestamp(v, _dt.UTC)
    if isinstance(v, str):
        try:
            parsed = _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)
    raise ValueError("expected an RFC 3339 time or seconds since the epoch")


def _to_name(v: Any) -> str:
    s = _to_str(v)
    if not NAME_RE.match(s):
        raise ValueError("expected a name of letters, digits, '_', '-' and '.'")
    return s


COERCERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.STRING: _to_str,
    FieldType.LOWERCASE_STRING: lambda v: _to_str(v).lower(),
    FieldType.NAME_STRING: _to_name,
    FieldType.INT: _to_int,
    FieldType.BOOL: _to_bool,
    FieldType.FLOAT: _to_float,
    FieldType.DURATION: parse_duration,
    FieldType.SIGNED_DURATION: lambda v: parse_duration(v, signed=True),
    FieldType.MAP: _to_map,
    FieldType.SLICE: _to_list,
    FieldType.STRING_SLICE: _to_str_slice,
    FieldType.COMMA_STRING_SLICE: _to_comma_str_slice,
    FieldType.COMMA_INT_SLICE: _to_comma_int_slice,
    FieldType.KV_PAIRS: _to_kv_pairs,
    FieldType.HEADER: _to_header,
    FieldType.TIME: _to_time,
}

ZERO_VALUES: dict[FieldType, Callable[[], Any]] = {
    FieldType.STRING: str,
    FieldType.LOWERCASE_STRING: str,
    FieldType.NAME_STRING: str,
    FieldType.INT: int,
    FieldType.BOOL: bool,
    FieldType.FLOAT: float,
    FieldType.DURATION: int,
    FieldType.SIGNED_DURATION: int,
    FieldType.MAP: dict,
    FieldType.SLICE: list,
    FieldType.STRING_SLICE: list,
    FieldType.COMMA_STRING_SLICE: list,
    FieldType.COMMA_INT_SLICE: list,
    FieldType.KV_PAIRS: dict,
    FieldType.HEADER: dict,
    FieldType.TIME: lambda: None,
}


def coerce(field: Field, value: Any) -> Any:
    """Convert ``value`` to the field's type; raise ValueError with a reason (never the value)."""
    result = COERCERS[field.type](value)
    if field.allowed_values and result not in field.allowed_values:
        allowed = ", ".join(str(a) for a in field.allowed_values)
        raise ValueError(f"must be one of: {allowed}")
    return result


def default_of(field: Field) -> Any:
    if field.default is None:
        return ZERO_VALUES[field.type]()
    return coerce(field, field.default)
