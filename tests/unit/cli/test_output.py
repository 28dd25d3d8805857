"""Output formatting mirrors Vault's CLI."""

from __future__ import annotations

import json

import pytest
import yaml

from warden.cli.output import (
    columns,
    format_duration,
    format_value,
    header_for_map,
    map_table,
    normalize_secret,
    padded_header,
    quoted_list,
    render_field,
    render_list,
    render_secret,
    secret_field,
    secret_rows,
    table,
)

TOKEN_SECRET = {
    "request_id": "r1",
    "lease_id": "",
    "renewable": False,
    "lease_duration": 0,
    "data": None,
    "wrap_info": None,
    "warnings": None,
    "auth": {
        "client_token": "ws.abc",
        "accessor": "acc1",
        "policies": ["default", "etcd"],
        "token_policies": ["default", "etcd"],
        "identity_policies": None,
        "metadata": {"host": "etcd-1"},
        "lease_duration": 2592000,
        "renewable": True,
    },
    "mount_type": "token",
}


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45, "45s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"),
    (3605, "1h5s"), (2764800, "768h"), (315360000, "87600h"), (-60, "-1m"),
])
def test_durations_print_like_vault(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("value", "text"), [
    (None, "<nil>"), (True, "true"), (False, "false"), (3, "3"), (2.0, "2"), (1.5, "1.5"),
    ("s", "s"), (["a", "b"], "[a b]"), ([], "[]"),
    ({"b": 1, "a": {"y": None, "x": [1]}}, "map[a:map[x:[1] y:<nil>] b:1]"),
])
def test_values_print_like_go_percent_v(value: object, text: str) -> None:
    assert format_value(value) == text


def test_policy_lists_print_like_go_percent_q() -> None:
    assert quoted_list(["default", "c1/pki/etcd/member"]) == '["default" "c1/pki/etcd/member"]'
    assert quoted_list(None) == "[]"


def test_tables_use_four_space_columns_and_na_for_empty_cells() -> None:
    assert table(("Key", "Value"), [("a", "1"), ("longer_key", "")]) == (
        "Key           Value\n"
        "---           -----\n"
        "a             1\n"
        "longer_key    n/a")


def test_columns_do_not_pad_the_last_column() -> None:
    assert columns([["a", "b"], ["ccc", "d"]]) == "a      b\nccc    d"


def test_map_table_sorts_keys_and_humanises_durations() -> None:
    text = map_table({"ttl": 3600, "b": "x", "max_ttl": "7200", "period": None, "num": 3600})
    assert text.splitlines()[2:] == [
        "b          x", "max_ttl    2h", "num        3600", "period     <nil>", "ttl        1h"]


def test_lease_without_id_is_a_refresh_interval() -> None:
    rows = secret_rows({"lease_id": "", "lease_duration": 2764800, "data": {"x": "1"}})
    assert rows == [("refresh_interval", "768h"), ("x", "1")]


def test_lease_with_id_shows_the_lease() -> None:
    rows = secret_rows({"lease_id": "pki/issue/x/123", "lease_duration": 3600,
                        "renewable": True, "data": {}})
    assert rows == [("lease_id", "pki/issue/x/123"), ("lease_duration", "1h"),
                    ("lease_renewable", "true")]


def test_token_secrets_show_vaults_token_rows() -> None:
    assert secret_rows(TOKEN_SECRET) == [
        ("token", "ws.abc"),
        ("token_accessor", "acc1"),
        ("token_duration", "720h"),
        ("token_renewable", "true"),
        ("token_policies", '["default" "etcd"]'),
        ("identity_policies", "[]"),
        ("policies", '["default" "etcd"]'),
        ("token_meta_host", "etcd-1"),
    ]


def test_root_tokens_last_forever() -> None:
    secret = {**TOKEN_SECRET, "auth": {**TOKEN_SECRET["auth"], "lease_duration": 0}}  # type: ignore[dict-item]
    assert ("token_duration", "∞") in secret_rows(secret)


def test_wrapped_responses_show_the_wrapping_token() -> None:
    rows = dict(secret_rows({"wrap_info": {"token": "w1", "accessor": "a", "ttl": 300,
                                           "creation_time": "t", "creation_path": "p"}}))
    assert rows["wrapping_token:"] == "w1"
    assert rows["wrapping_token_ttl:"] == "5m"


def test_table_rendering_adds_header_and_warnings() -> None:
    text = render_secret({"data": {"a": "1"}, "warnings": ["careful"]}, "table")
    assert text.startswith("Key    Value\n---    -----\na      1")
    assert "WARNING!" in text
    assert "* careful" in text


def test_json_is_vaults_secret_shape_with_two_space_indent() -> None:
    text = render_secret({**TOKEN_SECRET, "extra_top_level": 1}, "json")
    parsed = json.loads(text)
    assert list(parsed) == ["request_id", "lease_id", "lease_duration", "renewable", "data",
                            "warnings", "auth", "mount_type"]
    assert parsed["auth"]["client_token"] == "ws.abc"
    assert '\n  "request_id": "r1"' in text


def test_json_drops_empty_optional_parts() -> None:
    parsed = normalize_secret({"data": {"a": 1}, "auth": None, "wrap_info": None})
    assert "auth" not in parsed
    assert "wrap_info" not in parsed
    assert parsed["lease_duration"] == 0


def test_bodies_outside_the_envelope_are_shown_as_data() -> None:
    assert normalize_secret({"sealed": True, "t": 3}) == {"sealed": True, "t": 3}
    assert render_secret({"sealed": True, "t": 3}, "table").splitlines()[2:] == [
        "sealed    true", "t         3"]
    assert secret_field({"sealed": True}, "sealed") is True


def test_yaml_output_round_trips() -> None:
    text = render_secret({"data": {"a": "1", "n": [1, 2]}}, "yaml")
    assert yaml.safe_load(text)["data"] == {"a": "1", "n": [1, 2]}


def test_lists() -> None:
    assert render_list(["a", "b/"], "table") == "Keys\n----\na\nb/"
    assert json.loads(render_list(["a", "b/"], "json")) == ["a", "b/"]


def test_fields_come_from_auth_then_data() -> None:
    assert secret_field(TOKEN_SECRET, "token") == "ws.abc"
    assert secret_field(TOKEN_SECRET, "token_accessor") == "acc1"
    assert secret_field(TOKEN_SECRET, "policies") == ["default", "etcd"]
    assert secret_field({"data": {"key": "v"}}, "key") == "v"
    assert secret_field({"data": {"key": "v"}}, "missing") is None


def test_raw_fields() -> None:
    assert render_field("multi\nline\n", "table") == "multi\nline\n"
    assert render_field(["a"], "table") == "[a]"
    assert json.loads(render_field({"k": 1}, "json")) == {"k": 1}


def test_section_headers() -> None:
    assert padded_header("Secret Path", 15) == "= Secret Path ="
    assert padded_header("Too long for it", 3) == "Too long for it"
    assert header_for_map("Data", {"password": 1}) == "===== Data ======"  # 8 + 4 + 5 wide
