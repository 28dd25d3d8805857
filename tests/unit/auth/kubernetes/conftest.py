"""Fixtures of the Kubernetes auth unit tests."""

from __future__ import annotations

import pytest

from unit.auth.kubernetes.kube_kit import KubeAuth


@pytest.fixture
def kube() -> KubeAuth:
    return KubeAuth()
