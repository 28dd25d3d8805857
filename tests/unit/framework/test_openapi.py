"""OpenAPI descriptions generated from declared paths (the ``openapi`` of path help)."""

from __future__ import annotations

import pytest

from warden.framework import Field, FieldType, Path, generic_name_regex, optional_param_regex
from warden.framework.openapi import document, template
from warden.logical.operation import Operation


@pytest.mark.parametrize(("pattern", "expected"), [
    ("roles/?", "/roles"),
    ("roles/" + generic_name_regex("name"), "/roles/{name}"),
    ("leases/renew" + optional_param_regex("url_lease_id"), "/leases/renew/{url_lease_id}"),
    (r"mounts/(?P<path>.+?)/tune/?", "/mounts/{path}/tune"),
    (r"issuer/(?P<ref>\w+)/der", "/issuer/{ref}/der"),
    (r"cert/ca\.pem", "/cert/ca.pem"),
])
def test_template(pattern: str, expected: str) -> None:
    assert template(pattern) == expected


async def _handler(req: object, data: object) -> None:
    return None


def test_document_describes_operations_and_fields() -> None:
    path = Path("roles/" + generic_name_regex("name"),
                fields={"name": Field(FieldType.STRING, "The role."),
                        "ttl": Field(FieldType.DURATION, "TTL.", default="1h"),
                        "tags": Field(FieldType.COMMA_STRING_SLICE, "Tags.", required=True)},
                operations={Operation.READ: _handler, Operation.UPDATE: _handler,
                            Operation.DELETE: _handler},
                help_synopsis="Manage roles.")
    doc = document([path])
    item = doc["paths"]["/roles/{name}"]
    assert item["parameters"][0]["name"] == "name"
    assert set(item) >= {"get", "post", "delete"}
    body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["ttl"] == {"type": "string", "format": "duration",
                                         "default": "1h", "description": "TTL."}
    assert body["properties"]["tags"]["type"] == "array"
    assert body["required"] == ["tags"]
    assert "name" not in body["properties"]  # a path parameter, not a body field
