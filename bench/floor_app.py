"""The floor: warden's guarantees done the plainest way in Python, as a server of its own.

What a 200 from warden promises, and nothing else: the token is checked (constant-time), the
request and the response are each written to an audit file as one JSON line with their secrets
HMAC'd and the line chained to the one before by SHA-256, the certificate and its index entries
(by expiry, by issue time, by role, by each name) are encrypted with AES-GCM and committed to
SQLite, and only then is the answer sent. The commit is warden's own group commit
(``warden.storage.sqlite_commit``: WAL, ``synchronous = FULL``, checkpoints in a thread), run
on a thread of this process, with every request that arrived while the last commit ran in the
next. The crypto is ``bench.limit``'s, HTTP is uvicorn on uvloop and httptools, JSON is
orjson: what warden itself runs on. A request it cannot serve gets a 400 in Vault's
``{"errors": [...]}`` shape, audited, with nothing stored.

It has none of warden's pipeline (no router, policies, mounts, roles, leases, metrics, no
storage process), so its CPU per certificate is a floor under any Python server that keeps
those promises: ``floor/cfssl`` in the bench's table is the least the per-core goal can reach,
and ``warden/floor`` is what warden's own code costs on top.

``python -m bench.floor_app WORKDIR ALGO BITS PORT TOKEN``; ``WORKDIR/ca.pem`` is the root.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from bench.items import CertRequest
from bench.keys import KeyType
from bench.limit import Issuer, generate_key, make_ca
from bench.warden_server import MOUNT, ROLE
from warden.logical.storage import Put
from warden.storage.sqlite_commit import Committer, Outcome, Write, open_checkpointer, open_writer

MAX_GROUP = 256
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Store:
    """Durable group commit: a thread commits every write queued since its last commit, in
    one transaction, and wakes the waiting requests once it is on disk."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._queue: queue.SimpleQueue[tuple[Write, asyncio.Future[None]] | None] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="floor-writer", daemon=True)
        self._thread.start()

    async def put(self, rows: list[tuple[str, bytes]]) -> None:
        done: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((Write(tuple(Put(key, value) for key, value in rows)), done))
        await done

    def _run(self) -> None:
        committer = Committer(open_writer(self._path), open_checkpointer(self._path))
        while (first := self._queue.get()) is not None:
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
            outcomes = committer.commit([write for write, _ in group])
            self._loop.call_soon_threadsafe(_resolve, [(done, outcome) for (_, done), outcome
                                                       in zip(group, outcomes, strict=True)])
            committer.tend()
        committer.close()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def _resolve(waiting: list[tuple[asyncio.Future[None], Outcome]]) -> None:
    for done, outcome in waiting:
        if done.done():
            continue
        if outcome is True:
            done.set_result(None)
        else:
            done.set_exception(outcome if isinstance(outcome, BaseException) else RuntimeError("not stored"))


class Audit:
    """One JSON line per record, secrets HMAC'd, each line carrying the hash of the last."""

    def __init__(self, path: Path, hmac_key: bytes) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._key = hmac_key
        self._last = "0" * 64

    def hmac(self, value: str) -> str:
        return "hmac-sha256:" + hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def log(self, entry: dict[str, Any]) -> None:
        entry["prev_hash"] = self._last
        line = orjson.dumps(entry)
        self._last = hashlib.sha256(line).hexdigest()
        os.write(self._fd, line + b"\n")


class Floor:
    def __init__(self, workdir: Path, key: KeyType, token: str) -> None:
        ca_key, ca_cert = make_ca(key)
        self.ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        (workdir / "ca.pem").write_text(self.ca_pem)
        self.workdir = workdir
        self.key = key
        self.issuer = Issuer(ca_key, ca_cert)
        self.token_hash = hashlib.sha256(token.encode()).digest()
        self.allowed = {f"{MOUNT}/{op}/{ROLE}": op for op in ("issue", "sign")}
        self.barrier = AESGCM(AESGCM.generate_key(bit_length=256))
        self.audit = Audit(workdir / "audit.log", os.urandom(32))
        self.store: Store | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = await self.handle(scope, body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.store = Store(self.workdir / "floor.db")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.store is not None:
                    self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, bytes]:
        token = next((v for k, v in scope["headers"] if k == b"x-vault-token"), b"")
        path = scope["path"].removeprefix("/v1/")
        operation = self.allowed.get(path)
        if not hmac.compare_digest(hashlib.sha256(token).digest(), self.token_hash) or not operation:
            return 403, _errors("permission denied")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, _errors("the request body is not JSON")
        if not isinstance(data, dict):
            return 400, _errors("the request body is not a JSON object")
        request_id = str(uuid.uuid4())
        auth = {"client_token": self.audit.hmac(token.decode()), "policies": [ROLE]}
        request = {"id": request_id, "operation": "update", "path": path}
        hashed = {k: self.audit.hmac(str(v)) for k, v in data.items()}
        self.audit.log({"type": "request", "time": time.time(), "auth": auth,
                        "request": {**request, "data": hashed}})
        try:
            answer, names = self.certificate(operation, data)
        except ValueError as exc:
            self.audit.log({"type": "response", "time": time.time(), "auth": auth, "request": request,
                            "error": str(exc)})
            return 400, _errors(str(exc))
        await self.keep(answer, names)
        self.audit.log({"type": "response", "time": time.time(), "auth": auth, "request": request,
                        "response": {"data": {k: self.audit.hmac(str(v)) for k, v in answer.items()}}})
        return 200, orjson.dumps({"request_id": request_id, "lease_id": "", "renewable": False,
                                  "lease_duration": 0, "data": answer, "wrap_info": None,
                                  "warnings": None, "auth": None})

    def certificate(self, operation: str, data: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The answer's data, and the names the certificate is indexed under; ValueError
        names what is wrong with the request."""
        key_pem = ""
        if operation == "sign":
            asked, public_key = _csr_request(_text(data, "csr"))
        else:
            cn = _text(data, "common_name")
            extra = [n for n in str(data.get("alt_names", "")).split(",") if n]
            asked = CertRequest(cn, (cn, *extra))
            private = generate_key(self.key)
            public_key = private.public_key()
            key_pem = private.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()).decode()
        cert = self.issuer.certificate(asked, public_key)
        answer = {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
                  "issuing_ca": self.ca_pem, "ca_chain": [self.ca_pem],
                  "serial_number": f"{cert.serial_number:x}",
                  "expiration": int(cert.not_valid_after_utc.timestamp())}
        if key_pem:
            answer |= {"private_key": key_pem, "private_key_type": self.key.algo}
        return answer, asked.dns_names

    async def keep(self, answer: dict[str, Any], names: tuple[str, ...]) -> None:
        """The certificate and its index entries, encrypted, durably stored."""
        serial, expiry = answer["serial_number"], f"{answer['expiration']:012d}"
        issued = f"{int(time.time()):012d}"
        record = orjson.dumps({"serial_number": serial, "certificate": answer["certificate"],
                               "not_after": answer["expiration"], "role": ROLE, "names": names})
        keys = [f"certs/{serial}", f"index/expiry/{expiry}-{serial}", f"index/issued/{issued}-{serial}",
                f"index/role/{ROLE}/{expiry}-{serial}",
                *(f"index/name/{name}/{expiry}-{serial}" for name in names)]
        values = [record] + [b""] * (len(keys) - 1)
        assert self.store is not None
        await self.store.put([(k, self._seal(k, v)) for k, v in zip(keys, values, strict=True)])

    def _seal(self, key: str, value: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.barrier.encrypt(nonce, value, key.encode())


def _errors(*messages: str) -> bytes:
    return orjson.dumps({"errors": list(messages)})


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing or not a string")
    return value


def _csr_request(pem: str) -> tuple[CertRequest, Any]:
    """The names a CSR asks for and its key; ValueError if it is unreadable, unsigned or nameless."""
    csr = x509.load_pem_x509_csr(pem.encode())  # ValueError when it is not a CSR
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature does not verify")
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValueError("the CSR has no subjectAltName") from None
    if not cns:
        raise ValueError("the CSR has no common name")
    return CertRequest(str(cns[0].value), tuple(san.get_values_for_type(x509.DNSName))), csr.public_key()


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: python -m bench.floor_app WORKDIR ALGO BITS PORT TOKEN", file=sys.stderr)
        return 2
    workdir, algo, bits, port, token = Path(argv[0]), argv[1], int(argv[2]), int(argv[3]), argv[4]
    key = KeyType(algo, bits)
    app = Floor(workdir, key, token)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                            lifespan="on", log_level="warning", access_log=False)
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
