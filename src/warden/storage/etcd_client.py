"""A small etcd v3 client: gRPC channels to every endpoint, TLS, auth, failover, deadlines.

It speaks etcd's v3 gRPC API with the generated stubs that ``aetcd`` ships (``aetcd.rpc``)
on ``grpc.aio`` channels. aetcd's own ``Client`` is not used: it opens one plaintext
channel to one host, while warden needs TLS with client certificates, several endpoints
and failover between them.

Every call runs against the current endpoint; when that endpoint is unreachable or
answers "no leader", the call moves to the next endpoint, until ``request_timeout`` has
passed in total. Errors come out as ``StorageUnavailable`` (503: no quorum, unreachable,
timed out; retry later) or ``StorageError``; ``Ambiguous`` marks a write whose outcome is
unknown (the connection broke after it was sent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import grpc
from aetcd import rpc  # type: ignore[import-untyped]

from warden.storage.base import StorageError, StorageUnavailable
from warden.storage.etcd_settings import EtcdSettings

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_MESSAGE_BYTES: Final = 256 * 1024 * 1024  # responses of chunked values and listings
_RETRY_PAUSE_S: Final = 0.05
_MIN_ATTEMPT_S: Final = 0.5
# Answers that prove the request was refused before etcd proposed it: safe to send again.
_NOT_APPLIED: Final = ("no leader", "not capable", "too many requests", "failed to connect",
                       "connection refused", "dns resolution failed", "name resolution",
                       "not leader")


class Ambiguous(StorageUnavailable):
    """A write was sent but its answer was lost: it may or may not have been applied."""


@dataclass(slots=True)
class Stubs:
    """The services of one endpoint's channel, with the auth metadata to send."""

    endpoint: str
    channel: grpc.aio.Channel
    kv: Any
    lease: Any
    maintenance: Any
    auth: Any
    metadata: tuple[tuple[str, str], ...] = ()


class EtcdClient:
    """Channels to every endpoint of one etcd cluster; see the module docstring."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self._credentials = _credentials(settings) if settings.tls else None
        self._stubs: list[Stubs | None] = [None] * len(settings.endpoints)
        self._current = 0
        self._auth_lock = asyncio.Lock()
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for i, stubs in enumerate(self._stubs):
            if stubs is not None:
                await stubs.channel.close()
            self._stubs[i] = None

    async def call(self, fn: Callable[[Stubs], Awaitable[_T]], *, idempotent: bool = True,
                   timeout: float | None = None) -> _T:
        """Run ``fn`` against an endpoint, failing over until the deadline.

        ``idempotent=False`` (a checked transaction) is sent again only after an answer
        that proves it was not applied; otherwise a lost answer raises ``Ambiguous``.
        """
        if self._closed:
            raise StorageUnavailable("storage backend is closed")
        total = timeout or self.settings.request_timeout
        deadline = time.monotonic() + total
        # A member that hangs (no leader, partitioned) must not take the whole budget: an
        # idempotent call moves on to the next member after a share of it.
        per_attempt = total if not idempotent else max(_MIN_ATTEMPT_S, total / 3)
        last: grpc.aio.AioRpcError | None = None
        reauthenticated = False
        while True:
            index = self._current
            left = deadline - time.monotonic()
            if left <= 0:
                raise _unavailable(last)
            try:
                stubs = await self._stubs_for(index, left)
                return await asyncio.wait_for(fn(stubs), min(left, per_attempt))
            except TimeoutError:
                if not idempotent:
                    raise Ambiguous("etcd did not answer in time; the write may or may not "
                                    "have been applied") from None
                self._rotate(index)
                continue
            except grpc.aio.AioRpcError as exc:
                last = exc
                if _token_expired(exc) and not reauthenticated:
                    reauthenticated = True
                    await self._forget(index)
                    continue
                if not _retryable(exc):
                    raise _error(exc) from None
                if not idempotent and not _surely_not_applied(exc):
                    raise Ambiguous(f"etcd connection lost during a write ({_detail(exc)}); "
                                    "it may or may not have been applied") from None
                self._rotate(index)
                await asyncio.sleep(min(_RETRY_PAUSE_S, max(0.0, deadline - time.monotonic())))

    def _rotate(self, failed: int) -> None:
        if self._current == failed:
            self._current = (failed + 1) % len(self._stubs)

    async def _forget(self, index: int) -> None:
        stubs = self._stubs[index]
        self._stubs[index] = None
        if stubs is not None:
            await stubs.channel.close()

    async def _stubs_for(self, index: int, timeout: float) -> Stubs:
        stubs = self._stubs[index]
        if stubs is not None:
            return stubs
        async with self._auth_lock:
            stubs = self._stubs[index]
            if stubs is None:
                stubs = await self._connect(self.settings.endpoints[index], timeout)
                self._stubs[index] = stubs
        return stubs

    async def _connect(self, endpoint: str, timeout: float) -> Stubs:
        parts = urlsplit(endpoint)
        target = f"{parts.hostname}:{parts.port}"
        if ":" in str(parts.hostname):
            target = f"[{parts.hostname}]:{parts.port}"
        options = _channel_options(self.settings)
        if self._credentials is not None:
            channel = grpc.aio.secure_channel(target, self._credentials, options=options)
        else:
            channel = grpc.aio.insecure_channel(target, options=options)
        stubs = Stubs(endpoint, channel, rpc.KVStub(channel), rpc.LeaseStub(channel),
                      rpc.MaintenanceStub(channel), rpc.AuthStub(channel))
        if self.settings.username:
            try:
                answer = await stubs.auth.Authenticate(
                    rpc.AuthenticateRequest(name=self.settings.username,
                                            password=self.settings.password), timeout=timeout)
            except BaseException:
                await channel.close()
                raise
            stubs.metadata = (("token", answer.token),)
        return stubs


def _channel_options(settings: EtcdSettings) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1_000),
        ("grpc.enable_retries", 0),
    ]
    if settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return options


def _credentials(settings: EtcdSettings) -> grpc.ChannelCredentials:
    try:
        ca = _read(settings.tls_ca_file) if settings.tls_ca_file else None
        cert = _read(settings.tls_cert_file) if settings.tls_cert_file else None
        key = _read(settings.tls_key_file) if settings.tls_key_file else None
    except OSError as exc:
        raise StorageError(f"etcd: cannot read a TLS file: {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _detail(exc: grpc.aio.AioRpcError) -> str:
    return str(exc.details() or exc.code().name)


def _retryable(exc: grpc.aio.AioRpcError) -> bool:
    code = exc.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED):
        return True
    # etcd 3.4 answers "leader changed"/"no leader" with UNKNOWN or UNAVAILABLE by version.
    return code is grpc.StatusCode.UNKNOWN and "leader" in _detail(exc).lower()


def _surely_not_applied(exc: grpc.aio.AioRpcError) -> bool:
    detail = _detail(exc).lower()
    return any(marker in detail for marker in _NOT_APPLIED)


def _token_expired(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() is grpc.StatusCode.UNAUTHENTICATED and "token" in _detail(exc).lower()


def _unavailable(last: grpc.aio.AioRpcError | None) -> StorageUnavailable:
    why = f": {_detail(last)}" if last is not None else ""
    _log.warning("etcd unavailable%s", why)
    return StorageUnavailable(f"storage is unavailable (etcd has no quorum or cannot be "
                              f"reached{why}); retry later")


def _error(exc: grpc.aio.AioRpcError) -> StorageError:
    detail = _detail(exc)
    code = exc.code()
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and "space" in detail:
        return StorageUnavailable("etcd is out of space (database space exceeded); an operator "
                                  "must compact and defragment it, then disarm the alarm")
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return StorageError(f"etcd refused the request ({detail}): check username, password "
                            "and the role's permissions on the configured path")
    return StorageError(f"etcd request failed: {detail}")

