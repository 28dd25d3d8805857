"""Revocation under concurrency, against a real server: many threads use token T while it is
revoked (by token, by accessor, through its parent, as an orphan) or expires. Every request
that starts after the revoke returned (or the TTL ran out) must be refused, the accessor must
be gone, and no child T managed to create may outlive it, not even across a restart."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from support.server import ServerProcess
from support.token_race import WORKERS, Sent, Trial, create, prepare, race

TRIALS_PER_VARIANT = 5
EXPIRY_TRIALS = 2  # each waits out a 1 s TTL


def _hammer(server: ServerProcess, token: str, kind: str, trial: Trial, stop: threading.Event) -> None:
    with server.http(token) as http:
        while not stop.is_set():
            started = time.time()
            child = ""
            if kind == "read":
                status = http.get("/v1/secret/data/race").status_code
            elif kind == "lookup":
                status = http.get("/v1/auth/token/lookup-self").status_code
            else:
                resp = http.post("/v1/auth/token/create", json={"ttl": "1h"})
                status = resp.status_code
                if status == 200:
                    child = resp.json()["auth"]["accessor"]
            trial.record(Sent(kind, started, status, child))


def _run_trial(server: ServerProcess, variant: str) -> tuple[Trial, str]:
    """One race; returns the trial's record and T's accessor."""
    root = server.http()
    parent_token = ""
    expire_at = 0.0
    if variant == "parent":
        parent_token, _ = create(root)
        with server.http(parent_token) as as_parent:
            token, accessor = create(as_parent)
    elif variant == "expiry":
        token, accessor = create(root, ttl="1s")
        expires = root.post("/v1/auth/token/lookup", json={"token": token}).json()["data"]
        expire_at = datetime.fromisoformat(expires["expire_time"].replace("Z", "+00:00")).timestamp()
    else:
        token, accessor = create(root)
    revokes: dict[str, Callable[[], httpx.Response]] = {
        "token": lambda: root.post("/v1/auth/token/revoke", json={"token": token}),
        "accessor": lambda: root.post("/v1/auth/token/revoke-accessor",
                                      json={"accessor": accessor}),
        "parent": lambda: root.post("/v1/auth/token/revoke", json={"token": parent_token}),
        "orphan": lambda: root.post("/v1/auth/token/revoke-orphan", json={"token": token}),
    }
    trial = Trial(variant)
    kinds = ("read", "lookup", "create")
    race(trial, [functools.partial(_hammer, server, token, kinds[i % 3], trial) for i in range(WORKERS)],
         revokes.get(variant), expire_at)
    root.close()
    return trial, accessor


def _live(server: ServerProcess, accessor: str) -> bool:
    resp = server.http().post("/v1/auth/token/lookup-accessor", json={"accessor": accessor})
    assert resp.status_code in (200, 400), resp.text
    return resp.status_code == 200


def _accessors(server: ServerProcess) -> set[str]:
    return set(server.http().request("LIST", "/v1/auth/token/accessors").json()["data"]["keys"])


def _orphan(server: ServerProcess, accessor: str) -> bool:
    resp = server.http().post("/v1/auth/token/lookup-accessor", json={"accessor": accessor})
    return bool(resp.json()["data"]["orphan"])


def test_no_request_after_revoke_is_served_and_no_child_survives(tmp_path: Path) -> None:
    store = tmp_path / "warden.db"
    server = ServerProcess(tmp_path, extra_args=[f"-dev-storage-path={store}"]).start()
    try:
        prepare(server)
        trials: list[Trial] = []
        gone: list[str] = []  # accessors that must not exist any more
        problems: list[str] = []
        variants = [*("token", "accessor", "parent", "orphan") * TRIALS_PER_VARIANT,
                    *("expiry",) * EXPIRY_TRIALS]
        for i, variant in enumerate(variants):
            trial, accessor = _run_trial(server, variant)
            trials.append(trial)
            if _live(server, accessor):
                problems.append(f"trial {i} ({variant}): lookup-accessor still finds T")
            gone.append(accessor)
            survivors = 0
            for child in set(trial.children()) & _accessors(server):
                # revoke-orphan keeps T's children, but only as orphans
                survivors += variant != "orphan" or not _orphan(server, child)
            if variant != "orphan":
                gone += trial.children()
            if survivors:
                problems.append(f"trial {i} ({variant}): {survivors} of T's "
                                f"{len(trial.children())} children outlived it as its children")
            if trial.served_after_revoke():
                problems.append(f"trial {i} ({variant}): {len(trial.served_after_revoke())} "
                                "requests sent after the revoke returned were served")
        sent = sum(len(t.sent) for t in trials)
        late = sum(len(t.served_after_revoke()) for t in trials)
        after = sum(1 for t in trials for s in t.sent if s.started > t.revoke_returned)
        print(f"\n{len(trials)} trials, {sent} requests, {after} sent after the revoke returned, "
              f"{late} of them served")
        assert after > 0, "the race never ran past the revoke: the test proves nothing"
        assert not problems, "\n".join(problems)
        server.stop()
        server.start()
        assert not set(gone) & _accessors(server), "a revoked token came back after a restart"
    finally:
        server.stop()
