"""The closed set of operations a request can carry (Vault's logical.Operation)."""

from __future__ import annotations

import enum


class Operation(enum.StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    LIST = "list"
    HELP = "help"
    # Issued by the core itself, never by a client.
    RENEW = "renew"
    REVOKE = "revoke"
