"""Audit devices: where formatted records go (a file, stdout, or a TCP socket)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from warden.audit.chain import ChainState, resume_from_file
from warden.audit.hashing import Hasher
from warden.audit.record import AuditRecord, FormatOptions, format_record

log = logging.getLogger("warden.audit")


class AuditDeviceError(Exception):
    """A device cannot be configured or cannot write; the message names the option."""


class AuditDevice(Protocol):
    async def log(self, record: AuditRecord) -> None: ...

    async def reopen(self) -> None: ...

    async def close(self) -> None: ...


def _flag(options: Mapping[str, str], name: str, default: bool) -> bool:
    value = str(options.get(name, "")).strip().lower()
    if value == "":
        return default
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise AuditDeviceError(f'option "{name}" must be true or false')


def format_options(options: Mapping[str, str]) -> FormatOptions:
    fmt = str(options.get("format", "json") or "json")
    if fmt != "json":
        raise AuditDeviceError('option "format" must be "json"')
    return FormatOptions(
        log_raw=_flag(options, "log_raw", False),
        hmac_accessor=_flag(options, "hmac_accessor", True),
        elide_list_responses=_flag(options, "elide_list_responses", False),
    )


DIRECTORY_MODE = 0o700  # the log's folder: only the server's user may list or enter it


def _make_directory(directory: str) -> None:
    """Create the log's folder and any missing parents, as Vault's file device does
    (``MkdirAll``), each owner-only; an existing folder is left as it is."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIRECTORY_MODE)
            os.chmod(folder, DIRECTORY_MODE)  # mkdir's mode is masked by the umask
        except FileExistsError:
            if not os.path.isdir(folder):
                raise AuditDeviceError(f'option "file_path": cannot create the directory {folder}: '
                                       "a file of that name is in the way") from None
        except OSError as exc:
            raise AuditDeviceError(f'option "file_path": cannot create the directory {folder}: '
                                   f"{exc.strerror}") from None


class _ChainedDevice:
    """Formats, chains and hands lines to ``_write``; subclasses own the sink."""

    def __init__(self, options: Mapping[str, str], hasher: Hasher) -> None:
        self._opts = format_options(options)
        self._prefix = str(options.get("prefix", "")).encode()
        self._hasher = hasher
        self._chain = ChainState()
        self._lock = asyncio.Lock()

    async def log(self, record: AuditRecord) -> None:
        entry = format_record(record, self._hasher, self._opts)
        async with self._lock:
            state = ChainState(self._chain.seq, self._chain.prev_hash)
            line = state.seal(entry)
            await self._write(self._prefix + line + b"\n")
            self._chain = state  # advance only once the line is out

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError


class FileDevice(_ChainedDevice):
    """Appends to a file (or stdout). Lines logged in the same event-loop tick go out in
    one write; every caller resumes only once its line has been written.

    Several processes may append to one file (the workers of a server): each write holds
    an exclusive ``flock`` on the file and continues the chain from its last line when
    another process wrote since, so the file stays one chain.

    A write that fails (a full disk) is undone: the file is cut back to its size before
    the write, so it only ever holds whole lines and the chain verifies once space returns.
    """

    def __init__(self, options: Mapping[str, str], hasher: Hasher) -> None:
        super().__init__(options, hasher)
        self._batch: list[dict[str, object]] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._path = str(options.get("file_path") or options.get("path") or "")
        if not self._path:
            raise AuditDeviceError('option "file_path" is required for a file audit device')
        self._mode = _mode(str(options.get("mode", "0600")))
        self._fd: int | None = None
        self._end = -1  # the file's size after this process's last write
        self._open()

    def _open(self) -> None:
        if self._path in ("stdout", "discard"):
            return
        _make_directory(os.path.dirname(os.path.abspath(self._path)))
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self._mode or 0o600)
            if self._mode:
                os.fchmod(fd, self._mode)
        except OSError as exc:
            raise AuditDeviceError(f'option "file_path": cannot open the file: {exc.strerror}'
                                   ) from None
        self._fd = fd
        with _locked(fd):
            _drop_torn_tail(fd, self._path)
            self._resume()

    def _resume(self) -> None:
        """Continue the chain from the file's last line (another process may have written)."""
        assert self._fd is not None
        self._chain = resume_from_file(self._path, prefix=self._prefix)
        self._end = os.lseek(self._fd, 0, os.SEEK_END)

    async def log(self, record: AuditRecord) -> None:
        entry = format_record(record, self._hasher, self._opts)
        if self._batch_done is None:
            loop = asyncio.get_running_loop()
            self._batch_done = loop.create_future()
            loop.call_soon(self._flush)
        done = self._batch_done
        self._batch.append(entry)
        await done

    def _flush(self) -> None:
        entries, done = self._batch, self._batch_done
        self._batch, self._batch_done = [], None
        assert done is not None
        try:
            self._append(entries)
        except Exception as exc:
            done.set_exception(AuditDeviceError(f"audit file write failed: {exc}"))
            done.exception()  # each waiter re-raises it; never "never retrieved"
            return
        done.set_result(None)

    def _append(self, entries: list[dict[str, object]]) -> None:
        """Chain the lines and write them, all under the file's lock."""
        if self._fd is None:
            if self._path not in ("stdout", "discard"):
                raise AuditDeviceError("audit file is closed")
            self._write_now(self._seal_all(entries))
            return
        with _locked(self._fd):
            end = os.lseek(self._fd, 0, os.SEEK_END)
            if end != self._end:
                self._resume()
            start = ChainState(self._chain.seq, self._chain.prev_hash)
            data = self._seal_all(entries)
            try:
                self._write_at_end(data, end)
            except Exception:
                self._chain = start  # none of these lines is known to be out
                raise
            self._end = end + len(data)

    def _seal_all(self, entries: list[dict[str, object]]) -> bytes:
        return b"".join(self._prefix + self._chain.seal(entry) + b"\n" for entry in entries)

    async def _write(self, data: bytes) -> None:
        self._write_now(data)

    def _write_now(self, data: bytes) -> None:
        if self._path == "discard":
            return
        if self._path == "stdout":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        if self._fd is None:
            raise AuditDeviceError("audit file is closed")
        self._write_at_end(data, os.lseek(self._fd, 0, os.SEEK_END))

    def _write_at_end(self, data: bytes, end: int) -> None:
        """Append ``data`` to a file of ``end`` bytes, or leave it at ``end`` bytes."""
        assert self._fd is not None
        try:
            _write_all(self._fd, data)
        except OSError:
            os.ftruncate(self._fd, end)  # shrinking needs no space; if it fails, say so
            raise

    async def reopen(self) -> None:
        if self._batch_done is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._batch_done)
        await self.close()
        self._open()

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class SocketDevice(_ChainedDevice):
    """Newline-delimited JSON over TCP; reconnects on the next record after a failure."""

    def __init__(self, options: Mapping[str, str], hasher: Hasher) -> None:
        super().__init__(options, hasher)
        address = str(options.get("address", ""))
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise AuditDeviceError('option "address" must be host:port')
        if str(options.get("socket_type", "tcp")) != "tcp":
            raise AuditDeviceError('option "socket_type": only "tcp" is supported')
        self._host, self._port = host.strip("[]"), int(port)
        self._timeout = float(str(options.get("write_timeout", "2s")).rstrip("s") or 2)
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port), self._timeout)
        self._writer = writer
        return writer

    async def _write(self, data: bytes) -> None:
        try:
            writer = self._writer or await self._connect()
            writer.write(data)
            await asyncio.wait_for(writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise AuditDeviceError(f"audit socket {self._host}:{self._port}: {exc}") from None

    async def reopen(self) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _drop_torn_tail(fd: int, path: str) -> None:
    """Cut a partial last line (a write torn by a crash) so new lines start on their own."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return
    with open(path, "rb") as fh:
        start = size
        while start > 0:
            step = min(start, 1 << 16)
            fh.seek(start - step)
            block = fh.read(step)
            if start == size and block.endswith(b"\n"):
                return
            newline = block.rfind(b"\n")
            if newline >= 0:
                start = start - step + newline + 1
                break
            start -= step
    log.warning("audit file %s ended in a torn line; dropping its %d bytes", path, size - start)
    os.ftruncate(fd, start)


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise AuditDeviceError('option "mode" must be an octal file mode such as "0600"') from None
    return mode & 0o666  # never executable


DeviceFactory = Callable[[Mapping[str, str], Hasher], AuditDevice]
DEVICE_TYPES: Mapping[str, DeviceFactory] = {"file": FileDevice, "socket": SocketDevice}


def open_device(kind: str, options: Mapping[str, str], hasher: Hasher) -> AuditDevice:
    factory = DEVICE_TYPES.get(kind)
    if factory is None:
        raise AuditDeviceError(f'unknown audit device type "{kind}": use "file" or "socket"')
    return factory(options, hasher)
