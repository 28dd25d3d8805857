"""kv v1 through ``backend.handle_request`` over in-memory storage."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from support.system import FakeSystem
from warden.engines.kv import factory
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import MountInfo, Request
from warden.logical.response import Response
from warden.storage.memory import MemoryBackend

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
MOUNT = MountInfo(path="kv/", type="kv", accessor="kv_test", default_lease_ttl=2_764_800,
                  max_lease_ttl=3 * 2_764_800)



def fake_system(clock: FrozenClock | None = None) -> FakeSystem:
    return FakeSystem(clock or FrozenClock(), MOUNT.default_lease_ttl, MOUNT.max_lease_ttl,
                      randbytes=bytes)


class KvV1:
    def __init__(self, options: dict[str, str] | None = None) -> None:
        self.storage = MemoryBackend()
        conf = BackendConfig(mount_path="kv/", mount_type="kv", mount_accessor="kv_test",
                             storage=self.storage, system=fake_system(),
                             options={"version": "1"} if options is None else options)
        self.backend: Backend = factory(conf)

    def request(self, op: Operation, path: str, data: dict[str, Any] | None = None) -> Request:
        return Request(operation=op, path=path, data=data or {}, storage=self.storage, mount=MOUNT)

    async def call(self, op: Operation, path: str, data: dict[str, Any] | None = None) -> Response | None:
        return await self.backend.handle_request(self.request(op, path, data))

    async def read(self, path: str) -> Response:
        resp = await self.call(R, path)
        assert resp is not None and resp.data is not None
        return resp

    def snapshot(self) -> dict[str, bytes]:
        return dict(self.storage._data)


@pytest.fixture
async def kv() -> KvV1:
    kv = KvV1()
    await kv.backend.initialize()
    return kv


async def test_version_1_is_the_default() -> None:
    kv = KvV1(options={})
    assert await kv.call(U, "a", {"k": "v"}) is None
    assert (await kv.read("a")).data == {"k": "v"}


async def test_write_then_read_returns_the_map_with_the_default_lease(kv: KvV1) -> None:
    assert await kv.call(U, "my-secret", {"foo": "bar", "zip": ["zap", 1]}) is None
    resp = await kv.read("my-secret")
    assert resp.data == {"foo": "bar", "zip": ["zap", 1]}
    assert resp.secret is not None
    assert (resp.secret.ttl, resp.secret.renewable, resp.secret.lease_id) == (2_764_800, False, "")


async def test_a_ttl_key_sets_the_advisory_lease_duration(kv: KvV1) -> None:
    await kv.call(U, "hourly", {"foo": "bar", "ttl": "1h"})
    await kv.call(U, "seconds", {"foo": "bar", "ttl": 90})
    await kv.call(U, "older", {"foo": "bar", "lease": "2m"})
    await kv.call(U, "huge", {"foo": "bar", "ttl": "100000h"})
    ttls = [(await kv.read(p)).secret.ttl for p in ("hourly", "seconds", "older", "huge")]  # type: ignore[union-attr]
    assert ttls == [3600, 90, 120, MOUNT.max_lease_ttl]
    assert (await kv.read("hourly")).data == {"foo": "bar", "ttl": "1h"}


async def test_a_write_replaces_the_whole_map(kv: KvV1) -> None:
    await kv.call(U, "s", {"a": 1, "b": 2})
    await kv.call(U, "s", {"c": 3})
    assert (await kv.read("s")).data == {"c": 3}


async def test_secrets_are_stored_as_json_under_their_path(kv: KvV1) -> None:
    await kv.call(U, "app/db", {"user": "u", "path": "not/here"})
    assert orjson.loads(kv.snapshot()["app/db"]) == {"user": "u", "path": "not/here"}
    assert (await kv.read("app/db")).data == {"user": "u", "path": "not/here"}


async def test_body_keys_draw_no_unrecognised_parameter_warning(kv: KvV1) -> None:
    assert await kv.call(U, "s", {"anything": 1, "else": 2}) is None


async def test_delete_removes_the_secret(kv: KvV1) -> None:
    await kv.call(U, "s", {"a": 1})
    assert await kv.call(D, "s") is None
    assert await kv.call(R, "s") is None
    assert kv.snapshot() == {}


async def test_list_shows_keys_and_folders(kv: KvV1) -> None:
    for path in ("foo", "foo/bar", "foo/baz/qux", "zed"):
        await kv.call(U, path, {"a": 1})
    assert await kv.call(R, "") is None  # the root is a folder, never a secret
    root = await kv.call(L, "")
    assert root is not None and root.data == {"keys": ["foo", "foo/", "zed"]}
    for folder in ("foo", "foo/"):
        listed = await kv.call(L, folder)
        assert listed is not None and listed.data == {"keys": ["bar", "baz/"]}
    assert await kv.call(L, "nothing/") is None


async def test_existence_check_tells_create_from_update(kv: KvV1) -> None:
    assert await kv.backend.existence_check(kv.request(U, "s")) is False
    await kv.call(U, "s", {"a": 1})
    assert await kv.backend.existence_check(kv.request(U, "s")) is True


@pytest.mark.parametrize(("path", "body", "names"), [
    ("s", {}, "no data provided"),
    ("", {"a": 1}, '"path"'),
    ("dir/", {"a": 1}, '"path"'),
    ("_kv2/metadata/x", {"a": 1}, '"path"'),
    ("s", {"a": 1, "ttl": "soon"}, '"ttl"'),
    ("s", {"a": 1, "ttl": -5}, '"ttl"'),
])
async def test_bad_writes_are_refused_and_change_nothing(
    kv: KvV1, path: str, body: dict[str, Any], names: str
) -> None:
    await kv.call(U, "s", {"keep": "me"})
    before = kv.snapshot()
    with pytest.raises(InvalidRequest) as info:
        await kv.call(U, path, body)
    assert names in str(info.value)
    assert kv.snapshot() == before


async def test_every_path_has_a_synopsis_and_every_field_a_description(kv: KvV1) -> None:
    for path in kv.backend.paths:
        assert path.help_synopsis
        for name, field in path.fields.items():
            assert field.description, name
