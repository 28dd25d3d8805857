"""What makes a token's revocation hold under concurrency: marks, and writes held in flight.

Revoking a token first *marks* it. From that moment every lookup treats it as gone, and no
write that depends on it being alive (a child token stored under it, an update of its entry,
a lease registered to it) may start. The writes of that kind that began before the mark are
waited for (``drain``), so the listing of its children that follows sees every child it will
ever have, and no update can put its entry back after the delete.

Marks live in this process only: they cover the window between the start of a revocation and
the commit of its deletes, after which storage itself no longer holds the token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class RevocationGate:
    def __init__(self) -> None:
        self._marked: set[str] = set()
        self._in_flight: dict[str, set[asyncio.Future[None]]] = {}

    def revoking(self, key: str) -> bool:
        return key in self._marked

    def mark(self, key: str) -> None:
        self._marked.add(key)

    def unmark(self, key: str) -> None:
        """The revocation of ``key`` is committed (or it never existed): lookups go to storage."""
        self._marked.discard(key)

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[bool]:
        """Keep ``key``'s revocation waiting while a write that depends on it runs.

        Yields False (and holds nothing) if its revocation has already begun: the write must
        not happen. Cancellation-safe: the hold is released however the block ends.
        """
        if key in self._marked:
            yield False
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        holds = self._in_flight.setdefault(key, set())
        holds.add(done)
        try:
            yield True
        finally:
            done.set_result(None)
            holds.discard(done)
            if not holds:
                self._in_flight.pop(key, None)

    async def drain(self, key: str) -> None:
        """Wait for every write that held ``key`` before it was marked."""
        pending = list(self._in_flight.get(key, ()))
        if pending:
            await asyncio.wait(pending)
