"""warden: a certificate authority and secrets service for Kubernetes clusters."""

__version__ = "0.1.0"
