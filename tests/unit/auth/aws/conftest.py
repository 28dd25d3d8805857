"""Fixtures of the AWS auth unit tests: signing keys are made once per session."""

from __future__ import annotations

import pytest

from support.aws_identity import AwsSigner
from unit.auth.aws.aws_kit import AwsAuth


@pytest.fixture(scope="session")
def signers() -> dict[str, AwsSigner]:
    return {kind: AwsSigner(kind) for kind in ("rsa", "dsa", "ec")}


@pytest.fixture
def aws() -> AwsAuth:
    return AwsAuth()
