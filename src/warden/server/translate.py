"""HTTP request -> logical Request: method, path normalisation, headers, body."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson

from warden.framework.durations import parse_duration
from warden.logical.errors import InvalidRequest, UnsupportedOperation
from warden.logical.operation import Operation

_METHODS = {
    "GET": Operation.READ,
    "HEAD": Operation.READ,
    "POST": Operation.UPDATE,
    "PUT": Operation.UPDATE,
    "DELETE": Operation.DELETE,
    "LIST": Operation.LIST,
    "LINK": Operation.LIST,  # LIST as rewritten by server.protocol (llhttp knows no LIST)
    "PATCH": Operation.PATCH,
    "HELP": Operation.HELP,
    "BIND": Operation.HELP,  # HELP as rewritten by server.protocol (llhttp knows no HELP)
}
_QUERY_DATA_METHODS = {"GET", "HEAD", "DELETE", "LIST", "LINK"}

# How deeply a JSON body may nest (the outer object is level 1). Vault's listener option
# max_json_depth defaults to 500; warden's storage and audit encoders (orjson) stop at 254
# levels, and a stored or audited value is wrapped a few levels deeper than it came in.
DEFAULT_MAX_JSON_DEPTH = 100
MAX_JSON_DEPTH_CEILING = 200


def normalize_path(raw: str) -> str:
    """The path after ``/v1/`` as the ACL and the router will both see it.

    ``raw`` is still percent-encoded. Literal repeated slashes are collapsed before
    decoding; an encoded slash (``%2F``, as in a base64 OCSP request) stays where it
    is. ``.``/``..`` segments and control characters in the decoded path are refused
    outright, so no spelling reaches a backend in a form the ACL check did not see.
    """
    try:
        path = urllib.parse.unquote("/".join(s for s in raw.split("/") if s), errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest("invalid request path: percent-encoding is not valid UTF-8") from None
    if raw.endswith("/") and path:
        path += "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise InvalidRequest("invalid request path: control characters are not allowed")
    if any(s in (".", "..") for s in path.split("/")):
        raise InvalidRequest('invalid request path: "." and ".." segments are not allowed')
    return path


def operation_for(method: str, query: Mapping[str, list[str]]) -> Operation:
    op = _METHODS.get(method)
    if op is None:
        raise UnsupportedOperation(f"unsupported method {method}")
    if is_help(method, query):
        return Operation.HELP
    if op is Operation.READ and _truthy(query.get("list")):
        return Operation.LIST
    return op


def is_help(method: str, query: Mapping[str, list[str]]) -> bool:
    """Vault's wrapHelpHandler: the HELP method, or any non-empty ``help`` parameter (even
    ``help=0``), asks for the path's help, whatever the method; the request never runs."""
    return _METHODS.get(method) is Operation.HELP or any(v != "" for v in query.get("help", ()))


def _truthy(values: list[str] | None) -> bool:
    return bool(values) and values[-1].lower() in ("true", "1", "t", "yes")  # type: ignore[index]


def parse_query(raw: bytes) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(raw.decode("latin-1"), keep_blank_values=True)


OCSP_REQUEST = "application/ocsp-request"


def request_data(method: str, query: Mapping[str, list[str]], body: bytes,
                 content_type: str = "", *,
                 max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, Any]:
    if content_type.split(";", 1)[0].strip().lower() == OCSP_REQUEST and method == "POST":
        # RFC 6960 POSTs a DER body; the PKI engine takes it base64-encoded as a field.
        return {"ocsp_request": base64.b64encode(body).decode("ascii")}
    if method in _QUERY_DATA_METHODS:
        data: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in query.items()}
        data.pop("list", None)
        data.pop("help", None)  # reserved, as in Vault: never a field of the request
        if body.strip() and method == "DELETE":
            data.update(_json_object(body, max_depth))
        return data
    return _json_object(body, max_depth) if body.strip() else {}


def _json_object(body: bytes, max_depth: int) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)  # refuses more than 1024 levels itself
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg:
            raise _too_deep(max_depth) from None
        raise InvalidRequest(f"failed to parse JSON input: {exc.msg} at position {exc.pos}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise InvalidRequest("failed to parse JSON input: the body must be a JSON object")
    if nests_deeper_than(parsed, max_depth):
        raise _too_deep(max_depth)
    return parsed


def _too_deep(limit: int) -> InvalidRequest:
    return InvalidRequest(f"failed to parse JSON input: JSON input exceeds allowed nesting depth "
                          f"({limit} levels)")


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def client_token(headers: Mapping[str, str]) -> str:
    token = headers.get("x-vault-token", "")
    if not token:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token


def wrap_ttl(headers: Mapping[str, str]) -> int:
    raw = headers.get("x-vault-wrap-ttl", "")
    if not raw:
        return 0
    try:
        ttl = parse_duration(raw)
    except ValueError as exc:
        raise InvalidRequest(f"invalid X-Vault-Wrap-TTL header: {exc}") from None
    if ttl <= 0:
        raise InvalidRequest("invalid X-Vault-Wrap-TTL header: must be positive")
    return ttl
