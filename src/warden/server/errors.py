"""The one place where exceptions become HTTP statuses and Vault's error body."""

from __future__ import annotations

import logging

from warden.logical.errors import WardenError

log = logging.getLogger("warden.server")


def error_status_and_messages(exc: BaseException) -> tuple[int, list[str]]:
    """Map any exception to (status, messages); unknown errors never leak details."""
    if isinstance(exc, WardenError):
        return exc.status, exc.messages
    log.error("internal error while handling a request: %s", type(exc).__name__,
              exc_info=exc)
    return 500, ["internal error"]
