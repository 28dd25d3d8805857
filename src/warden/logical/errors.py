"""Typed errors raised anywhere below the HTTP edge.

Only ``warden.server.errors`` turns them into HTTP statuses and Vault's
``{"errors": [...]}`` body. Messages must never contain secret material.
"""

from __future__ import annotations


class WardenError(Exception):
    """Base class; ``status`` is the HTTP status the edge answers with."""

    status: int = 500

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages: list[str] = list(messages) or [self.default_message()]

    @classmethod
    def default_message(cls) -> str:
        return "internal error"

    def __str__(self) -> str:
        return "; ".join(self.messages)


class InvalidRequest(WardenError):
    """The client sent something wrong (400). The message names what."""

    status = 400

    @classmethod
    def default_message(cls) -> str:
        return "invalid request"


class PermissionDenied(WardenError):
    status = 403

    @classmethod
    def default_message(cls) -> str:
        return "permission denied"


class NotFound(WardenError):
    status = 404

    @classmethod
    def default_message(cls) -> str:
        return "not found"


class UnsupportedPath(NotFound):
    @classmethod
    def default_message(cls) -> str:
        return "unsupported path"


class UnsupportedOperation(WardenError):
    status = 405

    @classmethod
    def default_message(cls) -> str:
        return "unsupported operation"


class PayloadTooLarge(WardenError):
    status = 413

    @classmethod
    def default_message(cls) -> str:
        return "request body too large"




class Sealed(WardenError):
    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "Vault is sealed"


class NotInitialized(WardenError):
    status = 400

    @classmethod
    def default_message(cls) -> str:
        return "Vault is not initialized"


class CodedError(WardenError):
    """An error with an explicit status, for the rare case no class above fits."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(*messages)
        self.status = status
