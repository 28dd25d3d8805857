r"""HCL as Go's HCL reads it, on top of pyhcl.

pyhcl merges repeated top-level blocks key by key (two ``listener "tcp"`` blocks
become one, the first one's settings leaking into the second) and leaves ``\n``,
``\t`` and ``\uXXXX`` undecoded in quoted strings. ``load_hcl`` keeps repeated
blocks apart (a repeated key becomes a list, at every level) and decodes escapes.
Used by the server's and the agent's configuration loaders; imports nothing of warden.
"""

from __future__ import annotations

import json
import re
from typing import Any

import hcl  # type: ignore[import-untyped,unused-ignore]
from hcl.parser import HclParser  # type: ignore[import-untyped,unused-ignore]


def load_hcl(text: str) -> Any:
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
