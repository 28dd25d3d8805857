"""How the agent tells failures apart and describes them in one log line."""

from __future__ import annotations

from warden.api import ApiError, ClientError, TransportError


class AgentError(Exception):
    """A local problem the agent can describe (a missing credential file, a bad template)."""


class PermanentError(AgentError):
    """Retrying will not help (bad role, denied, bad template); ``--once`` stops at once."""


def describe(exc: BaseException) -> str:
    """One line, without credentials: errors carry paths and server messages, never tokens."""
    if isinstance(exc, ApiError):
        errors = "; ".join(exc.errors) if exc.errors else (exc.raw_body or "").strip()[:200]
        return f"{exc.method} {exc.url}: {exc.status}" + (f": {errors}" if errors else "")
    if isinstance(exc, TransportError):
        return f"{exc.method} {exc.url}: {exc.reason}"
    return str(exc) or type(exc).__name__


def is_permanent(exc: BaseException) -> bool:
    """A refusal that will be repeated (4xx other than 408/412/429), or a local error
    marked permanent; network failures and 5xx (sealed, down) are worth retrying."""
    if isinstance(exc, PermanentError):
        return True
    if isinstance(exc, ApiError):
        return 400 <= exc.status < 500 and exc.status not in (408, 412, 429)
    return False


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ClientError | AgentError | OSError)
