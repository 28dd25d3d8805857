"""K=V arguments read as Vault's CLI reads them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from warden.cli.kvargs import KvArgsError, parse_kv_args


def test_plain_pairs_and_values_containing_equals() -> None:
    assert parse_kv_args(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


def test_empty_arguments_are_ignored() -> None:
    assert parse_kv_args(["", "a=1"]) == {"a": "1"}


def test_at_file_reads_the_file_verbatim(tmp_path: Path) -> None:
    key = tmp_path / "token-key"
    key.write_text("-----BEGIN KEY-----\nabc\n-----END KEY-----\n")
    assert parse_kv_args([f"key=@{key}"]) == {"key": key.read_text()}


def test_escaped_at_is_a_literal() -> None:
    assert parse_kv_args([r"k=\@home"]) == {"k": "@home"}


def test_dash_value_reads_all_of_stdin() -> None:
    assert parse_kv_args(["k=-", "o=x"], stdin=io.StringIO("hello\n")) == {"k": "hello\n", "o": "x"}


def test_lone_dash_merges_a_json_object_from_stdin() -> None:
    stdin = io.StringIO('{"n": 1, "nested": {"a": [1, 2]}, "a": "json"}')
    assert parse_kv_args(["a=arg", "-"], stdin=stdin) == {
        "a": "json", "n": 1, "nested": {"a": [1, 2]}}


def test_lone_at_file_merges_a_json_object(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"x": true}')
    assert parse_kv_args([f"@{data}", "y=2"]) == {"x": True, "y": "2"}


def test_repeated_keys_become_lists() -> None:
    assert parse_kv_args(["p=a", "p=b", "p=c", "q=1"]) == {"p": ["a", "b", "c"], "q": "1"}


def test_stdin_is_read_once_only() -> None:
    with pytest.raises(KvArgsError, match="stdin already consumed"):
        parse_kv_args(["a=-", "b=-"], stdin=io.StringIO("x"))


def test_stdin_where_it_is_not_available() -> None:
    with pytest.raises(KvArgsError, match="stdin"):
        parse_kv_args(["a=-"], stdin=None)


@pytest.mark.parametrize("arg", ["novalue", "=value"])
def test_malformed_pairs_are_refused(arg: str) -> None:
    with pytest.raises(KvArgsError):
        parse_kv_args([arg])


@pytest.mark.parametrize("text", ["[1, 2]", "{not json"])
def test_stdin_json_must_be_an_object(text: str) -> None:
    with pytest.raises(KvArgsError, match="JSON"):
        parse_kv_args(["-"], stdin=io.StringIO(text))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(KvArgsError, match="nope"):
        parse_kv_args([f"k=@{missing}"])


def test_file_reader_is_injectable() -> None:
    seen: list[str] = []

    def read(path: str) -> str:
        seen.append(path)
        return "content"

    assert parse_kv_args(["k=@/some/file"], read_file=read) == {"k": "content"}
    assert seen == ["/some/file"]
