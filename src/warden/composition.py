"""The composition root: the one module that wires storage, core, backends and HTTP."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import functools
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, cast

import uvicorn

from warden import __version__
from warden.auth import approle, aws, kubernetes
from warden.auth.token import factory as token_factory
from warden.cli.flags import parse as parse_flags
from warden.core.core import Core, CoreConfig, WorkerSet
from warden.core.ha import HAConfig
from warden.core.registry import Registry
from warden.core.shared import SharedMemory
from warden.engines.kv import factory as kv_factory
from warden.engines.pki import KEYPOOL_SERVICE, KeyPool
from warden.engines.pki import factory as pki_factory
from warden.logical.errors import WardenError
from warden.logical.randomness import BufferedRandom
from warden.outbound.kube import HttpTokenReviewer
from warden.server.app import AppConfig, WardenApp
from warden.server.config import (
    MAX_WORKERS,
    ConfigError,
    ListenerConfig,
    ServerConfig,
    check_workers,
    load_config,
)
from warden.server.forwarding import first_certificate
from warden.server.protocol import VaultHttpToolsProtocol
from warden.server.storage_config import etcd_config
from warden.server.supervisor import fork_workers, supervise
from warden.storage.base import HABackend, PhysicalBackend
from warden.storage.memory import MemoryBackend
from warden.storage.sqlite import SQLiteBackend, prepare_store
from warden.storage.sqlite_writer import WriterProcess

log = logging.getLogger("warden")
SHUTDOWN_GRACE_S = 10  # seconds; requests still running then are cut off
WRITER_EXIT_S = 30.0
LISTEN_BACKLOG = 2048  # uvicorn's


def build_registry() -> Registry:
    return Registry(
        secrets={"kv": kv_factory, "pki": pki_factory},
        auth={"token": token_factory, "approle": approle.factory,
              "kubernetes": kubernetes.factory, "aws": aws.factory},
        services={kubernetes.SERVICE_NAME: HttpTokenReviewer(), KEYPOOL_SERVICE: KeyPool()},
    )


def open_physical(config: ServerConfig) -> PhysicalBackend:
    return open_storage(config.storage_type, config.storage)


def open_storage(kind: str, body: Mapping[str, Any]) -> PhysicalBackend:
    """The physical backend a (validated) storage block describes."""
    if kind == "inmem":
        return MemoryBackend()
    if kind == "etcd":
        # gRPC's own C-core log lines (one per failed TLS handshake) would flood stderr; its
        # errors reach warden's log as exceptions anyway.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        from warden.storage.etcd import EtcdBackend  # gRPC is loaded only for etcd

        etcd = etcd_config(body)
        return EtcdBackend(etcd.settings, etcd.options)
    return SQLiteBackend(str(body["path"]))


def open_server_storage(config: ServerConfig, clients: int = 1
                        ) -> tuple[WriterProcess | None, list[Callable[[], PhysicalBackend]]]:
    """What a server's processes open: SQLite's writer process (one for all of them) and,
    per process, how to open its backend. Other stores: each process opens its own."""
    if config.storage_type != "sqlite":
        return None, [functools.partial(open_physical, config) for _ in range(clients)]
    path = str(config.storage["path"])
    read_only = prepare_store(path)
    if read_only:
        return None, [functools.partial(SQLiteBackend, path, read_only_reason=read_only)
                      for _ in range(clients)]
    writer, sockets = WriterProcess.start(path, clients)
    return writer, [functools.partial(SQLiteBackend, path, writer=s) for s in sockets]


def build_core(config: ServerConfig, physical: PhysicalBackend,
               workers: WorkerSet | None = None) -> Core:
    ha = cast(HABackend, physical) if config.ha_enabled and hasattr(physical, "lock_with") else None
    return Core(
        physical,
        build_registry(),
        randbytes=BufferedRandom(),
        config=CoreConfig(
            default_lease_ttl=config.default_lease_ttl,
            max_lease_ttl=config.max_lease_ttl,
            storage_type=config.storage_type,
            cluster_name=config.cluster_name,
        ),
        ha_backend=ha,
        ha_config=_ha_config(config) if ha is not None else None,
        workers=workers or WorkerSet(),
    )


def _ha_config(config: ServerConfig) -> HAConfig:
    certificate = ""
    tls = next((lst for lst in config.listeners if not lst.tls_disable), None)
    if tls is not None:
        with open(tls.tls_cert_file, encoding="ascii") as fh:
            certificate = first_certificate(fh.read())
    return HAConfig(api_addr=config.api_addr, cluster_addr=config.cluster_addr,
                    forwarding=not config.disable_clustering, tls_certificate=certificate)


@dataclass(frozen=True, slots=True)
class DevOptions:
    root_token_id: str = ""
    listen_address: str = "127.0.0.1:8200"
    storage_path: str = ""
    kv_v1: bool = False  # Vault's -dev-kv-v1: secret/ is kv version 1 (seed 000's `write secret/...`)


async def dev_bootstrap(core: Core, dev: DevOptions, key_file: str) -> tuple[str, str]:
    """Initialise, unseal and prepare a dev server; returns (unseal key hex, root token)."""
    if await core.initialized():
        with open(key_file, encoding="ascii") as fh:
            key = fh.read().strip()
        await core.unseal(bytes.fromhex(key))
        root = dev.root_token_id
        if root and await core.tokens.lookup(root) is None:
            await core.create_root_token(root)
        return key, root or "(unchanged: the root token of the first run)"
    result = await core.initialize(1, 1)
    key = result.keys[0].hex()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    await core.unseal(result.keys[0])
    root = result.root_token
    if dev.root_token_id:
        await core.tokens.revoke_token(root)
        root, _ = await core.create_root_token(dev.root_token_id)
    if "kv" in core.registry.secrets:
        await core.mounts.enable("secrets", "secret", "kv", options={"version": "1" if dev.kv_v1 else "2"},
                                description="key/value secret storage")
    return key, root


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the composition root owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # An idle keep-alive TLS connection would be closed gracefully: close_notify, then
        # a wait for the peer's, which a client that is not reading (a pooled connection)
        # never sends. Idle connections have nothing left to say: drop them at once.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets)


class ListenError(OSError):
    """A listener's address cannot be bound; the message names it, as Vault's does."""


def _bind(listener: ListenerConfig) -> socket.socket:
    host, port = listener.host_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = (exc.strerror or str(exc)).lower()
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (another server is listening there: stop it or choose another address)"
        raise ListenError(exc.errno, f"cannot listen on {shown}: {reason}{hint}") from None
    sock.set_inheritable(True)
    # Listening from here on: connections queue even before (each) worker serves.
    sock.listen(LISTEN_BACKLOG)
    return sock


def _uvicorn_config(app: WardenApp, listener: ListenerConfig) -> uvicorn.Config:
    import ssl

    tls = not listener.tls_disable
    client_ca = listener.tls_client_ca_file if tls else ""
    return uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", loop="none",
        http=VaultHttpToolsProtocol, server_header=False, date_header=False, timeout_keep_alive=30,
        # Never believe X-Forwarded-For/-Proto here: the app decides whom to trust, per
        # the listener's x_forwarded_for_* settings (server/forwarded.py).
        proxy_headers=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        ssl_certfile=listener.tls_cert_file if tls else None,
        ssl_keyfile=listener.tls_key_file if tls else None,
        ssl_ca_certs=client_ca or None,
        ssl_cert_reqs=(ssl.CERT_NONE if not client_ca else ssl.CERT_REQUIRED
                       if listener.tls_require_and_verify_client_cert else ssl.CERT_OPTIONAL),
    )


def _address(listener: ListenerConfig, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{listener.scheme}://{host}:{port}"


async def serve(config: ServerConfig, dev: DevOptions | None, out: TextIO) -> None:
    """A server of one process (``workers = 1``; see ``serve_workers`` for more)."""
    tempdir = ""
    if dev is not None and not dev.storage_path:
        tempdir = tempfile.mkdtemp(prefix="warden-dev-")
        config = _with_storage(config, os.path.join(tempdir, "warden.db"))
    writer, openers = open_server_storage(config)
    physical = openers[0]()
    core = build_core(config, physical)
    sockets = [_bind(listener) for listener in config.listeners]
    try:
        print(_banner(config, sockets, core, physical), file=out)
        if dev is not None:
            key_file = str(config.storage["path"]) + ".devkey"
            key, root = await dev_bootstrap(core, dev, key_file)
            print(_dev_notice(_address(config.listeners[0], sockets[0]), key, root), file=out)
        print(STARTED, file=out, flush=True)
        await _listen(core, config, sockets)
    finally:
        await core.shutdown()
        await physical.close()
        if writer is not None:
            await asyncio.to_thread(_await_writer, writer)
        for s in sockets:
            s.close()
        if tempdir:
            shutil.rmtree(tempdir, ignore_errors=True)


STARTED = "==> warden server started! Log data will stream in below:\n"


async def _listen(core: Core, config: ServerConfig, sockets: list[socket.socket]) -> None:
    """Serve every listener until SIGTERM or SIGINT; SIGHUP reopens the audit files."""
    apps = [WardenApp(core, AppConfig(lst.max_request_size, lst.unauthenticated_metrics_access,
                                      lst.max_json_depth, lst.forwarded, ui=config.ui))
            for lst in config.listeners]
    servers = [_Server(_uvicorn_config(app, lst))
               for app, lst in zip(apps, config.listeners, strict=True)]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _request_exit, servers, apps)
    reopening: set[asyncio.Task[None]] = set()

    def reopen_audit() -> None:
        # SIGHUP: reopen audit files so log rotation works, as Vault does.
        task = loop.create_task(core.audit.reopen())
        reopening.add(task)
        task.add_done_callback(reopening.discard)

    loop.add_signal_handler(signal.SIGHUP, reopen_audit)
    # What was built to get here (modules, the core, its registry) lives as long as the
    # process: kept out of the collector's full passes, which would otherwise walk it
    # whenever enough young objects survive (as a tidy's pages do), for 20-50 ms with the
    # event loop stopped. Objects still die when their last reference goes; only cycles
    # among them (a mount torn down at seal, say) are no longer found, so garbage goes first.
    gc.collect()
    gc.freeze()
    try:
        await asyncio.gather(*(srv.serve(sockets=[s]) for srv, s in zip(servers, sockets, strict=True)))
    finally:
        for app in apps:
            await app.aclose()


def _banner(config: ServerConfig, sockets: list[socket.socket], core: Core | None,
            physical: PhysicalBackend | None) -> str:
    lines = [f"           Api Address: {_address(lst, s)}"
             for lst, s in zip(config.listeners, sockets, strict=True)]
    lines.append(f"               Storage: {config.storage_type}"
                 + (f" ({config.storage.get('path')})" if config.storage.get("path") else "")
                 + (" (HA available)" if core is not None and core.ha is not None else ""))
    read_only = getattr(physical, "read_only_reason", "")
    if read_only:
        lines.append(f"             Read-only: yes: {read_only}; reads are served, writes "
                     "refused until space is freed and the server restarted")
    if core is not None and core.ha is not None:
        lines.append(f"   Advertised Api Addr: {config.api_addr}")
        if config.cluster_addr:
            lines.append(f"       Cluster Address: {config.cluster_addr}")
    if config.workers > 1:
        lines.append(f"               Workers: {config.workers} processes")
    lines.append(f"               Version: warden v{__version__}")
    if config.ui:
        lines.append(f"                    UI: {_address(config.listeners[0], sockets[0])}/ui/")
    return "==> warden server configuration:\n\n" + "\n".join(lines) + "\n"


def serve_workers(config: ServerConfig, out: TextIO) -> int:
    """A server of ``config.workers`` processes (server/supervisor.py), run from a process
    with no thread or event loop yet: everything they share is made before they fork."""
    sockets = [_bind(listener) for listener in config.listeners]
    writer, openers = open_server_storage(config, config.workers)
    memory = SharedMemory.create()
    print(_banner(config, sockets, None, None), file=out)
    print(STARTED, file=out, flush=True)

    def run(index: int) -> int:
        memory.after_fork()
        _close_others(openers, index)
        return _run_loop(_serve_worker(config, WorkerSet(index, config.workers, memory),
                                       sockets, openers[index]))

    workers = fork_workers(config.workers, run)
    _close_others(openers, -1)  # the workers hold the writer's sockets now
    status = supervise(workers, alive=lambda: writer is None or writer.poll() is None)
    if writer is not None:
        _await_writer(writer)
    for s in sockets:
        s.close()
    return status


def _close_others(openers: list[Callable[[], PhysicalBackend]], keep: int) -> None:
    """Close the writer-process sockets meant for other workers (``keep``: this one's)."""
    for index, opener in enumerate(openers):
        sock = getattr(opener, "keywords", {}).get("writer")
        if index != keep and isinstance(sock, socket.socket):
            sock.close()


async def _serve_worker(config: ServerConfig, workers: WorkerSet, sockets: list[socket.socket],
                        opener: Callable[[], PhysicalBackend]) -> None:
    physical = opener()
    core = build_core(config, physical, workers)
    core.start()
    try:
        await core.join()  # unsealed already, if another worker was unsealed before this one started
        await _listen(core, config, sockets)
    finally:
        await core.shutdown()
        await physical.close()


def _run_loop(main: Coroutine[Any, Any, None]) -> int:
    try:
        import uvloop

        uvloop.run(main)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)
    return 0


def _await_writer(writer: WriterProcess) -> None:
    """The writer process exits once the store's last client closed its socket."""
    try:
        writer.wait(WRITER_EXIT_S)
    except subprocess.TimeoutExpired:
        log.error("the storage writer process did not exit; killing it")
        writer.kill()


def _request_exit(servers: list[_Server], apps: list[WardenApp]) -> None:
    busy = [r for app in apps for r in app.in_flight()]
    if busy:
        log.info("shutting down; waiting for %d requests in flight: %s", len(busy),
                 ", ".join(busy[:10]))
    for srv in servers:
        srv.should_exit = True


def _with_storage(config: ServerConfig, path: str) -> ServerConfig:
    from dataclasses import replace

    return replace(config, storage_type="sqlite", storage={"path": path})


def _dev_notice(address: str, key: str, root: str) -> str:
    return (
        "WARNING! dev mode is enabled! In this mode, warden runs unsealed with a\n"
        "throwaway store and a known root token. Do not run dev mode in production.\n\n"
        "You may need to set the following environment variables:\n\n"
        f"    $ export WARDEN_ADDR='{address}'\n    $ export VAULT_ADDR='{address}'\n\n"
        f"Unseal Key: {key}\nRoot Token: {root}\n"
    )


def _server_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="warden server",
        description="Start a warden server. With -dev: an unsealed, in-memory-style server "
        "for trying things out. Otherwise: a server configured by -config FILE (HCL or YAML).",
    )
    p.add_argument("--config", action="append", default=[], metavar="FILE",
                   help="Configuration file (HCL, YAML or JSON). Required unless -dev.")
    p.add_argument("--dev", action="store_true", help="Start an unsealed dev server.")
    p.add_argument("--dev-root-token-id", default="", metavar="ID",
                   help="The dev server's root token (default: random).")
    p.add_argument("--dev-listen-address", default="127.0.0.1:8200", metavar="ADDR",
                   help="host:port of the dev listener (port 0 picks a free port).")
    p.add_argument("--dev-storage-path", default="", metavar="FILE",
                   help="Keep the dev server's SQLite store here instead of a throwaway one.")
    p.add_argument("--dev-kv-v1", action="store_true",
                   help="Mount kv version 1 at secret/ instead of version 2 (as Vault's -dev-kv-v1), "
                        "so 'warden write secret/...' works as in older Vault scripts.")
    p.add_argument("--log-level", default="", metavar="LEVEL",
                   help="trace, debug, info, warn or error (default: info).")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Processes serving the listeners (overrides the config's workers; "
                        "default 1). They share the store, the seal and the audit chain.")
    return p


def run_server(argv: list[str]) -> int:
    args = parse_flags(_server_parser(), argv)
    try:
        config = _config_from_args(args)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    level = (args.log_level or config.log_level).upper().replace("WARN", "WARNING")
    logging.basicConfig(
        level=getattr(logging, level.replace("TRACE", "DEBUG"), logging.INFO), stream=sys.stderr,
        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded request
    dev = (DevOptions(args.dev_root_token_id, args.dev_listen_address, args.dev_storage_path,
                      kv_v1=args.dev_kv_v1) if args.dev else None)
    try:
        if config.workers > 1:
            return serve_workers(config, sys.stdout)
        return _run_loop(serve(config, dev, sys.stdout))
    except OSError as exc:
        print(f"Error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except WardenError as exc:  # e.g. a store that cannot be opened: one line, no traceback
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


def _config_from_args(args: argparse.Namespace) -> ServerConfig:
    config = _configured(args)
    if args.workers is not None:
        if args.dev and args.workers > 1:
            raise ConfigError("-dev runs one process: -workers applies to a server started with "
                              "-config")
        config = dataclasses.replace(config, workers=_checked_workers(args.workers))
        check_workers(config)
    return config


def _checked_workers(count: int) -> int:
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"-workers must be from 1 to {MAX_WORKERS} (got {count})")
    return count


def _configured(args: argparse.Namespace) -> ServerConfig:
    if args.dev:
        storage = {"path": args.dev_storage_path} if args.dev_storage_path else {}
        listener = ListenerConfig(address=args.dev_listen_address, tls_disable=True)
        listener.host_port  # noqa: B018 - a bad -dev-listen-address is refused before anything starts
        return ServerConfig(storage_type="sqlite", storage=storage, listeners=(listener,), ui=True)
    if not args.config:
        raise ConfigError("a configuration file is required: warden server -config=FILE "
                          "(or -dev for a dev server)")
    if len(args.config) > 1:
        raise ConfigError("only one -config file is supported")
    return load_config(args.config[0])
