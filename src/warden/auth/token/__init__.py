"""The token auth method (``auth/token/``): create, look up, renew, revoke, roles."""

from warden.auth.token.backend import factory

__all__ = ["factory"]
