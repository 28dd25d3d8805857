"""Templates: the functions, the sandbox, errors, and when a file is (not) rewritten."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from support.agent import FakeClock, FakeServer, issue_leaf, make_ca, respond
from warden.agent.config import TemplateConfig, TemplateSettings
from warden.agent.config_sections import CommandSpec
from warden.agent.errors import AgentError, PermanentError
from warden.agent.files import Perms
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.agent.templates import TemplateKeeper
from warden.api import AsyncClient

CA = make_ca()

KV2_MOUNT = {"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}}
KV1_MOUNT = {"data": {"path": "old/", "type": "kv", "options": {}}}


def kv_server(**extra: Any) -> FakeServer:
    return FakeServer({
        "sys/internal/ui/mounts/secret/app": respond(KV2_MOUNT),
        "secret/data/app": respond({"data": {"data": {"password": "hunter2", "user": "app"},
                                             "metadata": {"version": 3}}}),
        "sys/internal/ui/mounts/old/app": respond(KV1_MOUNT),
        "old/app": respond({"data": {"token": "v1"}, "lease_duration": 3600}),
        **extra})


def make(tmp_path: Path, contents: str, server: FakeServer, clock: FakeClock | None = None,
         **changes: Any) -> TemplateKeeper:
    config = replace(TemplateConfig(name="t", destination=tmp_path / "out" / "file", contents=contents),
                     **changes)
    clock = clock or FakeClock()
    api = AsyncClient("http://warden.test", "tok", transport=server.transport())
    return TemplateKeeper(config, TemplateSettings(static_secret_render_interval=300), api, clock,
                          lambda a, b: 0.0, AgentLog(), AgentMetrics(clock), environ={"REGION": "nyc1"})


async def test_kv_v1_v2_secret_env_and_filters(tmp_path: Path) -> None:
    keeper = make(tmp_path, (
        "pw={{ kv('secret/app', 'password') }} all={{ kv('secret/app') | tojson }}\n"
        "v1={{ kv('old/app')['token'] }} raw={{ secret('secret/data/app').data.data.user }}"
        " Data={{ secret('secret/data/app').Data.metadata.version }}\n"
        "region={{ env('REGION') }} none={{ env('NOPE', 'x') }} b64={{ 'abc' | b64encode }}"
        " back={{ 'YWJj' | b64decode }}\n"), kv_server())
    await keeper.render_and_write()
    out = (tmp_path / "out" / "file").read_text()
    assert out == ('pw=hunter2 all={"password": "hunter2", "user": "app"}\n'
                   "v1=v1 raw=app Data=3\nregion=nyc1 none=x b64=YWJj back=abc\n")
    assert keeper.next_due == pytest.approx(keeper.clock.time() + 300)


async def test_pki_cert_is_issued_once_and_reused_until_due(tmp_path: Path) -> None:
    clock = FakeClock(start=2_000_000.0)
    data = issue_leaf(CA, "kubelet", not_before=clock.now - 30, not_after=clock.now + 600)
    server = FakeServer({"k8s/pki/issue/kubelet": respond({"data": data})})
    template = (
        "{% set c = pki_cert('k8s/pki/issue/kubelet', common_name='kubelet', ttl='10m') %}"
        "ca: {{ c.ca | b64encode }}\ncert: {{ c.cert | b64encode }}\nkey: {{ c.key | b64encode }}\n"
        "{{ pkiCert('k8s/pki/issue/kubelet', 'common_name=kubelet', 'ttl=10m').serial_number }}\n")
    keeper = make(tmp_path, template, server, clock, perms=Perms(0o600))
    await keeper.render_and_write()
    lines = (tmp_path / "out" / "file").read_text().splitlines()
    assert base64.b64decode(lines[0].split(": ")[1]).decode() == CA.pem
    assert base64.b64decode(lines[2].split(": ")[1]).decode() == data["private_key"].strip()
    assert lines[3] == data["serial_number"]
    assert server.paths() == ["k8s/pki/issue/kubelet"]  # pkiCert with the same params reuses it
    assert server.calls[0][3] == {"common_name": "kubelet", "ttl": "10m"}
    assert keeper.next_due == pytest.approx(clock.now + 600 * 2 / 3)
    await keeper.render_and_write()
    assert server.paths() == ["k8s/pki/issue/kubelet"]
    clock.now = keeper.next_due
    await keeper.render_and_write()
    assert server.paths() == ["k8s/pki/issue/kubelet"] * 2


async def test_unchanged_output_is_not_rewritten_and_the_command_runs_once(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    keeper = make(tmp_path, "pw={{ kv('secret/app', 'password') }}\n", kv_server(),
                  command=CommandSpec(("sh", "-c", f"echo x >> {marker}")))
    await keeper.render_and_write()
    destination = tmp_path / "out" / "file"
    inode = destination.stat().st_ino
    await keeper.render_and_write()
    assert destination.stat().st_ino == inode and marker.read_text() == "x\n"
    assert keeper.last_command is None


@pytest.mark.parametrize(("contents", "error", "message"), [
    ("{{ kv('secret/app', 'nope') }}", AgentError, "has no key 'nope'"),
    ("{{ secret('missing/path') }}", AgentError, "no secret at missing/path"),
    ("{% if %}", PermanentError, "template t, line 1"),
    ("{{ secret('secret/data/app').data.data.missing.deeper }}", PermanentError, "missing"),
    ("{{ ''.__class__.__mro__ }}", PermanentError, "unsafe"),
    ("{{ pki_cert('k8s/pki', common_name='x') }}", PermanentError, "is not \"<mount>/issue/<role>\""),
    ("{{ pkiCert('k8s/pki/issue/r', 'oops') }}", PermanentError, "expected key=value"),
])
async def test_errors(tmp_path: Path, contents: str, error: type[Exception], message: str) -> None:
    server = kv_server(**{"missing/path": lambda request, data: None})
    keeper = make(tmp_path, contents, server, error_on_missing_key=True)
    with pytest.raises(error, match=message):
        await keeper.render()
    assert not (tmp_path / "out").exists()


async def test_missing_keys_render_empty_unless_strict(tmp_path: Path) -> None:
    keeper = make(tmp_path, "[{{ secret('secret/data/app').data.data.missing }}]", kv_server())
    assert await keeper.render() == "[]"


async def test_source_file_custom_delimiters_and_dest_dirs(tmp_path: Path) -> None:
    source = tmp_path / "tpl.j2"
    source.write_text("{{ not a tag }} [[ kv('secret/app', 'user') ]]\n")
    keeper = make(tmp_path, "", kv_server(), source=source, left_delimiter="[[", right_delimiter="]]")
    assert await keeper.render() == "{{ not a tag }} app\n"
    strict = make(tmp_path, "x", kv_server(), create_dest_dirs=False)
    with pytest.raises(AgentError, match="does not exist"):
        await strict.render_and_write()
    gone = make(tmp_path, "", kv_server(), source=tmp_path / "missing.j2")
    with pytest.raises(AgentError, match="cannot read template source"):
        await gone.render()


async def test_after_a_restart_the_rendered_certificate_is_reused_until_due(tmp_path: Path) -> None:
    clock = FakeClock(start=2_000_000.0)
    data = issue_leaf(CA, "kubelet", not_before=clock.now - 30, not_after=clock.now + 600)
    template = ("{% set c = pki_cert('k8s/pki/issue/kubelet', common_name='kubelet') %}"
                "ca: {{ c.ca | b64encode }}\ncert: {{ c.cert | b64encode }}\nkey: {{ c.key | b64encode }}\n"
                "{{ c.certificate }}\n")
    first = make(tmp_path, template, FakeServer({"k8s/pki/issue/kubelet": respond({"data": data})}), clock)
    await first.render_and_write()
    destination = tmp_path / "out" / "file"
    inode = destination.stat().st_ino

    nothing = FakeServer()
    restarted = make(tmp_path, template, nothing, clock)
    await restarted.render_and_write()
    assert nothing.calls == [] and destination.stat().st_ino == inode
    assert restarted.next_due == pytest.approx(clock.now - 30 + 630 * 2 / 3)

    clock.now = restarted.next_due + 1
    fresh = issue_leaf(CA, "kubelet", not_before=clock.now - 30, not_after=clock.now + 600)
    server = FakeServer({"k8s/pki/issue/kubelet": respond({"data": fresh})})
    await make(tmp_path, template, server, clock).render_and_write()
    assert server.paths() == ["k8s/pki/issue/kubelet"] and destination.stat().st_ino != inode

    other = make(tmp_path, template.replace("common_name='kubelet'", "common_name='other'"),
                 FakeServer({"k8s/pki/issue/kubelet": respond({"data": fresh})}), clock)
    await other.render()  # a different identity is never taken from the file
    assert other.api is not None
