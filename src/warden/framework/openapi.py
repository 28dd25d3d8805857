"""OpenAPI 3 descriptions of declared paths, as Vault's path help returns them (``openapi``).

Generated from the same table that routes requests, so the description cannot drift from
what the backend accepts. Patterns become templates (``roles/(?P<name>...)`` ->
``/roles/{name}``); field types map as in Vault's sdk/framework/openapi.go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from warden import __version__
from warden.framework.fields import Field, FieldType
from warden.framework.path import Path
from warden.logical.operation import Operation

OPENAPI_VERSION = "3.0.2"

_TYPES: Mapping[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.LOWERCASE_STRING: {"type": "string"},
    FieldType.NAME_STRING: {"type": "string"},
    FieldType.INT: {"type": "integer"},
    FieldType.BOOL: {"type": "boolean"},
    FieldType.FLOAT: {"type": "number"},
    FieldType.DURATION: {"type": "string", "format": "duration"},
    FieldType.SIGNED_DURATION: {"type": "string", "format": "duration"},
    FieldType.MAP: {"type": "object"},
    FieldType.KV_PAIRS: {"type": "object"},
    FieldType.HEADER: {"type": "object"},
    FieldType.SLICE: {"type": "array", "items": {"type": "object"}},
    FieldType.STRING_SLICE: {"type": "array", "items": {"type": "string"}},
    FieldType.COMMA_STRING_SLICE: {"type": "array", "items": {"type": "string"}},
    FieldType.COMMA_INT_SLICE: {"type": "array", "items": {"type": "integer"}},
    FieldType.TIME: {"type": "string", "format": "date-time"},
}

_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


def document(paths: Iterable[Path]) -> dict[str, Any]:
    """An OpenAPI document of ``paths`` (relative to their mount)."""
    items: dict[str, Any] = {}
    for path in paths:
        items.setdefault(template(path.pattern), {}).update(path_item(path))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "warden", "version": __version__,
                 "description": "HTTP API that gives you full access to warden."},
        "paths": items,
        "components": {"schemas": {}},
    }


def template(pattern: str) -> str:
    """A pattern as an OpenAPI path template: named groups become ``{name}``."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        match = _GROUP.match(pattern, i)
        if match is not None:
            out.append("{" + match.group("name") + "}")
            i = _group_end(pattern, i)
            continue
        if pattern.startswith("(?:", i):
            i += 3  # an optional or alternative wrapper: keep what it holds
            continue
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if char == ")":
            i += 2 if pattern.startswith(")?", i) else 1
            continue
        out.append(char)
        i += 1
    text = "".join(out)
    if text.endswith("/?"):
        text = text[:-2]
    return "/" + text.lstrip("^").rstrip("$?")


def _group_end(pattern: str, start: int) -> int:
    """The index just past the group opening at ``start`` (and its ``?`` if optional)."""
    depth = 0
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 2 if pattern.startswith(")?", i) else i + 1
        i += 1
    return len(pattern)


def path_item(path: Path) -> dict[str, Any]:
    captures = set(_GROUP.findall(path.pattern))
    item: dict[str, Any] = {"description": path.help_synopsis.strip()}
    if captures:
        item["parameters"] = [
            {"name": name, "in": "path", "required": True,
             "description": path.fields[name].description, "schema": schema(path.fields[name])}
            for name in sorted(captures) if name in path.fields]
    body = {name: field for name, field in path.fields.items() if name not in captures}
    summary = path.help_synopsis.strip()
    ops = set(path.operations)
    if Operation.READ in ops:
        item["get"] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if Operation.LIST in ops:
        listing = {"summary": summary, "responses": {"200": {"description": "OK"}},
                   "parameters": [{"name": "list", "in": "query", "required": True,
                                   "description": "Must be set to true",
                                   "schema": {"type": "string", "enum": ["true"]}}]}
        item.setdefault("get", listing)
    if ops & {Operation.UPDATE, Operation.CREATE}:
        item["post"] = {"summary": summary, "responses": {"200": {"description": "OK"}},
                        **_request_body(body)}
    if Operation.PATCH in ops:
        item["patch"] = {"summary": summary, "responses": {"200": {"description": "OK"}},
                         **_request_body(body)}
    if Operation.DELETE in ops:
        item["delete"] = {"summary": summary, "responses": {"204": {"description": "empty body"}}}
    return item


def _request_body(fields: Mapping[str, Field]) -> dict[str, Any]:
    if not fields:
        return {}
    properties = {name: {**schema(f), "description": f.description}
                  | ({"deprecated": True} if f.deprecated else {})
                  for name, f in sorted(fields.items())}
    required = sorted(name for name, f in fields.items() if f.required)
    body_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body_schema["required"] = required
    return {"requestBody": {"required": bool(required), "content": {
        "application/json": {"schema": body_schema}}}}


def schema(field: Field) -> dict[str, Any]:
    out = dict(_TYPES.get(field.type, {"type": "string"}))
    if field.default is not None and not isinstance(field.default, list | dict | tuple):
        out["default"] = field.default
    if field.allowed_values:
        out["enum"] = list(field.allowed_values)
    return out
