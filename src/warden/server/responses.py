"""logical Response -> Vault's JSON envelope (or a raw body, or 204)."""

from __future__ import annotations

from typing import Any

import orjson

from warden.logical.operation import Operation
from warden.logical.response import Auth, Response, WrapInfo

JSON = "application/json"


def auth_json(auth: Auth) -> dict[str, Any]:
    return {
        "client_token": auth.client_token,
        "accessor": auth.accessor,
        "policies": auth.policies,
        "token_policies": auth.token_policies or auth.policies,
        "identity_policies": None,
        "metadata": auth.metadata or None,
        "lease_duration": auth.lease_duration,
        "renewable": auth.renewable,
        "entity_id": auth.entity_id,
        "token_type": auth.token_type,
        "orphan": auth.orphan,
        "mfa_requirement": None,
        "num_uses": auth.num_uses,
    }


def wrap_info_json(info: WrapInfo) -> dict[str, Any]:
    return {
        "token": info.token,
        "accessor": info.accessor,
        "ttl": info.ttl,
        "creation_time": info.creation_time,
        "creation_path": info.creation_path,
        "wrapped_accessor": info.wrapped_accessor,
    }


def envelope(request_id: str, resp: Response) -> dict[str, Any]:
    secret = resp.secret
    body: dict[str, Any] = {
        "request_id": request_id,
        "lease_id": secret.lease_id if secret else "",
        "renewable": secret.renewable if secret else False,
        "lease_duration": secret.ttl if secret else 0,
        "data": resp.data,
        "wrap_info": wrap_info_json(resp.wrap_info) if resp.wrap_info else None,
        "warnings": resp.warnings or None,
        "auth": auth_json(resp.auth) if resp.auth else None,
        "mount_type": resp.mount_type,
    }
    if resp.wrap_info is not None:
        body["data"] = None
        body["auth"] = None
    elif resp.top_level and resp.data:
        for key, value in resp.data.items():
            body.setdefault(key, value)
    return body


def render(
    request_id: str, op: Operation, resp: Response | None
) -> tuple[int, str, bytes, dict[str, str]]:
    """(status, content type, body, extra headers) for a handled request."""
    if op is Operation.HELP:
        # Vault answers a help request with the help data itself (http/help.go: respondOk).
        return 200, JSON, orjson.dumps(resp.data if resp is not None else {}), {}
    if resp is None:
        if op in (Operation.READ, Operation.LIST):
            return 404, JSON, b'{"errors":[]}', {}
        return 204, JSON, b"", {}
    if resp.raw is not None:
        return resp.raw.status, resp.raw.content_type, resp.raw.body, dict(resp.headers)
    if op is Operation.LIST and resp.wrap_info is None and not (resp.data or {}).get("keys"):
        return 404, JSON, b'{"errors":[]}', {}
    if (resp.data is None and resp.auth is None and resp.wrap_info is None
            and resp.secret is None and not resp.warnings and op not in (
                Operation.READ, Operation.LIST)):
        return 204, JSON, b"", dict(resp.headers)
    return resp.status or 200, JSON, orjson.dumps(envelope(request_id, resp)), dict(resp.headers)


def error_body(messages: list[str]) -> bytes:
    return orjson.dumps({"errors": messages})
