"""kv v2 through ``backend.handle_request`` over in-memory storage and a frozen clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from support.system import FakeSystem
from support.yielding import YieldingMemory
from warden.engines.kv import factory
from warden.engines.kv.v2.shapes import merge_patch, subkeys
from warden.engines.kv.v2.store import CorruptRecord, metadata_key, version_key
from warden.engines.kv.v2.views import rfc3339_nano
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.errors import InvalidRequest, NotFound, UnsupportedPath
from warden.logical.operation import Operation
from warden.logical.request import MountInfo, Request
from warden.logical.response import Response
from warden.logical.storage import BatchOp, Storage
from warden.storage.memory import MemoryBackend

R, U, P, D, L = Operation.READ, Operation.UPDATE, Operation.PATCH, Operation.DELETE, Operation.LIST
START = 1_800_000_000.0
START_TIME = "2027-01-15T08:00:00Z"
MOUNT = MountInfo(path="secret/", type="kv", accessor="kv_test", default_lease_ttl=3600,
                  max_lease_ttl=7200)



def fake_system(clock: FrozenClock | None = None) -> FakeSystem:
    return FakeSystem(clock or FrozenClock(), MOUNT.default_lease_ttl, MOUNT.max_lease_ttl,
                      randbytes=bytes)


class Kv:
    """One mounted kv backend and the storage and clock under it."""

    def __init__(self, version: str = "2", storage: Storage | None = None,
                 clock: FrozenClock | None = None) -> None:
        self.storage: Any = storage if storage is not None else MemoryBackend()
        self.clock = clock or FrozenClock(START)
        conf = BackendConfig(mount_path="secret/", mount_type="kv", mount_accessor="kv_test",
                             storage=self.storage, system=fake_system(self.clock),
                             options={"version": version})
        self.backend: Backend = factory(conf)

    async def start(self) -> Kv:
        await self.backend.initialize()
        return self

    def request(self, op: Operation, path: str, data: dict[str, Any] | None = None) -> Request:
        return Request(operation=op, path=path, data=data or {}, storage=self.storage,
                       mount=MOUNT, id="req-1")

    async def call(self, op: Operation, path: str, data: dict[str, Any] | None = None) -> Response | None:
        return await self.backend.handle_request(self.request(op, path, data))

    async def ok(self, op: Operation, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self.call(op, path, data)
        assert resp is not None and resp.raw is None and resp.data is not None
        return resp.data

    async def write(self, path: str, secret: dict[str, Any], **options: Any) -> dict[str, Any]:
        return await self.ok(U, "data/" + path, {"data": secret, "options": options})

    async def exists(self, path: str) -> bool | None:
        return await self.backend.existence_check(self.request(U, path))

    def snapshot(self) -> dict[str, bytes]:
        return dict(self.storage._data)


def not_found_body(resp: Response | None) -> dict[str, Any]:
    """The body of Vault's 404-with-metadata for a deleted or destroyed version."""
    assert resp is not None and resp.raw is not None
    assert resp.raw.status == 404 and resp.raw.content_type == "application/json"
    body = orjson.loads(resp.raw.body)
    assert body["request_id"] == "req-1"
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture
async def kv() -> Kv:
    return await Kv().start()


# -- data: write and read ---------------------------------------------------------------------


async def test_write_then_read_has_vaults_shape(kv: Kv) -> None:
    written = await kv.write("app/db", {"user": "u", "nested": {"pw": "p"}})
    assert written == {"created_time": START_TIME, "custom_metadata": None, "deletion_time": "",
                       "destroyed": False, "version": 1}
    assert await kv.ok(R, "data/app/db") == {
        "data": {"user": "u", "nested": {"pw": "p"}},
        "metadata": {"created_time": START_TIME, "custom_metadata": None, "deletion_time": "",
                     "destroyed": False, "version": 1},
    }


async def test_each_write_is_a_new_version_and_old_ones_stay_readable(kv: Kv) -> None:
    await kv.write("s", {"v": 1})
    kv.clock.advance(1.25)
    assert (await kv.write("s", {"v": 2}))["version"] == 2
    assert (await kv.ok(R, "data/s"))["data"] == {"v": 2}
    old = await kv.ok(R, "data/s", {"version": "1"})
    assert old["data"] == {"v": 1} and old["metadata"]["version"] == 1
    assert (await kv.ok(R, "data/s", {"version": 2}))["metadata"]["created_time"] == (
        "2027-01-15T08:00:01.25Z")


async def test_reading_unknown_secrets_and_versions_is_none(kv: Kv) -> None:
    assert await kv.call(R, "data/nope") is None
    await kv.write("s", {"v": 1})
    assert await kv.call(R, "data/s", {"version": 7}) is None


async def test_timestamps_are_rfc3339_with_a_trimmed_nanosecond_fraction() -> None:
    assert rfc3339_nano(0) == ""
    assert rfc3339_nano(1_800_000_000 * 10**9) == START_TIME
    assert rfc3339_nano(1_800_000_000 * 10**9 + 945_319_214) == "2027-01-15T08:00:00.945319214Z"
    assert rfc3339_nano(1_800_000_000 * 10**9 + 500_000_000) == "2027-01-15T08:00:00.5Z"
    kv = await Kv(clock=FrozenClock(START + 0.123456)).start()
    assert (await kv.write("s", {"a": 1}))["created_time"] == "2027-01-15T08:00:00.123456Z"


# -- check-and-set ------------------------------------------------------------------------------


async def test_cas_zero_writes_only_a_new_secret(kv: Kv) -> None:
    assert (await kv.write("s", {"a": 1}, cas=0))["version"] == 1
    with pytest.raises(InvalidRequest, match="did not match the current version"):
        await kv.write("s", {"a": 2}, cas=0)
    assert (await kv.write("s", {"a": 2}, cas=1))["version"] == 2
    with pytest.raises(InvalidRequest, match="did not match"):
        await kv.write("s", {"a": 3}, cas=1)
    assert (await kv.ok(R, "data/s"))["data"] == {"a": 2}


async def test_cas_required_by_the_mount_or_by_the_key(kv: Kv) -> None:
    await kv.call(U, "config", {"cas_required": True})
    with pytest.raises(InvalidRequest, match="check-and-set parameter required"):
        await kv.write("s", {"a": 1})
    await kv.write("s", {"a": 1}, cas=0)
    await kv.call(U, "config", {"cas_required": False})
    await kv.call(U, "metadata/k", {"cas_required": True})
    with pytest.raises(InvalidRequest, match="required"):
        await kv.write("k", {"a": 1})
    assert (await kv.write("k", {"a": 1}, cas=0))["version"] == 1


async def test_concurrent_cas_writes_create_exactly_one_version() -> None:
    kv = await Kv(storage=YieldingMemory()).start()
    results = await asyncio.gather(*(kv.write("race", {"n": i}, cas=0) for i in range(8)),
                                   return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, InvalidRequest) for r in results if not isinstance(r, dict))
    assert (await kv.ok(R, "metadata/race"))["current_version"] == 1


async def test_cas_holds_between_two_mounts_of_one_store_as_between_processes() -> None:
    """Two backends (two processes or nodes) share a store and no in-process lock: cas
    is decided by the store's check-and-set, so exactly one write per version wins and
    unconditional writes racing them never lose a version."""
    shared = YieldingMemory()
    first, second = await Kv(storage=shared).start(), Kv(storage=shared)
    for round_ in range(5):
        racers = [(first if i % 2 else second).write("race", {"n": i}, cas=round_)
                  for i in range(10)]
        results = await asyncio.gather(*racers, return_exceptions=True)
        assert sum(isinstance(r, dict) for r in results) == 1, results
        assert all(isinstance(r, InvalidRequest) for r in results if not isinstance(r, dict))
    plain = await asyncio.gather(*((first if i % 2 else second).write("race", {"n": i})
                                   for i in range(20)))
    assert sorted(r["version"] for r in plain) == list(range(6, 26))
    assert (await first.ok(R, "metadata/race"))["current_version"] == 25


# -- versions kept, deletion times ---------------------------------------------------------------


async def test_max_versions_drops_the_oldest_versions_and_their_data(kv: Kv) -> None:
    await kv.call(U, "config", {"max_versions": 2})
    for i in range(4):
        await kv.write("s", {"i": i})
    meta = await kv.ok(R, "metadata/s")
    assert sorted(meta["versions"]) == ["3", "4"]
    assert (meta["current_version"], meta["oldest_version"]) == (4, 3)
    assert await kv.storage.get(version_key("s", 1)) is None
    assert await kv.storage.get(version_key("s", 2)) is None
    assert await kv.call(R, "data/s", {"version": 1}) is None


async def test_ten_versions_are_kept_by_default_and_the_key_setting_wins(kv: Kv) -> None:
    for i in range(12):
        await kv.write("s", {"i": i})
    meta = await kv.ok(R, "metadata/s")
    assert (len(meta["versions"]), meta["oldest_version"]) == (10, 3)
    assert meta["oldest_version"] == 3
    await kv.call(U, "config", {"max_versions": 5})
    await kv.call(U, "metadata/k", {"max_versions": 1})
    await kv.write("k", {"a": 1})
    await kv.write("k", {"a": 2})
    assert list((await kv.ok(R, "metadata/k"))["versions"]) == ["2"]


async def test_delete_version_after_sets_a_deletion_time_that_later_hides_the_version(kv: Kv) -> None:
    await kv.call(U, "config", {"delete_version_after": "1h"})
    written = await kv.write("s", {"a": 1})
    assert written["deletion_time"] == "2027-01-15T09:00:00Z"
    assert (await kv.ok(R, "data/s"))["data"] == {"a": 1}
    kv.clock.advance(3601)
    body = not_found_body(await kv.call(R, "data/s"))
    assert body["data"] is None and body["metadata"]["deletion_time"] == "2027-01-15T09:00:00Z"


async def test_the_shorter_delete_version_after_wins(kv: Kv) -> None:
    await kv.call(U, "config", {"delete_version_after": "2h"})
    await kv.call(U, "metadata/s", {"delete_version_after": "30m"})
    assert (await kv.write("s", {"a": 1}))["deletion_time"] == "2027-01-15T08:30:00Z"
    await kv.call(U, "metadata/t", {"delete_version_after": "3h"})
    assert (await kv.write("t", {"a": 1}))["deletion_time"] == "2027-01-15T10:00:00Z"


# -- soft delete, undelete, destroy -------------------------------------------------------------


async def test_delete_soft_deletes_the_latest_version_and_undelete_restores_it(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    await kv.write("s", {"a": 2})
    kv.clock.advance(10)
    assert await kv.call(D, "data/s") is None
    body = not_found_body(await kv.call(R, "data/s"))
    assert body == {"data": None, "metadata": {
        "created_time": START_TIME, "custom_metadata": None,
        "deletion_time": "2027-01-15T08:00:10Z", "destroyed": False, "version": 2}}
    assert (await kv.ok(R, "data/s", {"version": 1}))["data"] == {"a": 1}
    await kv.call(U, "undelete/s", {"versions": [2]})
    assert (await kv.ok(R, "data/s"))["data"] == {"a": 2}


async def test_delete_chosen_versions(kv: Kv) -> None:
    for i in range(3):
        await kv.write("s", {"i": i})
    await kv.call(U, "delete/s", {"versions": "1,3"})
    versions = (await kv.ok(R, "metadata/s"))["versions"]
    assert [versions[n]["deletion_time"] != "" for n in ("1", "2", "3")] == [True, False, True]
    assert not_found_body(await kv.call(R, "data/s", {"version": 1}))["metadata"]["version"] == 1
    assert (await kv.ok(R, "data/s", {"version": 2}))["data"] == {"i": 1}


async def test_destroy_removes_the_data_for_good(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    await kv.write("s", {"a": 2})
    await kv.call(U, "destroy/s", {"versions": [1]})
    assert await kv.storage.get(version_key("s", 1)) is None
    assert (await kv.ok(R, "metadata/s"))["versions"]["1"]["destroyed"] is True
    assert not_found_body(await kv.call(R, "data/s", {"version": 1}))["metadata"]["destroyed"]
    await kv.call(U, "undelete/s", {"versions": [1]})
    assert not_found_body(await kv.call(R, "data/s", {"version": 1}))["data"] is None
    assert (await kv.ok(R, "data/s"))["data"] == {"a": 2}


async def test_version_operations_on_unknown_secrets_change_nothing(kv: Kv) -> None:
    before = kv.snapshot()
    for path in ("delete/none", "undelete/none", "destroy/none"):
        assert await kv.call(U, path, {"versions": [1]}) is None
    assert await kv.call(D, "data/none") is None
    assert kv.snapshot() == before


# -- patch --------------------------------------------------------------------------------------


async def test_patch_merges_into_the_latest_version(kv: Kv) -> None:
    await kv.write("s", {"keep": 1, "drop": 2, "nested": {"a": 1, "b": 2}})
    written = await kv.ok(P, "data/s", {"data": {"drop": None, "nested": {"b": None, "c": 3},
                                                 "new": "x"}})
    assert written["version"] == 2
    assert (await kv.ok(R, "data/s"))["data"] == {"keep": 1, "nested": {"a": 1, "c": 3}, "new": "x"}
    assert (await kv.ok(R, "data/s", {"version": 1}))["data"]["drop"] == 2


async def test_patch_honours_cas(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    with pytest.raises(InvalidRequest, match="did not match"):
        await kv.call(P, "data/s", {"data": {"a": 2}, "options": {"cas": 2}})
    assert (await kv.ok(P, "data/s", {"data": {"a": 2}, "options": {"cas": 1}}))["version"] == 2


async def test_patch_needs_a_live_latest_version(kv: Kv) -> None:
    with pytest.raises(NotFound):
        await kv.call(P, "data/none", {"data": {"a": 1}})
    await kv.call(U, "metadata/empty", {"max_versions": 3})
    with pytest.raises(NotFound):
        await kv.call(P, "data/empty", {"data": {"a": 1}})
    await kv.write("s", {"a": 1})
    await kv.call(D, "data/s")
    body = not_found_body(await kv.call(P, "data/s", {"data": {"a": 2}}))
    assert body["version"] == 1 and body["deletion_time"] != ""
    assert (await kv.ok(R, "metadata/s"))["current_version"] == 1


def test_merge_patch_follows_rfc_7386() -> None:
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": [1]}, {"a": [2]}) == {"a": [2]}
    assert merge_patch({"a": "x"}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}


# -- metadata -----------------------------------------------------------------------------------


async def test_metadata_read_has_vaults_shape(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    kv.clock.advance(5)
    await kv.write("s", {"a": 2})
    assert await kv.ok(R, "metadata/s") == {
        "cas_required": False, "created_time": START_TIME, "current_version": 2,
        "custom_metadata": None, "delete_version_after": "0s", "max_versions": 0,
        "oldest_version": 0, "updated_time": "2027-01-15T08:00:05Z",
        "versions": {
            "1": {"created_time": START_TIME, "deletion_time": "", "destroyed": False},
            "2": {"created_time": "2027-01-15T08:00:05Z", "deletion_time": "", "destroyed": False},
        },
    }


async def test_metadata_write_sets_only_what_it_names_and_creates_no_version(kv: Kv) -> None:
    await kv.call(U, "metadata/s", {"max_versions": 3, "custom_metadata": {"owner": "jdoe"},
                                    "delete_version_after": "3h25m19s"})
    meta = await kv.ok(R, "metadata/s")
    assert (meta["current_version"], meta["versions"]) == (0, {})
    await kv.call(U, "metadata/s", {"cas_required": True})
    meta = await kv.ok(R, "metadata/s")
    assert (meta["max_versions"], meta["cas_required"], meta["delete_version_after"],
            meta["custom_metadata"]) == (3, True, "3h25m19s", {"owner": "jdoe"})
    written = await kv.write("s", {"a": 1}, cas=0)
    assert written["custom_metadata"] == {"owner": "jdoe"}


async def test_metadata_patch_merges_custom_metadata(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    await kv.call(U, "metadata/s", {"custom_metadata": {"a": "1", "b": "2"}})
    await kv.call(P, "metadata/s", {"custom_metadata": {"a": None, "c": 3}, "max_versions": 4})
    meta = await kv.ok(R, "metadata/s")
    assert meta["custom_metadata"] == {"b": "2", "c": "3"} and meta["max_versions"] == 4
    with pytest.raises(NotFound):
        await kv.call(P, "metadata/none", {"max_versions": 1})


async def test_metadata_warns_when_the_mount_mandates_cas(kv: Kv) -> None:
    await kv.call(U, "config", {"cas_required": True})
    resp = await kv.call(U, "metadata/s", {"cas_required": False})
    assert resp is not None and "mandated by backend config" in resp.warnings[0]


async def test_metadata_list_walks_folders(kv: Kv) -> None:
    for path in ("foo", "foo/bar", "foo/baz/qux", "zed"):
        await kv.write(path, {"a": 1})
    assert (await kv.ok(L, "metadata/"))["keys"] == ["foo", "foo/", "zed"]
    assert (await kv.ok(L, "metadata"))["keys"] == ["foo", "foo/", "zed"]
    assert (await kv.ok(L, "metadata/foo"))["keys"] == ["bar", "baz/"]
    assert (await kv.ok(L, "metadata/foo/"))["keys"] == ["bar", "baz/"]
    assert await kv.call(L, "metadata/none/") is None


async def test_metadata_delete_removes_every_version_and_the_metadata(kv: Kv) -> None:
    await kv.write("gone", {"a": 1})
    await kv.write("gone", {"a": 2})
    await kv.write("kept", {"a": 1})
    before = kv.snapshot()
    assert await kv.call(D, "metadata/gone") is None
    removed = set(before) - set(kv.snapshot())
    assert removed == {metadata_key("gone"), version_key("gone", 1), version_key("gone", 2)}
    assert await kv.call(R, "data/gone") is None and await kv.call(R, "metadata/gone") is None
    assert (await kv.ok(R, "data/kept"))["data"] == {"a": 1}


# -- subkeys, config, existence -----------------------------------------------------------------


async def test_subkeys_show_structure_without_values(kv: Kv) -> None:
    await kv.write("s", {"foo": "abc", "bar": {"baz": "def"}, "quux": {}})
    assert await kv.ok(R, "subkeys/s") == {
        "subkeys": {"foo": None, "bar": {"baz": None}, "quux": None},
        "metadata": {"created_time": START_TIME, "custom_metadata": None, "deletion_time": "",
                     "destroyed": False, "version": 1},
    }
    assert (await kv.ok(R, "subkeys/s", {"depth": 1}))["subkeys"] == {
        "foo": None, "bar": None, "quux": None}
    await kv.call(D, "data/s")
    assert not_found_body(await kv.call(R, "subkeys/s"))["subkeys"] is None
    assert await kv.call(R, "subkeys/none") is None


def test_subkeys_depth_counts_levels() -> None:
    data = {"a": {"b": {"c": {"d": 1}}}}
    assert subkeys(data, 2) == {"a": {"b": None}}
    assert subkeys(data) == {"a": {"b": {"c": {"d": None}}}}


async def test_config_reads_and_updates_partially(kv: Kv) -> None:
    assert await kv.ok(R, "config") == {"cas_required": False, "delete_version_after": "0s",
                                        "max_versions": 0}
    await kv.call(U, "config", {"max_versions": 5, "delete_version_after": "3h25m19s"})
    await kv.call(U, "config", {"cas_required": "true"})
    assert await kv.ok(R, "config") == {"cas_required": True, "delete_version_after": "3h25m19s",
                                        "max_versions": 5}


async def test_existence_checks_see_the_metadata(kv: Kv) -> None:
    assert await kv.exists("data/s") is False and await kv.exists("metadata/s") is False
    await kv.write("s", {"a": 1})
    assert await kv.exists("data/s") is True and await kv.exists("metadata/s") is True


async def test_paths_outside_the_v2_api_are_refused(kv: Kv) -> None:
    with pytest.raises(UnsupportedPath, match=r"versioned K/V.*'warden kv get'"):
        await kv.call(R, "some/secret")
    with pytest.raises(UnsupportedPath, match="'warden kv put' for this operation"):
        await kv.call(Operation.UPDATE, "some/secret", {"a": "b"})
    with pytest.raises(UnsupportedPath):
        await kv.call(R, "data/")


# -- bad input: a 400 naming the field, and nothing stored changes --------------------------------


@pytest.mark.parametrize(("op", "path", "body", "names"), [
    (U, "data/s", {}, '"data"'),
    (U, "data/s", {"data": ["not", "a", "map"]}, '"data"'),
    (U, "data/s", {"data": "plain text"}, '"data"'),
    (U, "data/s", {"data": {"a": 1}, "options": {"cas": "one"}}, '"cas"'),
    (U, "data/s", {"data": {"a": 1}, "options": {"cas": -1}}, '"cas"'),
    (U, "data/s", {"data": {"a": 1}, "options": "cas"}, '"options"'),
    (P, "data/s", {}, '"data"'),
    (R, "data/s", {"version": "latest"}, '"version"'),
    (R, "data/s", {"version": -1}, '"version"'),
    (R, "subkeys/s", {"depth": -1}, '"depth"'),
    (U, "delete/s", {"versions": []}, '"versions"'),
    (U, "undelete/s", {"versions": [0]}, '"versions"'),
    (U, "destroy/s", {"versions": ["one"]}, '"versions"'),
    (U, "config", {"max_versions": -1}, '"max_versions"'),
    (U, "config", {"max_versions": "many"}, '"max_versions"'),
    (U, "config", {"delete_version_after": "soon"}, '"delete_version_after"'),
    (U, "metadata/s", {"max_versions": -2}, '"max_versions"'),
    (U, "metadata/s", {"cas_required": "perhaps"}, '"cas_required"'),
    (U, "metadata/s", {"custom_metadata": {"k": {"nested": 1}}}, "custom_metadata"),
    (U, "metadata/s", {"custom_metadata": {f"k{i}": "v" for i in range(65)}}, "custom_metadata"),
    (U, "metadata/s", {"custom_metadata": {"k": "x" * 513}}, "custom_metadata"),
    (U, "metadata/dir/", {"max_versions": 1}, '"path"'),
])
async def test_bad_input_is_refused_and_changes_nothing(
    kv: Kv, op: Operation, path: str, body: dict[str, Any], names: str
) -> None:
    await kv.write("s", {"a": 1})
    before = kv.snapshot()
    with pytest.raises(InvalidRequest) as info:
        await kv.call(op, path, body)
    assert names in str(info.value)
    assert kv.snapshot() == before


async def test_error_messages_never_echo_secret_values(kv: Kv) -> None:
    await kv.write("s", {"a": 1})
    with pytest.raises(InvalidRequest) as info:
        await kv.call(U, "metadata/s", {"custom_metadata": {"k": "hunter2" * 100}})
    assert "hunter2" not in str(info.value)


async def test_a_corrupt_record_is_a_server_error_without_its_content(kv: Kv) -> None:
    await kv.storage.put(metadata_key("bad"), b'{"schema": 1, "secret-ish": "hunter2"}')
    with pytest.raises(CorruptRecord) as info:
        await kv.call(R, "data/bad")
    assert info.value.status == 500 and "hunter2" not in str(info.value)


# -- upgrade from v1 ------------------------------------------------------------------------------


async def test_upgrade_moves_v1_secrets_into_version_1() -> None:
    v1 = await Kv(version="1").start()
    await v1.call(U, "top", {"a": "1", "ttl": "1h"})
    await v1.call(U, "dir/nested/leaf", {"b": {"deep": True}})
    await v1.call(U, "dir", {"c": 3})
    v2 = await Kv(version="2", storage=v1.storage, clock=v1.clock).start()
    assert (await v2.ok(R, "data/top"))["data"] == {"a": "1", "ttl": "1h"}
    assert (await v2.ok(R, "data/dir/nested/leaf"))["data"] == {"b": {"deep": True}}
    assert (await v2.ok(R, "data/dir"))["metadata"]["version"] == 1
    assert (await v2.ok(L, "metadata/"))["keys"] == ["dir", "dir/", "top"]
    assert all(key.startswith("_kv2/") for key in v2.snapshot())
    assert (await v2.write("top", {"a": "2"}, cas=1))["version"] == 2


async def test_upgrade_is_idempotent() -> None:
    v1 = await Kv(version="1").start()
    await v1.call(U, "a/b", {"x": 1})
    v2 = await Kv(version="2", storage=v1.storage, clock=v1.clock).start()
    after_first = v2.snapshot()
    v1.clock.advance(60)
    await Kv(version="2", storage=v1.storage, clock=v1.clock).start()
    assert v2.snapshot() == after_first
    await v1.storage.delete("_kv2/upgrade")  # as if the first run died before its marker
    await Kv(version="2", storage=v1.storage, clock=v1.clock).start()
    assert {k: v for k, v in v2.snapshot().items() if k != "_kv2/upgrade"} == {
        k: v for k, v in after_first.items() if k != "_kv2/upgrade"}


async def test_upgrade_moves_each_secret_atomically_and_resumes_after_a_crash() -> None:
    v1 = await Kv(version="1").start()
    for name in ("one", "two", "three"):
        await v1.call(U, name, {"name": name})
    failing = FailingStorage(v1.storage, fail_on_batch=2)
    with pytest.raises(OSError):
        await Kv(version="2", storage=failing, clock=v1.clock).start()
    keys = set(v1.snapshot())
    for name in ("one", "two", "three"):
        moved = metadata_key(name) in keys and version_key(name, 1) in keys
        assert moved != (name in keys)  # either fully moved or untouched
    v2 = await Kv(version="2", storage=v1.storage, clock=v1.clock).start()
    for name in ("one", "two", "three"):
        assert (await v2.ok(R, "data/" + name))["data"] == {"name": name}


async def test_upgrade_leaves_entries_that_are_not_json_objects() -> None:
    storage = MemoryBackend()
    await storage.put("odd", b"not json")
    v2 = await Kv(storage=storage).start()
    assert await storage.get("odd") == b"not json"
    assert await v2.call(R, "data/odd") is None


# -- declarations ---------------------------------------------------------------------------------


async def test_every_path_has_a_synopsis_and_every_field_a_description(kv: Kv) -> None:
    for path in kv.backend.paths:
        assert path.help_synopsis, path.pattern
        for name, field in path.fields.items():
            assert field.description, f"{path.pattern}: {name}"


async def test_help_is_generated_from_the_schema(kv: Kv) -> None:
    help_text = (await kv.ok(Operation.HELP, "data/s"))["help"]
    assert "options (map)" in help_text and "check-and-set" in help_text


def test_an_unknown_version_option_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="version"):
        Kv(version="3")


# -- storage doubles -------------------------------------------------------------------------------


class FailingStorage:
    """Delegates to a store but fails the n-th batch, as a crash mid-upgrade would."""

    def __init__(self, inner: MemoryBackend, fail_on_batch: int) -> None:
        self.inner = inner
        self.batches = 0
        self.fail_on_batch = fail_on_batch

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes) -> None:
        await self.inner.put(key, value)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def list(self, prefix: str) -> list[str]:
        return await self.inner.list(prefix)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        self.batches += 1
        if self.batches == self.fail_on_batch:
            raise OSError("disk gone")
        await self.inner.batch(ops)
