"""Path normalisation at the HTTP edge and special-path matching."""

from __future__ import annotations

import base64

import pytest

from warden.core.router import PathMatcher
from warden.logical.errors import InvalidRequest
from warden.server.config import ConfigError, parse_config
from warden.server.translate import nests_deeper_than, normalize_path, request_data


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("secret/data/app", "secret/data/app"),
        ("secret//data///app", "secret/data/app"),
        ("/secret/data/app/", "secret/data/app/"),
        ("secret/data/admin%2Fdb", "secret/data/admin/db"),
        ("pki/ocsp/MEow%2F%2FSDA%2B", "pki/ocsp/MEow//SDA+"),
        ("secret/%E2%9C%93", "secret/\u2713"),
    ],
)
def test_paths_normalise(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["a/../b", "a/%2e%2e/b", "a%2F..%2Fb", "./a", "a/.", "a/%00", "a/%0Ab", "a/%7F", "a/%FF",
     "a/%C3"],
)
def test_dot_segments_and_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid request path"):
        normalize_path(raw)


def test_ocsp_post_bodies_become_a_field() -> None:
    data = request_data("POST", {}, b"\x30\x03\x01\x02\x03", "application/ocsp-request")
    assert data == {"ocsp_request": base64.b64encode(b"\x30\x03\x01\x02\x03").decode()}


def test_special_paths_with_plus_and_globs() -> None:
    m = PathMatcher(["ca/pem", "cert/*", "issuer/+/pem", "issuer/+/crl*"])
    assert m.matches("ca/pem") and m.matches("cert/01:02")
    assert m.matches("issuer/default/pem") and m.matches("issuer/abc/crl/pem")
    assert not m.matches("issuer//pem") and not m.matches("issuer/a/b/pem")
    assert not m.matches("issuer/abc/json") and not m.matches("ca")


def test_nesting_depth_is_limited_without_recursion() -> None:
    deep: object = 1
    for _ in range(100_000):  # far past any recursion limit
        deep = [deep]
    assert nests_deeper_than({"a": deep}, 100)
    assert not nests_deeper_than({"a": [[1], {"b": [2]}]}, 4)
    assert nests_deeper_than({"a": [[1], {"b": [2]}]}, 3)
    body = b'{"a":' * 5 + b"1" + b"}" * 5
    assert request_data("POST", {}, body, max_depth=5)
    with pytest.raises(InvalidRequest, match="exceeds allowed nesting depth"):
        request_data("POST", {}, body, max_depth=4)
    with pytest.raises(InvalidRequest, match="exceeds allowed nesting depth"):
        request_data("PUT", {}, b"[" * 2000 + b"]" * 2000)


def test_max_json_depth_setting() -> None:
    def listener(extra: str) -> int:
        config = parse_config('storage "inmem" {}\nlistener "tcp" {\n address = "127.0.0.1:0"\n'
                              ' tls_disable = true\n' + extra + "\n}")
        return config.listeners[0].max_json_depth

    assert listener("") == 100
    assert listener("max_json_depth = 20") == 20
    for bad in ("0", "201", "\"lots\""):
        with pytest.raises(ConfigError, match="max_json_depth must be a number from 1 to 200"):
            listener(f"max_json_depth = {bad}")
