"""The Kubernetes auth method (``auth/kubernetes/``): config, roles, service-account login."""

from warden.auth.kubernetes.backend import factory
from warden.auth.kubernetes.review import SERVICE_NAME, TokenReviewer

__all__ = ["SERVICE_NAME", "TokenReviewer", "factory"]
