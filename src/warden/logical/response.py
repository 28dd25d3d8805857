"""What a backend answers, before the core adds tokens, leases and wrapping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Auth:
    """A token to be created (from a login) or that was created (token create)."""

    policies: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    display_name: str = ""
    ttl: int = 0
    max_ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    renewable: bool = True
    no_default_policy: bool = False
    token_type: str = "service"
    bound_cidrs: list[str] = field(default_factory=list)
    # Kept with the token and handed back to the auth method when it is renewed.
    internal_data: dict[str, Any] = field(default_factory=dict)
    # Filled by the core once the token exists.
    client_token: str = ""
    accessor: str = ""
    token_policies: list[str] = field(default_factory=list)
    orphan: bool = False
    entity_id: str = ""
    lease_duration: int = 0


@dataclass(slots=True)
class Secret:
    """A lease on something a backend handed out (e.g. a certificate with generate_lease)."""

    ttl: int
    renewable: bool = False
    max_ttl: int = 0
    internal_data: dict[str, Any] = field(default_factory=dict)
    lease_id: str = ""


@dataclass(slots=True)
class WrapInfo:
    token: str
    accessor: str
    ttl: int
    creation_time: str
    creation_path: str
    wrapped_accessor: str = ""
    format: str = ""


@dataclass(frozen=True, slots=True)
class RawBody:
    body: bytes
    content_type: str
    status: int = 200


@dataclass(slots=True)
class Response:
    data: dict[str, Any] | None = None
    auth: Auth | None = None
    secret: Secret | None = None
    warnings: list[str] = field(default_factory=list)
    wrap_info: WrapInfo | None = None
    raw: RawBody | None = None
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str = ""
    # warden extension: non-secret facts the backend wants in the audit record
    # unhashed (e.g. an issued certificate's serial, subject and SANs).
    audit: dict[str, Any] | None = None
    mount_type: str = ""
    # Vault's older sys endpoints repeat ``data``'s keys at the top level of the
    # body (sys/mounts, sys/auth, sys/policy); hvac and scripts read either.
    top_level: bool = False
    # A backend may ask for its response to be wrapped with this TTL even when
    # the client sent no X-Vault-Wrap-TTL (sys/wrapping/wrap does).
    wrap_ttl: int = 0
    # The HTTP status of a JSON response when it is not 200 (Vault's RespondWithStatusCode:
    # 202 for an operation started in the background, like pki/tidy).
    status: int = 0

    @classmethod
    def listing(
        cls, keys: Iterable[str], key_info: Mapping[str, Any] | None = None
    ) -> Response:
        data: dict[str, Any] = {"keys": list(keys)}
        if key_info is not None:
            data["key_info"] = dict(key_info)
        return cls(data=data)

    @classmethod
    def raw_body(cls, body: bytes, content_type: str, status: int = 200) -> Response:
        return cls(raw=RawBody(body=body, content_type=content_type, status=status))
