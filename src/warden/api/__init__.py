"""warden's HTTP client (also speaks to Vault), used by the CLI, the agent and kube tooling.

This package talks HTTP only: it imports nothing else from warden.
"""

from __future__ import annotations

from warden.api.client import AsyncClient, Call, Client, JsonDict
from warden.api.config import DEFAULT_ADDRESS, ClientSettings, ConfigError, settings_from_env
from warden.api.errors import (
    ApiError,
    BadGateway,
    ClientError,
    Forbidden,
    InternalServerError,
    InvalidPath,
    InvalidRequest,
    NotInitialized,
    PreconditionFailed,
    RateLimitExceeded,
    RequestTooLarge,
    Sealed,
    TransportError,
    Unauthorized,
    UnsupportedOperation,
    VaultDown,
)
from warden.api.token_file import read_token_file, token_file_path, write_token_file

__all__ = [
    "DEFAULT_ADDRESS",
    "ApiError",
    "AsyncClient",
    "BadGateway",
    "Call",
    "Client",
    "ClientError",
    "ClientSettings",
    "ConfigError",
    "Forbidden",
    "InternalServerError",
    "InvalidPath",
    "InvalidRequest",
    "JsonDict",
    "NotInitialized",
    "PreconditionFailed",
    "RateLimitExceeded",
    "RequestTooLarge",
    "Sealed",
    "TransportError",
    "Unauthorized",
    "UnsupportedOperation",
    "VaultDown",
    "read_token_file",
    "settings_from_env",
    "token_file_path",
    "write_token_file",
]
