"""Errors raised by the API client.

HTTP error statuses map to the same subclasses as hvac's ``VaultError.from_status``;
messages follow the layout of Vault's own client (``api.ResponseError``), so the CLI can
print them unchanged. Messages never contain the client token: they are built only from
the method, the URL (no credentials travel in it) and the server's error strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType


class ClientError(Exception):
    """Base class of everything the client raises."""


class TransportError(ClientError):
    """The request never got an HTTP answer (connection refused, TLS failure, timeout)."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        super().__init__(f'{method} "{url}": {reason}')
        self.method = method
        self.url = url
        self.reason = reason


class ApiError(ClientError):
    """The server answered with an error status."""

    status: int = 0

    def __init__(
        self,
        status: int,
        errors: Sequence[str],
        method: str,
        url: str,
        *,
        raw_body: str | None = None,
    ) -> None:
        self.status = status
        self.errors = list(errors)
        self.method = method
        self.url = url
        self.raw_body = raw_body
        super().__init__(self.message())

    def message(self) -> str:
        head = f"Error making API request.\n\nURL: {self.method} {self.url}\nCode: {self.status}."
        if self.raw_body is not None:
            return f"{head} Raw Message:\n\n{self.raw_body}"
        return f"{head} Errors:\n\n" + "\n".join(f"* {e}" for e in self.errors)

    def __str__(self) -> str:
        return self.message()

    @classmethod
    def from_status(
        cls,
        status: int,
        errors: Sequence[str],
        method: str,
        url: str,
        *,
        raw_body: str | None = None,
    ) -> ApiError:
        error_class = _BY_STATUS.get(status, ApiError)
        return error_class(status, errors, method, url, raw_body=raw_body)


class InvalidRequest(ApiError):
    """400"""


class Unauthorized(ApiError):
    """401"""


class Forbidden(ApiError):
    """403: permission denied, or a missing/invalid token."""


class InvalidPath(ApiError):
    """404"""


class UnsupportedOperation(ApiError):
    """405"""


class PreconditionFailed(ApiError):
    """412"""


class RequestTooLarge(ApiError):
    """413"""


class RateLimitExceeded(ApiError):
    """429"""


class InternalServerError(ApiError):
    """500"""


class NotInitialized(ApiError):
    """501"""


class BadGateway(ApiError):
    """502"""


class Sealed(ApiError):
    """503: the server is sealed or otherwise unavailable (hvac calls it VaultDown)."""


VaultDown = Sealed

_BY_STATUS: Mapping[int, type[ApiError]] = MappingProxyType({
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: InvalidPath,
    405: UnsupportedOperation,
    412: PreconditionFailed,
    413: RequestTooLarge,
    429: RateLimitExceeded,
    500: InternalServerError,
    501: NotInitialized,
    502: BadGateway,
    503: Sealed,
})
