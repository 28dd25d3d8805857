"""Backend: patterns compiled at construction, routing order, errors, help, warnings."""

from __future__ import annotations

import pytest

from warden.framework import Backend, Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest, UnsupportedOperation, UnsupportedPath
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response


async def echo(req: Request, data: FieldData) -> Response:
    return Response(data={"name": data.get("name"), "n": data.get("n")})


async def specific(req: Request, data: FieldData) -> Response:
    return Response(data={"specific": True})


def make() -> Backend:
    fields = {"name": Field(FieldType.STRING, "A name."), "n": Field(FieldType.INT, "A number.")}
    return Backend(paths=[
        Path("roles/special", operations={Operation.READ: specific}),
        Path("roles/" + generic_name_regex("name"), fields=fields,
             operations={Operation.READ: echo, Operation.UPDATE: echo},
             help_synopsis="Manage roles."),
    ])


def test_capture_without_field_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="captures without a field"):
        Backend(paths=[Path("x/(?P<oops>.+)", operations={Operation.READ: echo})])


async def test_first_declared_match_wins_and_url_capture_beats_body() -> None:
    b = make()
    resp = await b.handle_request(Request(Operation.READ, "roles/special"))
    assert resp is not None and resp.data == {"specific": True}
    resp = await b.handle_request(
        Request(Operation.UPDATE, "roles/web", data={"name": "evil", "n": "3"}))
    assert resp is not None and resp.data == {"name": "web", "n": 3}


async def test_unknown_path_operation_and_bad_field() -> None:
    b = make()
    with pytest.raises(UnsupportedPath):
        await b.handle_request(Request(Operation.READ, "nothing/here"))
    with pytest.raises(UnsupportedOperation):
        await b.handle_request(Request(Operation.DELETE, "roles/web"))
    with pytest.raises(InvalidRequest, match='"n"'):
        await b.handle_request(Request(Operation.UPDATE, "roles/web", data={"n": "many"}))


async def test_create_falls_back_to_update_handler() -> None:
    resp = await make().handle_request(Request(Operation.CREATE, "roles/web", data={"n": 1}))
    assert resp is not None and resp.data == {"name": "web", "n": 1}


async def test_unknown_parameters_produce_a_warning() -> None:
    resp = await make().handle_request(Request(Operation.UPDATE, "roles/web", data={"bogus": 1}))
    assert resp is not None
    assert resp.warnings == ["Endpoint ignored these unrecognized parameters: [bogus]"]


async def test_help_is_generated_from_the_schema() -> None:
    resp = await make().handle_request(Request(Operation.HELP, "roles/web"))
    assert resp is not None and resp.data is not None
    assert "Manage roles." in resp.data["help"] and "name (string)" in resp.data["help"]


async def test_routing_answers_the_same_every_time_and_for_long_paths() -> None:
    b = make()
    long_name = "a" * 300
    for _ in range(2):
        found = b.route("roles/web")
        assert found is not None and dict(found[1]) == {"name": "web"}
        long_found = b.route(f"roles/{long_name}")
        assert long_found is not None and long_found[1]["name"] == long_name
        assert b.route("nothing/here") is None
    resp = await b.handle_request(Request(Operation.UPDATE, f"roles/{long_name}", data={"n": 2}))
    assert resp is not None and resp.data == {"name": long_name, "n": 2}


async def test_a_handler_must_return_plain_dict_data() -> None:
    """sys/key-status once returned a dataclass: served fine, until an audit device was on."""
    from dataclasses import dataclass

    @dataclass
    class Status:
        term: int

    async def dataclass_data(req: Request, data: FieldData) -> Response:
        return Response(data=Status(1))  # type: ignore[arg-type]

    backend = Backend(paths=[Path("status", operations={Operation.READ: dataclass_data})])
    with pytest.raises(TypeError, match=r"status: handler returned Status as Response\.data"):
        await backend.handle_request(Request(operation=Operation.READ, path="status"))
