"""Field coercion: Vault's weak decoding, durations, and errors that name no values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden.framework import Field, FieldData, FieldType
from warden.framework.durations import format_duration, parse_duration
from warden.logical.errors import InvalidRequest


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("72h", 259200), ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("7d", 604800),
     ("3600", 3600), (3600, 3600), ("0", 0), ("", 0), ("1.5h", 5400), ("87600h", 315360000)],
)
def test_durations_parse_like_vault(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["1x", "h", "1h-", "-5s", True, [], {}, "1h 30m"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("ftype", "raw", "expected"),
    [
        (FieldType.BOOL, "true", True), (FieldType.BOOL, "0", False), (FieldType.BOOL, 1, True),
        (FieldType.INT, "42", 42), (FieldType.INT, 42.0, 42),
        (FieldType.STRING, 5, "5"), (FieldType.LOWERCASE_STRING, "AbC", "abc"),
        (FieldType.COMMA_STRING_SLICE, "a, b,,c", ["a", "b", "c"]),
        (FieldType.COMMA_STRING_SLICE, ["a,b", "c"], ["a,b", "c"]),
        (FieldType.STRING_SLICE, "x", ["x"]),
        (FieldType.KV_PAIRS, ["a=1", "b=2"], {"a": "1", "b": "2"}),
        (FieldType.KV_PAIRS, {"a": 1}, {"a": "1"}),
        (FieldType.MAP, '{"k": "v"}', {"k": "v"}),
        (FieldType.DURATION, "1h", 3600),
        (FieldType.COMMA_INT_SLICE, "1,2", [1, 2]),
    ],
)
def test_weak_coercions(ftype: FieldType, raw: object, expected: object) -> None:
    data = FieldData({"f": raw}, {"f": Field(ftype)})
    data.validate()
    assert data.get("f") == expected


@given(st.lists(st.text(alphabet="abcxyz-_.", min_size=1, max_size=5), max_size=5))
def test_comma_slice_coercion_is_idempotent(items: list[str]) -> None:
    once = FieldData({"f": ",".join(items)}, {"f": Field(FieldType.COMMA_STRING_SLICE)}).get("f")
    twice = FieldData({"f": once}, {"f": Field(FieldType.COMMA_STRING_SLICE)}).get("f")
    assert once == twice


def test_validation_error_names_the_field_but_not_the_value() -> None:
    data = FieldData({"ttl": "s3cr3t-not-a-duration"}, {"ttl": Field(FieldType.DURATION)})
    with pytest.raises(InvalidRequest) as exc:
        data.validate()
    assert '"ttl"' in str(exc.value)
    assert "s3cr3t" not in str(exc.value)


def test_defaults_zero_values_and_supplied() -> None:
    schema = {"a": Field(FieldType.INT, default=7), "b": Field(FieldType.BOOL), "c": Field()}
    data = FieldData({"c": "x", "zzz": 1}, schema)
    data.validate()
    assert data.get_ok("a") == (7, False)
    assert data.get("b") is False
    assert data.supplied("c") and not data.supplied("a")
    assert data.unknown_fields() == ["zzz"]
    with pytest.raises(KeyError):
        data.get("zzz")


def test_allowed_values_and_required() -> None:
    schema = {"kind": Field(allowed_values=("rsa", "ec"), required=True)}
    with pytest.raises(InvalidRequest, match="must be one of"):
        FieldData({"kind": "dsa"}, schema).validate()
    with pytest.raises(InvalidRequest, match='missing required field "kind"'):
        FieldData({}, schema).validate()


def test_null_means_not_given() -> None:
    schema = {"ttl": Field(FieldType.DURATION, default="1h"), "name": Field(FieldType.STRING)}
    data = FieldData({"ttl": None, "name": None, "other": None}, schema)
    data.validate()
    assert data.get_ok("ttl") == (3600, False)
    assert not data.supplied("name") and data.unknown_fields() == []


@pytest.mark.parametrize(
    ("ftype", "raw"),
    [(FieldType.INT, 2**70), (FieldType.INT, "1" * 25), (FieldType.DURATION, 2**70),
     (FieldType.DURATION, "999999999999h"), (FieldType.SIGNED_DURATION, -(2**70))],
)
def test_numbers_beyond_64_bits_are_refused(ftype: FieldType, raw: object) -> None:
    with pytest.raises(InvalidRequest, match=r"range|too large|integer"):
        FieldData({"n": raw}, {"n": Field(ftype)}).validate()
