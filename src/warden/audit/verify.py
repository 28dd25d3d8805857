"""Check an audit log file's chain and report the first line that is broken or missing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from warden.audit.chain import GENESIS, line_hash


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    lines: int
    first_bad_line: int = 0  # 1-based line number in the file; 0 when ok
    reason: str = ""
    first_seq: int = 0
    last_seq: int = 0


def _lines(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        for raw in fh:
            yield raw.rstrip(b"\n")


def verify_file(path: str, *, prefix: str = "", continued: bool = False) -> VerifyResult:
    """Walk the chain. ``continued`` accepts a first line that resumes an older file."""
    prev_hash, prev_seq, count, first_seq = "", 0, 0, 0
    pre = prefix.encode()
    for number, raw in enumerate(_lines(path), start=1):
        count = number
        body = raw[len(pre):] if pre and raw.startswith(pre) else raw
        try:
            entry = orjson.loads(body)
            seq, claimed = int(entry["seq"]), str(entry["prev_hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return VerifyResult(False, number, number, "not an audit line of warden's chain",
                                first_seq, prev_seq)
        if number == 1:
            first_seq = seq
            if not continued and (seq != 1 or claimed != GENESIS):
                return VerifyResult(False, number, number,
                                    f"the file does not start the chain (seq {seq}); lines "
                                    "before it are missing (use --continued for a rotated file)",
                                    first_seq, seq)
        else:
            if seq != prev_seq + 1:
                missing = seq - prev_seq - 1
                what = (f"{missing} line(s) missing before it" if missing > 0
                        else "a line was repeated or reordered")
                return VerifyResult(False, number, number,
                                    f"sequence {seq} follows {prev_seq}: {what}", first_seq, prev_seq)
            if claimed != prev_hash:
                return VerifyResult(False, number, number - 1,
                                    f"line {number} records a hash that line {number - 1} does "
                                    f"not have: line {number - 1} (or line {number}'s prev_hash) "
                                    "was altered", first_seq, prev_seq)
        prev_hash, prev_seq = line_hash(body), seq
    return VerifyResult(True, count, 0, "", first_seq, prev_seq)
