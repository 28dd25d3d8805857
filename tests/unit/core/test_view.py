"""StorageView: a mount can never climb out of its prefix, and saying so is a 400."""

from __future__ import annotations

import pytest

from warden.core.view import StorageView
from warden.logical.errors import InvalidRequest
from warden.storage.memory import MemoryBackend


@pytest.mark.parametrize("key", ["/etc", "../x", "a/../../b", "a/./b", "..", "."])
async def test_escaping_keys_are_bad_input(key: str) -> None:
    view = StorageView(MemoryBackend(), "logical/abc/")
    with pytest.raises(InvalidRequest, match="invalid path"):
        await view.get(key)
    with pytest.raises(InvalidRequest):
        await view.put(key, b"x")


async def test_keys_stay_under_the_prefix() -> None:
    backend = MemoryBackend()
    view = StorageView(backend, "logical/abc/")
    await view.put("a/b", b"1")
    assert await backend.get("logical/abc/a/b") == b"1"
    assert await view.list("a/") == ["b"]
