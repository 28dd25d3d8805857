"""The harness of the token revocation races against a real server: threads hammer the
server with a token while it is revoked (or expires); each request's start time and answer
is recorded, so a test can count what was served after the revoke returned."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from support.server import ServerProcess

WORKERS = 6
POLICY = """
path "secret/data/race" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"""


@dataclass(frozen=True, slots=True)
class Sent:
    kind: str
    started: float
    status: int
    child_accessor: str = ""


@dataclass
class Trial:
    variant: str
    revoke_returned: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)  # tokens made during the race, to check after
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sent: Sent, minted: str = "") -> None:
        with self.lock:
            self.sent.append(sent)
            if minted:
                self.minted.append(minted)

    def served_after_revoke(self) -> list[Sent]:
        return [s for s in self.sent if s.started > self.revoke_returned and s.status < 400]

    def children(self) -> list[str]:
        return [s.child_accessor for s in self.sent if s.child_accessor]


def prepare(server: ServerProcess) -> None:
    """The racers' policy and the secret they read."""
    root = server.http()
    assert root.put("/v1/sys/policies/acl/racer", json={"policy": POLICY}).status_code == 204
    assert root.post("/v1/secret/data/race", json={"data": {"v": 1}}).status_code == 200


def create(http: httpx.Client, **body: object) -> tuple[str, str]:
    """A token with the racers' policy: (token, accessor)."""
    resp = http.post("/v1/auth/token/create", json={"policies": ["racer"], **body})
    assert resp.status_code == 200, resp.text
    return resp.json()["auth"]["client_token"], resp.json()["auth"]["accessor"]


def race(trial: Trial, hammers: Sequence[Callable[[threading.Event], None]],
         revoke: Callable[[], httpx.Response] | None, expire_at: float = 0.0) -> None:
    """Run every hammer in its own thread until the revoke returned (``revoke``), or the
    token expired (``expire_at``, when nobody revokes), and a little longer."""
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(stop,)) for hammer in hammers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(trial.sent) < 2 * len(threads) and time.monotonic() < deadline:
        time.sleep(0.005)  # let every thread get going, so the revoke lands mid-stream
    if revoke is None:  # the token's own expiry is "the revoke"
        trial.revoke_returned = expire_at
        time.sleep(max(0.0, expire_at - time.time()))
    else:
        resp = revoke()
        trial.revoke_returned = time.time()
        assert resp.status_code == 204, resp.text
    time.sleep(0.06)  # keep hammering: these requests all start after the revoke returned
    stop.set()
    for t in threads:
        t.join()
