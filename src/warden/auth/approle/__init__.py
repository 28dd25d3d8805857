"""The AppRole auth method (``auth/approle/``): roles, role ids, secret ids, login."""

from warden.auth.approle.backend import factory

__all__ = ["factory"]
