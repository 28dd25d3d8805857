"""Output as Vault's CLI prints it: ``Key  Value`` tables, JSON, YAML and raw fields.

Tables are columns joined by four spaces with empty cells shown as ``n/a``; values are
printed the way Go's ``%v`` prints decoded JSON (``[a b]``, ``map[k:v]``, ``<nil>``), and
integer values of keys that look like durations (``ttl``, ``*_ttl``, ``period``) are shown
as ``768h`` or ``1h30m``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GLUE = "    "
TABLE_WIDTH = 100  # tables fit a terminal this wide by default; -wide (where offered) shows all
EMPTY = "n/a"
INFINITY = "∞"
SECRET_KEYS = ("request_id", "lease_id", "lease_duration", "renewable", "data", "warnings")
OPTIONAL_SECRET_KEYS = ("auth", "wrap_info", "mount_type")


# -- values ---------------------------------------------------------------------------------


def format_duration(seconds: int | float) -> str:
    """Vault's ``humanDuration``: Go's Duration.String() without trailing zero units."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(secs)}s" if float(secs).is_integer() else f"{secs:g}s"
    if hours:
        text = f"{int(hours)}h{int(minutes)}m{text}"
    elif minutes:
        text = f"{int(minutes)}m{text}"
    if text.endswith("m0s"):
        text = text[:-2]
    if (idx := text.find("h0m")) > 0:
        text = text[: idx + 1] + text[idx + 3:]
    return sign + text


def looks_like_duration(key: str) -> bool:
    return (key in ("period", "ttl", "duration", "lease_max", "ttl_max")
            or key.endswith(("_period", "_ttl", "_duration")))


def duration_value(value: Any) -> Any:
    """Vault's ``humanDurationInt``: integers (or integer strings) become durations."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and float(value).is_integer():
        return format_duration(int(value))
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return format_duration(int(value))
    return value


def format_value(value: Any) -> str:
    """Go's ``%v`` for values decoded from JSON."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{format_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    return str(value)


def quoted_list(values: Sequence[Any] | None) -> str:
    """Go's ``%q`` of a string slice: ``["default" "root"]``."""
    return "[" + " ".join(json.dumps(str(v), ensure_ascii=False) for v in values or ()) + "]"


def cell(key: str, value: Any) -> str:
    return format_value(duration_value(value) if looks_like_duration(key) else value)


# -- tables -------------------------------------------------------------------------------


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns joined by four spaces; the last column is not padded."""
    rows = [[c if c != "" else EMPTY for c in row] for row in rows]
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [max((len(r[i]) for r in rows if i < len(r) - 1), default=0) for i in range(ncols)]
    lines = []
    for row in rows:
        padded = [c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)]
        lines.append(GLUE.join(padded).rstrip())
    return "\n".join(lines)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Vault's ``tableOutput``: header, a dashed line under each heading, then the rows."""
    return columns([list(header), ["-" * len(h) for h in header], *map(list, rows)])


def wrap_column(rows: Sequence[Sequence[str]], column: int, header: Sequence[str],
                width: int = TABLE_WIDTH) -> list[list[str]]:
    """Wrap the cells of one column onto continuation lines (after a comma where there is
    one) so the table fits ``width``; nothing is cut off."""
    cells = [list(r) for r in rows]
    widths = [max(len(str(r[i])) for r in [list(header), *cells]) for i in range(len(header))]
    budget = width - (sum(widths) - widths[column]) - len(GLUE) * (len(header) - 1)
    if widths[column] <= budget or budget < 8:
        return cells
    out: list[list[str]] = []
    for row in cells:
        pieces = _wrapped(row[column], budget)
        out.append([*row[:column], pieces[0], *row[column + 1:]])
        out += [[" "] * column + [piece] + [" "] * (len(row) - column - 1) for piece in pieces[1:]]
    return out


def _wrapped(text: str, budget: int) -> list[str]:
    pieces = []
    while len(text) > budget:
        cut = text.rfind(",", 0, budget) + 1 or budget
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def key_value_table(rows: Iterable[tuple[str, str]]) -> str:
    rows = list(rows)
    return table(("Key", "Value"), rows) if rows else ""


def map_table(data: Mapping[str, Any]) -> str:
    """Vault's ``OutputMap``: sorted keys, durations humanised."""
    return key_value_table((k, cell(k, data[k])) for k in sorted(data))


def padded_header(title: str, width: int) -> str:
    """Vault's ``padEqualSigns``: ``==== title ====`` as wide as the table below it."""
    signs = width - (len(title) + 2)
    if signs < 0:
        return title
    left = signs // 2
    return f"{'=' * left} {title} {'=' * (signs - left)}"


def header_for_map(title: str, data: Mapping[str, Any]) -> str:
    """Vault's ``getHeaderForMap``: the width of the longest key plus "    Value"."""
    longest = max((len(k) for k in data), default=0)
    return padded_header(title, longest + len(GLUE) + len("Value"))


# -- secrets (Vault's api.Secret) ----------------------------------------------------------


def secret_rows(secret: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rows of Vault's ``TableFormatter.OutputSecret``."""
    rows: list[tuple[str, str]] = []
    lease = secret.get("lease_duration") or 0
    if lease > 0:
        if secret.get("lease_id"):
            rows += [("lease_id", secret["lease_id"]), ("lease_duration", format_duration(lease)),
                     ("lease_renewable", format_value(bool(secret.get("renewable"))))]
        else:
            rows.append(("refresh_interval", format_duration(lease)))
    if auth := secret.get("auth"):
        rows += auth_rows(auth)
    if wrap := secret.get("wrap_info"):
        rows += wrap_rows(wrap)
    data = secret.get("data") or {}
    if isinstance(data, Mapping):
        rows += [(k, cell(k, data[k])) for k in sorted(data)]
    return rows


def auth_rows(auth: Mapping[str, Any]) -> list[tuple[str, str]]:
    duration = auth.get("lease_duration") or 0
    rows = [
        ("token", auth.get("client_token") or ""),
        ("token_accessor", auth.get("accessor") or ""),
        ("token_duration", format_duration(duration) if duration else INFINITY),
        ("token_renewable", format_value(bool(auth.get("renewable")))),
        ("token_policies", quoted_list(auth.get("token_policies"))),
        ("identity_policies", quoted_list(auth.get("identity_policies"))),
        ("policies", quoted_list(auth.get("policies"))),
    ]
    meta = auth.get("metadata") or {}
    rows += [(f"token_meta_{k}", format_value(meta[k])) for k in sorted(meta)]
    return rows


def wrap_rows(wrap: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("wrapping_token:", wrap.get("token") or ""),
        ("wrapping_accessor:", wrap.get("accessor") or ""),
        ("wrapping_token_ttl:", format_duration(wrap.get("ttl") or 0)),
        ("wrapping_token_creation_time:", format_value(wrap.get("creation_time") or "")),
        ("wrapping_token_creation_path:", wrap.get("creation_path") or ""),
    ]
    if wrap.get("wrapped_accessor"):
        rows.append(("wrapped_accessor:", wrap["wrapped_accessor"]))
    return rows


def warnings_text(secret: Mapping[str, Any]) -> str:
    warnings = secret.get("warnings") or []
    if not warnings:
        return ""
    return "WARNING! The following warnings were returned from the server:\n\n" + "\n\n".join(
        f"  * {w}" for w in warnings)


def is_envelope(body: Mapping[str, Any]) -> bool:
    """Whether a body is Vault's secret envelope; a few endpoints (``sys/seal-status``,
    ``sys/health``) answer with bare objects, shown as if they were the data."""
    return "data" in body or "auth" in body or "wrap_info" in body


def normalize_secret(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of Vault's ``api.Secret`` in its order, as ``-format=json`` prints it."""
    if not is_envelope(body):
        return dict(body)
    out = {k: body.get(k) for k in SECRET_KEYS}
    out["request_id"] = out["request_id"] or ""
    out["lease_id"] = out["lease_id"] or ""
    out["lease_duration"] = out["lease_duration"] or 0
    out["renewable"] = bool(out["renewable"])
    for key in OPTIONAL_SECRET_KEYS:
        if body.get(key):
            out[key] = body[key]
    return out


def render_secret(secret: Mapping[str, Any], fmt: str) -> str:
    if fmt == "table" and not is_envelope(secret):
        return map_table(secret)
    if fmt == "table":
        text = key_value_table(secret_rows(secret))
        warnings = warnings_text(secret)
        return "\n\n".join(t for t in (text, warnings) if t)
    return render_data(normalize_secret(secret), fmt)


def render_data(data: Any, fmt: str) -> str:
    """JSON (two-space indent, as Go's MarshalIndent) or YAML of any decoded value."""
    if fmt == "yaml":
        import yaml  # only -format=yaml pays for the import

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                              allow_unicode=True).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_list(keys: Sequence[Any], fmt: str) -> str:
    if fmt == "table":
        return table(("Keys",), [[format_value(k)] for k in keys])
    return render_data(list(keys), fmt)


# -- fields ---------------------------------------------------------------------------------

_MISSING = object()


def secret_field(secret: Mapping[str, Any], name: str) -> Any:
    """Vault's ``extractSecretField``: auth and wrapping fields first, then data; None if
    the secret has no such field."""
    if not is_envelope(secret):
        return secret.get(name)
    auth = secret.get("auth")
    if auth:
        value = _auth_field(auth, name)
        if value is not _MISSING:
            return value
    wrap = secret.get("wrap_info")
    if wrap:
        value = _wrap_field(wrap, name)
        if value is not _MISSING:
            return value
    if name == "refresh_interval" and secret.get("lease_duration"):
        return format_duration(secret["lease_duration"])
    data = secret.get("data")
    if isinstance(data, Mapping) and name in data:
        return data[name]
    return None


def _auth_field(auth: Mapping[str, Any], name: str) -> Any:
    fields = {
        "token": auth.get("client_token"),
        "token_accessor": auth.get("accessor"),
        "token_duration": format_duration(auth.get("lease_duration") or 0),
        "token_renewable": auth.get("renewable"),
        "token_policies": auth.get("token_policies"),
        "identity_policies": auth.get("identity_policies"),
        "policies": auth.get("policies"),
    }
    return fields.get(name, _MISSING)


def _wrap_field(wrap: Mapping[str, Any], name: str) -> Any:
    fields = {
        "wrapping_token": wrap.get("token"),
        "wrapping_accessor": wrap.get("accessor"),
        "wrapping_token_ttl": wrap.get("ttl"),
        "wrapping_token_creation_time": wrap.get("creation_time"),
        "wrapping_token_creation_path": wrap.get("creation_path"),
        "wrapped_accessor": wrap.get("wrapped_accessor"),
    }
    return fields.get(name, _MISSING)


def render_field(value: Any, fmt: str) -> str:
    """Vault's ``PrintRawField``: ``%v`` of the value for tables, else the value encoded."""
    if fmt == "table":
        return format_value(value)
    return render_data(value, fmt)
