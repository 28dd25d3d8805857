"""A small HTTPS stand-in for the Kubernetes API server, for tests.

It mints service-account JWTs the way a real cluster does (RS256 or ES256, with the
claims of a projected token) and answers ``POST /apis/authentication.k8s.io/v1/tokenreviews``
as documented: the caller's bearer token must be the configured reviewer token or a
valid service-account token (self-review, as with ``system:auth-delegator``), else 401;
the reviewed token comes back ``authenticated`` with its user, or with ``status.error``.

    with FakeKubeAPI() as kube:
        jwt = kube.mint("default", "app", audience="vault")
        ...  # configure warden with kube.url, kube.ca_pem, kube.reviewer_token

Routes live in one table (``_routes``) so more of the API (the CSR API) can be added.
``mint`` and the keys work without starting the server (for local verification).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)

Route = Callable[["FakeKubeAPI", dict[str, Any], str], tuple[int, dict[str, Any]]]


@dataclass
class ReviewCall:
    """One TokenReview the stand-in received (for assertions)."""

    bearer_was_reviewer: bool
    audiences: list[str]
    status: int


@dataclass
class FakeKubeAPI:
    issuer: str = DEFAULT_ISSUER
    api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES
    key_type: str = "rsa"
    reviewer_token: str = field(default_factory=lambda: "reviewer-" + secrets.token_urlsafe(24))
    calls: list[ReviewCall] = field(default_factory=list)
    deleted: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self._server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._key: Any = (rsa.generate_private_key(65537, 2048) if self.key_type == "rsa"
                          else ec.generate_private_key(ec.SECP256R1()))
        self._alg = "RS256" if self.key_type == "rsa" else "ES256"
        self._uids: dict[tuple[str, str], str] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    # -- what a test configures warden with -------------------------------------

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode()

    @property
    def public_key_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def signer_cert_pem(self) -> str:
        """The signing key in a self-signed certificate (hvac accepts only certificates)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "service-account-signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365)).sign(self._key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def uid_of(self, namespace: str, name: str) -> str:
        return self._uids.setdefault((namespace, name), str(uuid.uuid4()))

    def mint(self, namespace: str, name: str, *, audience: str | Sequence[str] | None = None,
             ttl: int = 3600, now: float | None = None, pod: str = "pod-0",
             issuer: str | None = None, key: Any = None, **extra: Any) -> str:
        """A projected service-account token for ``namespace/name``."""
        issued = int(time.time() if now is None else now)
        aud = ([audience] if isinstance(audience, str) else list(audience)
               if audience is not None else list(self.api_audiences))
        claims = {
            "aud": aud, "exp": issued + ttl, "iat": issued, "nbf": issued,
            "iss": self.issuer if issuer is None else issuer,
            "jti": str(uuid.uuid4()),
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "pod": {"name": pod, "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": name, "uid": self.uid_of(namespace, name)},
            },
            **extra,
        }
        return jwt.encode(claims, key if key is not None else self._key, algorithm=self._alg,
                          headers={"kid": "fake-kube-signer"})

    def delete_service_account(self, namespace: str, name: str) -> None:
        """Its tokens stop authenticating, as with --service-account-lookup."""
        self.deleted.add((namespace, name))

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeKubeAPI:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_cert.configure_cert(ctx)
        self._httpd = _TlsServer(("127.0.0.1", 0), _handler_for(self), ctx)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the API ----------------------------------------------------------------

    def _verify(self, token: str, audiences: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
        """(claims, "") for a live token of this cluster with one of ``audiences``; else an error."""
        try:
            claims = jwt.decode(token, self._key.public_key(), algorithms=[self._alg],
                                audience=list(audiences), issuer=self.issuer)
        except jwt.PyJWTError as exc:
            return None, f"invalid bearer token, {type(exc).__name__}"
        sa = claims.get("kubernetes.io", {})
        ident = (sa.get("namespace", ""), sa.get("serviceaccount", {}).get("name", ""))
        if ident in self.deleted:
            return None, "service account has been deleted"
        return claims, ""

    def _caller_ok(self, bearer: str) -> bool:
        if secrets.compare_digest(bearer, self.reviewer_token):
            return True
        return self._verify(bearer, self.api_audiences)[0] is not None

    def token_review(self, body: dict[str, Any], bearer: str) -> tuple[int, dict[str, Any]]:
        spec = body.get("spec") or {}
        if not self._caller_ok(bearer):
            self.calls.append(ReviewCall(False, list(spec.get("audiences") or []), 401))
            return 401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        wanted = list(spec.get("audiences") or self.api_audiences)
        claims, error = self._verify(str(spec.get("token", "")), wanted)
        status: dict[str, Any] = {"authenticated": False, "error": error, "user": {}}
        if claims is not None:
            ident = claims["kubernetes.io"]
            ns = ident["namespace"]
            token_aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            status = {
                "authenticated": True,
                "user": {"username": claims["sub"], "uid": ident["serviceaccount"]["uid"],
                         "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                    "system:authenticated"],
                         "extra": {"authentication.kubernetes.io/pod-name": [ident["pod"]["name"]]}},
                "audiences": [a for a in wanted if a in token_aud],
            }
        self.calls.append(ReviewCall(secrets.compare_digest(bearer, self.reviewer_token),
                                     list(spec.get("audiences") or []), 201))
        return 201, {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    _routes: ClassVar[dict[tuple[str, str], Route]] = {("POST", TOKENREVIEW_PATH): token_review}


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 ctx: ssl.SSLContext) -> None:
        super().__init__(addr, handler)
        self._ctx = ctx

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Handshake in the connection's own thread, so a client that gives up on our
        # certificate (wrong CA configured) never stalls the accept loop.
        try:
            tls = self._ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _handler_for(api: FakeKubeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route = FakeKubeAPI._routes.get(("POST", self.path.split("?")[0]))
            if route is None:
                self._reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._reply(400, {"kind": "Status", "code": 400, "message": "bad JSON"})
                return
            auth = self.headers.get("Authorization", "")
            bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            self._reply(*route(api, body, bearer))

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
