"""The AWS auth method (``auth/aws/``), ec2 flavour: certificates, roles, login, access list."""

from warden.auth.aws.backend import factory
from warden.auth.aws.describer import SERVICE_NAME, InstanceDescriber, InstanceDetails

__all__ = ["SERVICE_NAME", "InstanceDescriber", "InstanceDetails", "factory"]
