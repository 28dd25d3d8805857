"""Fixtures of the AppRole unit tests."""

from __future__ import annotations

import pytest

from unit.auth.approle.approle_kit import AppRole


@pytest.fixture
def approle() -> AppRole:
    return AppRole()
