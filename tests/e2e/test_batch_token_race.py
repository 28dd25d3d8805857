"""A batch token with a parent stops working for every request that starts after the parent's
revocation returned, however many requests are in flight: the race, against a real server.

Many threads use batch token B (child of P) — reading a secret, looking themselves up, and
minting further batch children of P and using them at once — while P is revoked (by token,
by accessor, through P's own parent, as an orphan) or expires. No request that started after
that point may be served, with B or with any batch child P managed to mint.
"""

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

TRIALS_PER_VARIANT = 4
EXPIRY_TRIALS = 2  # each waits out a short TTL


def _hammer(server: ServerProcess, batch: str, parent: str, kind: str, trial: Trial,
            stop: threading.Event) -> None:
    with server.http(batch) as as_batch, server.http(parent) as as_parent:
        while not stop.is_set():
            started = time.time()
            child = ""
            if kind == "read":
                status = as_batch.get("/v1/secret/data/race").status_code
            elif kind == "lookup":
                status = as_batch.get("/v1/auth/token/lookup-self").status_code
            else:  # mint a batch child of P and use it at once
                resp = as_parent.post("/v1/auth/token/create", json={"type": "batch"})
                if resp.status_code == 200:
                    child = resp.json()["auth"]["client_token"]
                    started = time.time()
                    status = server.http(child).get("/v1/secret/data/race").status_code
                else:
                    status = resp.status_code
            trial.record(Sent(kind, started, status), minted=child)


def _run_trial(server: ServerProcess, variant: str) -> Trial:
    root = server.http()
    grandparent = ""
    expire_at = 0.0
    if variant == "grandparent":
        grandparent, _ = create(root)
        with server.http(grandparent) as as_grandparent:
            parent, accessor = create(as_grandparent)
    elif variant == "expiry":
        parent, accessor = create(root, ttl="2s")
        data = root.post("/v1/auth/token/lookup", json={"token": parent}).json()["data"]
        expire_at = datetime.fromisoformat(data["expire_time"].replace("Z", "+00:00")).timestamp()
    else:
        parent, accessor = create(root)
    with server.http(parent) as as_parent:
        resp = as_parent.post("/v1/auth/token/create", json={"type": "batch"})
        assert resp.status_code == 200, resp.text
        batch = resp.json()["auth"]["client_token"]
    revokes: dict[str, Callable[[], httpx.Response]] = {
        "token": lambda: root.post("/v1/auth/token/revoke", json={"token": parent}),
        "accessor": lambda: root.post("/v1/auth/token/revoke-accessor",
                                      json={"accessor": accessor}),
        "grandparent": lambda: root.post("/v1/auth/token/revoke", json={"token": grandparent}),
        "orphan": lambda: root.post("/v1/auth/token/revoke-orphan", json={"token": parent}),
    }
    trial = Trial(variant)
    kinds = ("read", "lookup", "mint")
    race(trial, [functools.partial(_hammer, server, batch, parent, kinds[i % 3], trial)
                 for i in range(WORKERS)], revokes.get(variant), expire_at)
    root.close()
    trial.minted.append(batch)
    return trial


def test_no_request_with_a_batch_token_is_served_after_its_parent_is_revoked(
        tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, extra_args=[f"-dev-storage-path={tmp_path / 'w.db'}"]).start()
    try:
        prepare(server)
        variants = [*("token", "accessor", "grandparent", "orphan") * TRIALS_PER_VARIANT,
                    *("expiry",) * EXPIRY_TRIALS]
        trials = [_run_trial(server, variant) for variant in variants]
        problems: list[str] = []
        for i, trial in enumerate(trials):
            late = trial.served_after_revoke()
            if late:
                problems.append(f"trial {i} ({trial.variant}): {len(late)} requests sent after "
                                f"the revoke returned were served ({late[0]})")
            alive = [t for t in trial.minted
                     if server.http(t).get("/v1/secret/data/race").status_code != 403]
            if alive:
                problems.append(f"trial {i} ({trial.variant}): {len(alive)} of "
                                f"{len(trial.minted)} batch tokens outlived their parent")
        sent = sum(len(t.sent) for t in trials)
        served_before = sum(1 for t in trials for s in t.sent
                            if s.started < t.revoke_returned and s.status == 200)
        after = sum(1 for t in trials for s in t.sent if s.started > t.revoke_returned)
        print(f"\n{len(trials)} trials, {sent} requests ({served_before} served before the "
              f"revoke), {after} sent after it returned")
        assert served_before > 0, "the batch tokens never worked: the test proves nothing"
        assert after > 0, "the race never ran past the revoke: the test proves nothing"
        assert not problems, "\n".join(problems)
    finally:
        server.stop()
