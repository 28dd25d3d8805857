"""Grouping py-spy's stacks into layers."""

from __future__ import annotations

from bench.profile import AUDIT, STORAGE, breakdown, classify, parse_collapsed, thread_group, top_frames

MAIN = "thread (1): MainThread"
RAW = "\n".join([
    f"{MAIN};run (asyncio/runners.py:118);_handle (warden/server/app.py:95);"
    "sign (cryptography/x509/base.py:569) 6",
    f"{MAIN};run (asyncio/runners.py:118);log_request (warden/core/core.py:700);"
    "_Audit.log_request (warden/core/core.py:701);line_hash (warden/audit/chain.py:20) 2",
    f"{MAIN};run (asyncio/runners.py:118);put (warden/core/barrier.py:100);"
    "pthread_cond_signal (libc.so.6) 1",
    f"{MAIN};run (asyncio/runners.py:118);send (uvicorn/protocols/http/h11_impl.py:490);"
    "write (libc.so.6) 1",
    "thread (2): warden-sqlite-writer;_commit (warden/storage/sqlite.py:312) 5",
    "garbage line",
])


def test_parse_collapsed_skips_what_is_not_a_stack() -> None:
    stacks = parse_collapsed(RAW)
    assert len(stacks) == 5
    assert stacks[0][1] == 6


def test_layers() -> None:
    stacks = parse_collapsed(RAW)
    assert classify(stacks[0][0]).startswith("crypto")
    assert classify(stacks[1][0]) == AUDIT
    assert classify(stacks[2][0]) == STORAGE
    assert classify(stacks[3][0]).startswith("HTTP")


def test_warden_crypto_wrappers_count_as_crypto() -> None:
    frames = [MAIN, "_sign (warden/engines/pki/path_issue_sign.py:1)",
              "parse_csr (warden/engines/pki/x509util/read.py:27)"]
    assert classify(frames).startswith("crypto")


def test_thread_groups() -> None:
    assert thread_group(MAIN) == "MainThread"
    assert thread_group("thread (9): warden-sqlite-reader_3") == "thread: sqlite readers"
    assert thread_group("thread (9): warden-keypool_0") == "thread: key pool"


def test_breakdown_is_per_main_thread_sample_and_per_thread() -> None:
    result = breakdown(parse_collapsed(RAW))
    assert result["main_thread_samples"] == 10
    assert result["main_thread"]["crypto (cryptography / OpenSSL)"] == 60.0
    assert result["main_thread"][AUDIT] == 20.0
    assert result["threads"] == {"MainThread": 66.7, "thread: sqlite writer (group commit)": 33.3}
    assert top_frames(parse_collapsed(RAW))[0] == ("sign (cryptography/x509/base.py:569)", 60.0)
