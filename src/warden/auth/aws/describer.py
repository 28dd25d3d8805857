"""The InstanceDescriber seam: EC2 facts an identity document does not carry.

A role may bind a VPC, subnet or instance profile, which only the EC2 API knows.
warden never calls a cloud API itself: a describer is injected by the composition
root as ``services["aws.instance_describer"]``. None is configured in production,
so roles binding those fields are refused when written; tests inject a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SERVICE_NAME = "aws.instance_describer"


@dataclass(frozen=True, slots=True)
class InstanceDetails:
    instance_id: str
    state: str  # "running", "stopped", ...
    vpc_id: str = ""
    subnet_id: str = ""
    iam_instance_profile_arn: str = ""


class InstanceDescriber(Protocol):
    async def describe(self, *, instance_id: str, region: str,
                       account_id: str) -> InstanceDetails | None:
        """The instance's current details; None if EC2 does not know it."""
        ...
