"""The tidy job: removes expired certificates, revocations and issuers in the background.

As Vault's: ``start`` claims the mount's one tidy slot and runs the job as a task of this
process's event loop; the request that started it returns at once. The status lives in the
mount's storage (``tidy/status``), not in process memory, so with several worker processes
``tidy-status`` and ``tidy-cancel`` answer in whichever worker a request lands, and a second
tidy is refused in every worker while one runs. The job walks the store a page at a time
(never the whole store in memory), at most ``STEP`` certificates per batch. Between steps,
or between certificates when ``pause_duration`` is set, it reads the status to learn of a
cancel, writes its progress (at most once a second, or at every pause) and lets other
requests run; without ``pause_duration`` it rests ``REST_S`` after each step. A job whose
process died stops renewing its ``alive_until``; once that passes, its status reads as
Error and a new tidy may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from warden.engines.pki import certstore, crl, store
from warden.engines.pki.store import parse_serial
from warden.framework.durations import format_duration
from warden.logical.clock import to_rfc3339
from warden.logical.storage import BatchOp, Delete, Put, Storage, atomic_update

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

log = logging.getLogger("warden.pki.tidy")

STATUS_KEY = "tidy/status"
INACTIVE, RUNNING, FINISHED, ERROR = "Inactive", "Running", "Finished", "Error"
CANCELLING, CANCELLED = "Cancelling", "Cancelled"
ACTIVE = (RUNNING, CANCELLING)
# How long past its last progress report a running job still counts as alive. A step takes
# well under a second; the margin covers a loaded machine (and a pause adds its length).
ALIVE_GRACE_S = 60.0
DEFAULT_PAGE = 1000
MIN_PAGE = 5
# Certificates per step: read, removed in one batch, then a checkpoint. page_size may only
# lower it: a step runs on the event loop between requests, so it must stay short.
STEP = 100
# After each step (without pause_duration) the job rests this long: the store's writer and
# the disk are shared with every request, and removing certificates dirties pages all over
# the store. Resting leaves gaps in which the store catches up (SQLite copies its log into
# the database between commits); at full speed requests queued behind that work, and
# issuance's p99 during a tidy was 6-8x its usual. It holds tidy under 2,000 certificates
# a second (about 1,200 measured, with revocations, at 1,000,000 stored).
REST_S = 0.05
# Progress (counts, message, alive_until) is written at most this often; every checkpoint
# still reads the status, to see a cancel from any worker. Writes are commits: fewer is kinder
# to the issuance going on meanwhile.
PROGRESS_EVERY_S = 1.0
STOPPED = "tidy stopped before it finished: the server process running it was sealed, stopped or died"


@dataclass(frozen=True, slots=True)
class TidyParams:
    tidy_cert_store: bool = False
    tidy_revoked_certs: bool = False
    tidy_expired_issuers: bool = False
    tidy_revoked_cert_issuer_associations: bool = False
    safety_buffer: int = 72 * 3600
    revoked_safety_buffer: int = 0
    issuer_safety_buffer: int = 8760 * 3600
    pause_duration: float = 0.0
    page_size: int = DEFAULT_PAGE

    @property
    def anything(self) -> bool:
        return self.tidy_cert_store or self.tidy_revoked_certs or self.tidy_expired_issuers


@dataclass(frozen=True, slots=True)
class TidyStatus:
    """One tidy run as ``tidy-status`` reports it (stored, so every worker sees it)."""

    state: str = INACTIVE
    params: TidyParams = field(default_factory=TidyParams)
    run_id: str = ""
    auto: bool = False
    error: str | None = None
    message: str | None = None
    time_started: float = 0.0
    time_finished: float = 0.0
    alive_until: float = 0.0
    cert_store_deleted_count: int = 0
    revoked_cert_deleted_count: int = 0
    issuers_deleted_count: int = 0
    missing_issuer_cert_count: int = 0
    last_auto_tidy_finished: float = 0.0

    def active(self, now: float) -> bool:
        return self.state in ACTIVE and now <= self.alive_until

    def effective(self, now: float) -> TidyStatus:
        """What the status means at ``now``: a run nobody renewed has stopped."""
        if self.state in ACTIVE and now > self.alive_until:
            return dataclasses.replace(self, state=ERROR, error=STOPPED, time_finished=self.alive_until)
        return self

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def decode(cls, raw: bytes | None) -> TidyStatus:
        if raw is None:
            return cls()
        data = orjson.loads(raw)
        params = store.decode_entry(TidyParams, data.pop("params", {}))
        return store.decode_entry(cls, {**data, "params": params})

    def view(self, now: float) -> dict[str, Any]:
        """Vault's tidy-status fields (its parameters are null while Inactive)."""
        s = self.effective(now)
        p = s.params
        shown = s.state != INACTIVE
        finished = s.state in (FINISHED, ERROR, CANCELLED)
        params: dict[str, Any] = {**dataclasses.asdict(p), "pause_duration": pause_text(p.pause_duration)}
        return {
            **{k: (v if shown else None) for k, v in params.items()},
            "state": s.state, "error": s.error,
            "time_started": to_rfc3339(s.time_started) if shown and s.time_started else None,
            "time_finished": to_rfc3339(s.time_finished) if finished and s.time_finished else None,
            "message": None if s.state == FINISHED else s.message,
            **{k: (getattr(s, k) if shown else None) for k in (
                "cert_store_deleted_count", "revoked_cert_deleted_count", "issuers_deleted_count",
                "missing_issuer_cert_count")},
            # Vault keeps these counts only with maintain_stored_certificate_counts (off by
            # default); warden does not count the store, so they are null as there.
            "current_cert_store_count": None, "current_revoked_cert_count": None,
            "last_auto_tidy_finished": (to_rfc3339(s.last_auto_tidy_finished)
                                        if s.last_auto_tidy_finished else None),
        }


def pause_text(seconds: float) -> str:
    if seconds == int(seconds):
        return format_duration(int(seconds))
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


class Cancelled(Exception):
    """The run saw a cancel request at a checkpoint."""


async def read_status(storage: Storage) -> TidyStatus:
    return TidyStatus.decode(await storage.get(STATUS_KEY))


async def start(b: PkiBackend, storage: Storage, params: TidyParams, *, auto: bool = False) -> bool:
    """Claim the mount's tidy slot and run tidy in the background; False if one runs."""
    now = b.now()
    run_id = b.new_id()

    async def claim(raw: bytes | None) -> tuple[list[BatchOp], TidyStatus | None]:
        current = TidyStatus.decode(raw)
        if current.active(now):
            return [], None
        status = TidyStatus(state=RUNNING, params=params, run_id=run_id, auto=auto, time_started=now,
                            alive_until=now + params.pause_duration + ALIVE_GRACE_S,
                            last_auto_tidy_finished=current.last_auto_tidy_finished)
        return [Put(STATUS_KEY, status.encode())], status

    status = await atomic_update(storage, STATUS_KEY, claim)
    if status is None:
        return False
    log.info("%s: tidy started (%s)", b.conf.mount_path, "automatic" if auto else "requested")
    b.tidy_job = asyncio.get_running_loop().create_task(_run(b, storage, status))
    return True


async def cancel(b: PkiBackend, storage: Storage) -> TidyStatus | None:
    """Ask the running tidy (in any worker) to stop at its next checkpoint; None if none runs."""
    now = b.now()

    async def mark(raw: bytes | None) -> tuple[list[BatchOp], TidyStatus | None]:
        current = TidyStatus.decode(raw)
        if not current.active(now):
            return [], None
        if current.state == CANCELLING:
            return [], current
        cancelling = dataclasses.replace(current, state=CANCELLING)
        return [Put(STATUS_KEY, cancelling.encode())], cancelling

    return await atomic_update(storage, STATUS_KEY, mark)


async def stop_local(b: PkiBackend) -> None:
    """This process stops (seal, unmount, shutdown): end its job, recording that it stopped."""
    job, b.tidy_job = b.tidy_job, None
    if job is not None and not job.done():
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await job


class _Run:
    """One tidy run's progress, written back at each checkpoint."""

    def __init__(self, b: PkiBackend, storage: Storage, status: TidyStatus) -> None:
        self.b, self.storage, self.status = b, storage, status
        self.params = status.params
        self.page = min(self.params.page_size, STEP)
        self.written = status.time_started

    async def _write(self, change: Callable[[TidyStatus], TidyStatus]) -> TidyStatus:
        """Apply ``change`` to the stored status if it is still this run's."""
        async def decide(raw: bytes | None) -> tuple[list[BatchOp], TidyStatus]:
            stored = TidyStatus.decode(raw)
            if stored.run_id != self.status.run_id:
                return [], stored  # gone (the mount was cleared) or taken over after we stalled
            new = change(dataclasses.replace(self.status, state=stored.state))
            return [Put(STATUS_KEY, new.encode())], new
        stored = await atomic_update(self.storage, STATUS_KEY, decide)
        if stored.run_id == self.status.run_id:
            self.status = stored
        return stored

    async def checkpoint(self, message: str, *, pause: bool = False) -> None:
        """Report progress and stay alive; stop if cancelled. Other requests run meanwhile."""
        if self.params.pause_duration <= 0:
            await self.b.system.clock.sleep(REST_S)
        elif pause:
            await self.b.system.clock.sleep(self.params.pause_duration)
        else:
            await asyncio.sleep(0)  # paced by the pauses between certificates already
        now = self.b.now()
        if pause or now - self.written >= PROGRESS_EVERY_S:
            alive = now + self.params.pause_duration + ALIVE_GRACE_S
            stored = await self._write(lambda s: dataclasses.replace(s, message=message, alive_until=alive))
            self.written = now
        else:
            stored = await read_status(self.storage)
        if stored.run_id != self.status.run_id or stored.state == CANCELLING:
            raise Cancelled()

    def count(self, **deltas: int) -> None:
        self.status = dataclasses.replace(
            self.status, **{k: getattr(self.status, k) + v for k, v in deltas.items()})

    async def cert_store(self, cutoff: float) -> None:
        """Soonest expiry first, a page at a time: what is removed drops out of the next page.
        One batch per page (or per certificate when pausing), so a certificate never loses
        only some of its index entries."""
        checked = 0
        while expired := await certstore.expired_page(self.storage, cutoff, limit=self.page):
            if self.params.pause_duration > 0:
                for entry in expired:
                    checked += 1
                    await self.checkpoint(f"Tidying certificate store: checking entry {checked}", pause=True)
                    await self.storage.batch(certstore.removal_ops(entry))
                    self.count(cert_store_deleted_count=1)
            else:
                await self.storage.batch([op for entry in expired for op in certstore.removal_ops(entry)])
                checked += len(expired)
                self.count(cert_store_deleted_count=len(expired))
                await self.checkpoint(f"Tidying certificate store: checked {checked} entries")

    async def revoked(self, cutoff: float) -> None:
        """Revocations in serial order, a page at a time; those past ``cutoff`` go, with
        their certificate."""
        after, checked = "", 0
        while page := await certstore.revoked_page(self.storage, after=after, limit=self.page):
            after = page[-1].serial_number
            ops: list[BatchOp] = []
            gone = 0
            for entry in page:
                checked += 1
                if self.params.pause_duration > 0:
                    await self.checkpoint(f"Tidying revoked certificates: checking certificate {checked}",
                                          pause=True)
                if entry.not_after >= cutoff:
                    continue
                mine = await self._revocation_removal(entry)
                if self.params.pause_duration > 0:
                    await self.storage.batch(mine)
                    self.count(revoked_cert_deleted_count=1)
                else:
                    ops += mine
                    gone += 1
            if ops:
                for chunk in certstore.chunks(ops):
                    await self.storage.batch(chunk)
                self.count(revoked_cert_deleted_count=gone)
            await self.checkpoint(f"Tidying revoked certificates: checked {checked} certificates")

    async def _revocation_removal(self, entry: certstore.RevokedEntry) -> list[BatchOp]:
        ops: list[BatchOp] = [Delete(certstore.REVOKED_PREFIX + entry.serial_number.replace(":", "-"))]
        record = await certstore.load_record(self.storage, parse_serial(entry.serial_number))
        if record is not None:
            ops += certstore.removal_ops(record.summary())
        return ops

    async def issuers(self, cutoff: float) -> None:
        state = await self.b.ca(self.storage)
        gone = [i for i in state.issuers.values()
                if i.info.not_after < cutoff and i.id != state.default_issuer]
        for issuer in gone:
            log.info("tidy removes expired issuer %s; its certificate was:\n%s", issuer.id, issuer.pem)
        ops: list[BatchOp] = [op for i in gone for op in (Delete(store.ISSUER_PREFIX + i.id),
                                                          Delete(store.CRL_PREFIX + i.id))]
        for chunk in certstore.chunks(ops):
            await self.storage.batch(chunk)
        self.count(issuers_deleted_count=len(gone))


async def _run(b: PkiBackend, storage: Storage, status: TidyStatus) -> None:
    run = _Run(b, storage, status)
    p = run.params
    now = b.now()
    revoked_cutoff = now - (p.revoked_safety_buffer or p.safety_buffer)
    outcome, error = FINISHED, None
    try:
        try:
            phases: list[tuple[bool, Callable[[], Awaitable[None]]]] = [
                (p.tidy_cert_store, lambda: run.cert_store(now - p.safety_buffer)),
                (p.tidy_revoked_certs, lambda: run.revoked(revoked_cutoff)),
                (p.tidy_expired_issuers, lambda: run.issuers(now - p.issuer_safety_buffer)),
            ]
            for wanted, phase in phases:
                if wanted:
                    await phase()
                    await run.checkpoint("Tidying: between phases")
        except Cancelled:
            outcome = CANCELLED
        # A cancelled run too: the CRLs then list exactly the revocations still stored.
        if run.status.revoked_cert_deleted_count or run.status.issuers_deleted_count:
            b.ca_changed()
            await crl.rebuild_all(b, storage)
    except asyncio.CancelledError:
        outcome, error = ERROR, STOPPED
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_finish(b, run, outcome, error), 5.0)
        raise
    except Exception as exc:
        log.exception("%s: tidy failed", b.conf.mount_path)
        outcome, error = ERROR, str(exc) or type(exc).__name__
    await _finish(b, run, outcome, error)


async def _finish(b: PkiBackend, run: _Run, outcome: str, error: str | None) -> None:
    finished = b.now()
    final = await run._write(lambda s: dataclasses.replace(
        s, state=outcome, error=error, time_finished=finished, alive_until=finished,
        last_auto_tidy_finished=finished if s.auto and outcome == FINISHED else s.last_auto_tidy_finished))
    log.info("%s: tidy %s: %d certificates, %d revocations, %d issuers removed", b.conf.mount_path,
             final.state.lower(), final.cert_store_deleted_count, final.revoked_cert_deleted_count,
             final.issuers_deleted_count)
