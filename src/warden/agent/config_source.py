"""Reading a configuration file into a plain mapping: YAML by suffix, else HCL (or JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hcl  # type: ignore[import-untyped,unused-ignore]
import yaml  # type: ignore[import-untyped,unused-ignore]
from hcl.parser import HclParser  # type: ignore[import-untyped,unused-ignore]

from warden.agent.config_parse import ConfigError

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})


class _YamlLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """YAML whose leading-zero numbers (``mode: 0640``) stay strings, to be read as octal
    the same way whatever the source format."""


def _int_or_octal_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if isinstance(text, str) and len(text) > 1 and text.startswith("0") and text.isdigit():
        return text
    return loader.construct_yaml_int(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _int_or_octal_text)


def _load_hcl(text: str) -> Any:
    """HCL (or JSON), keeping repeated blocks apart.

    pyhcl merges repeated top-level blocks key by key, so two unlabeled ``certificate {}``
    blocks would lose fields; flattening the top level like any nested level (a repeated
    key becomes a list) keeps each block whole, as Go's HCL does.
    """
    if not hcl.api.isHcl(text):
        return json.loads(text)
    text = decode_escapes(text)
    parser = HclParser()
    parser.objectlist_flat = (  # type: ignore[method-assign,unused-ignore]
        lambda items, replace: HclParser.objectlist_flat(parser, items, False))
    return parser.parse(text)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")


def decode_escapes(text: str) -> str:
    """Turn ``\\n``, ``\\t``, ``\\r`` and ``\\uXXXX`` inside quoted strings into the
    characters, as Go's HCL does (pyhcl decodes only ``\\"`` and ``\\\\``, which are
    left for it). Heredocs and comments are copied unchanged."""
    out: list[str] = []
    i = 0
    while i < len(text):
        heredoc = _HEREDOC.match(text, i)
        if heredoc:
            end = re.compile(rf"^[ \t]*{heredoc.group(1)}[ \t]*$", re.M).search(text, heredoc.end())
            stop = end.end() if end else len(text)
            out.append(text[i:stop])
            i = stop
        elif text.startswith(("#", "//"), i) or text.startswith("/*", i):
            closer = "*/" if text.startswith("/*", i) else "\n"
            stop = text.find(closer, i + 1)
            stop = len(text) if stop < 0 else stop + len(closer)
            out.append(text[i:stop])
            i = stop
        elif text[i] == '"':
            i = _quoted(text, i, out)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _quoted(text: str, start: int, out: list[str]) -> int:
    """Copy the string starting at ``start`` (a quote), decoding escapes; the index after it."""
    out.append('"')
    i = start + 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 4
            else:
                out.append(text[i:i + 2])  # \" and \\ are pyhcl's to decode
            i += 2
            continue
        out.append(text[i])
        i += 1
    if i < len(text):
        out.append('"')
    return i + 1


def read_document(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    return parse_document(text, yaml_format=path.suffix.lower() in _YAML_SUFFIXES, name=str(path))


def parse_document(text: str, *, yaml_format: bool, name: str = "configuration") -> Mapping[str, Any]:
    try:
        document = yaml.load(text, Loader=_YamlLoader) if yaml_format else _load_hcl(text)  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from None
    except Exception as exc:  # pyhcl raises ValueError and ply's own errors
        raise ConfigError(f"{name}: not valid HCL or JSON: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{name}: the configuration must be a mapping of blocks")
    return document
