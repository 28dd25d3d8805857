"""Path normalisation at the HTTP edge and special-path matching."""

from __future__ import annotations

import base64

import pytest

from warden.core.router import PathMatcher
from warden.logical.errors import InvalidRequest
from warden.server.translate import normalize_path, request_data


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
