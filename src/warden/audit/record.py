"""What happened, before any device decides how much of it to hash.

The core fills an ``AuditRecord``; each device formats it into Vault's JSON shape
with its own options (``log_raw``, ``hmac_accessor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warden.audit.hashing import Hasher


@dataclass(frozen=True, slots=True)
class AuditAuth:
    client_token: str = ""
    accessor: str = ""
    display_name: str = ""
    policies: tuple[str, ...] = ()
    token_policies: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    entity_id: str = ""
    token_type: str = ""
    token_ttl: int = 0
    token_issue_time: str = ""


@dataclass(frozen=True, slots=True)
class AuditRequest:
    id: str
    operation: str
    path: str
    data: Mapping[str, Any] | None
    client_token: str = ""
    client_token_accessor: str = ""
    mount_type: str = ""
    mount_accessor: str = ""
    remote_address: str = ""
    remote_port: int = 0
    wrap_ttl: int = 0
    non_hmac_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditResponse:
    data: Mapping[str, Any] | None = None
    auth: Mapping[str, Any] | None = None
    secret: Mapping[str, Any] | None = None
    wrap_info: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    mount_type: str = ""
    non_hmac_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One request, and (for response records) what came back or went wrong."""

    type: str  # "request" or "response"
    time: str
    auth: AuditAuth
    request: AuditRequest
    response: AuditResponse | None = None
    error: str = ""
    # Non-secret facts a backend asked to be logged as they are (issued certificates).
    facts: Mapping[str, Any] | None = None
    # HMACs already computed for this request's records (shared by them; never stored).
    memo: dict[str, str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class FormatOptions:
    log_raw: bool = False
    hmac_accessor: bool = True
    elide_list_responses: bool = False


def format_record(record: AuditRecord, hasher: Hasher, opts: FormatOptions) -> dict[str, Any]:
    """The Vault-shaped JSON object for one record (without the chain fields)."""

    memo = record.memo

    def secret(value: str) -> str:
        return value if opts.log_raw or not value else hasher.hash(value, memo)

    def accessor(value: str) -> str:
        return value if not opts.hmac_accessor else secret(value)

    def structure(value: Any, skip: tuple[str, ...]) -> Any:
        return (value if opts.log_raw or value is None
                else hasher.hash_structure(value, skip=skip, memo=memo))

    auth = record.auth
    out: dict[str, Any] = {
        "time": record.time,
        "type": record.type,
        "auth": {
            "client_token": secret(auth.client_token),
            "accessor": accessor(auth.accessor),
            "display_name": auth.display_name,
            "policies": list(auth.policies),
            "token_policies": list(auth.token_policies),
            "metadata": dict(auth.metadata),
            "entity_id": auth.entity_id,
            "token_type": auth.token_type,
            "token_ttl": auth.token_ttl,
            "token_issue_time": auth.token_issue_time,
        },
        "request": _request(record.request, secret, accessor, structure),
        "error": record.error,
    }
    if record.response is not None:
        out["response"] = _response(record.response, secret, accessor, structure, opts,
                                    record.request.operation)
    if record.facts:
        out.update({k: v for k, v in record.facts.items() if k not in out})
    return out


def _request(req: AuditRequest, secret: Any, accessor: Any, structure: Any) -> dict[str, Any]:
    return {
        "id": req.id,
        "operation": req.operation,
        "mount_type": req.mount_type,
        "mount_accessor": req.mount_accessor,
        "client_token": secret(req.client_token),
        "client_token_accessor": accessor(req.client_token_accessor),
        "namespace": {"id": "root"},
        "path": req.path,
        "data": structure(dict(req.data) if req.data else None, req.non_hmac_keys),
        "remote_address": req.remote_address,
        "remote_port": req.remote_port,
        "wrap_ttl": req.wrap_ttl,
    }


def _response(resp: AuditResponse, secret: Any, accessor: Any, structure: Any,
              opts: FormatOptions, operation: str) -> dict[str, Any]:
    data = dict(resp.data) if resp.data is not None else None
    if opts.elide_list_responses and operation == "list" and data is not None:
        data = {k: (len(v) if k in ("keys", "key_info") and hasattr(v, "__len__") else v)
                for k, v in data.items()}
    out: dict[str, Any] = {
        "mount_type": resp.mount_type,
        "data": structure(data, resp.non_hmac_keys),
        "warnings": list(resp.warnings) or None,
    }
    if resp.auth is not None:
        auth = dict(resp.auth)
        auth["client_token"] = secret(str(auth.get("client_token", "")))
        auth["accessor"] = accessor(str(auth.get("accessor", "")))
        out["auth"] = auth
    if resp.secret is not None:
        out["secret"] = dict(resp.secret)
    if resp.wrap_info is not None:
        wrap = dict(resp.wrap_info)
        wrap["token"] = secret(str(wrap.get("token", "")))
        wrap["accessor"] = accessor(str(wrap.get("accessor", "")))
        wrap["wrapped_accessor"] = accessor(str(wrap.get("wrapped_accessor", "")))
        out["wrap_info"] = wrap
    return out
