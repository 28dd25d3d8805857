"""warden: a certificate authority and secrets service for Kubernetes clusters."""
