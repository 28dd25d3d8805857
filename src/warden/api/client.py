"""A small HTTP client for warden (and Vault): ``Client`` (sync) and ``AsyncClient``.

Both share request building and response handling (``_Calls``); only the I/O differs.
Every method returns the parsed JSON body as a dict, or None for "no content" (204) and
for reads and lists of nothing (404), and raises ``ApiError`` subclasses for error
statuses, as hvac does. The token travels only in the ``X-Vault-Token`` header and never
appears in ``repr`` or in an exception message.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from warden.api.config import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    ClientSettings,
    check_address,
    settings_from_env,
    tls_verify,
)
from warden.api.errors import ApiError, ClientError, TransportError

JsonDict = dict[str, Any]
JSON_TYPE = "application/json"
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what an HTTP header value can carry
MERGE_PATCH_TYPE = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class Call:
    """One API call, before it becomes an HTTP request."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    wrap_ttl: str | int | None = None
    headers: Mapping[str, str] | None = None
    content_type: str = JSON_TYPE
    none_on_404: bool = False


def api_path(path: str) -> str:
    return "/v1/" + path.lstrip("/")


@dataclass(slots=True)
class _Calls:
    """Request building and response handling shared by both clients."""

    settings: ClientSettings
    token: str = field(default="", repr=False)

    def build(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        headers = {"X-Vault-Request": "true", **(call.headers or {})}
        if self.token:
            if not _HEADER_SAFE.fullmatch(self.token):
                raise ClientError("the token has characters no token has (only printable ASCII is "
                                  "possible): check WARDEN_TOKEN, -token or ~/.warden-token")
            headers["X-Vault-Token"] = self.token
        if call.wrap_ttl:
            headers["X-Vault-Wrap-TTL"] = str(call.wrap_ttl)
        content: bytes | None = None
        if call.json is not None:
            headers["Content-Type"] = call.content_type
            content = json.dumps(call.json, separators=(",", ":"), ensure_ascii=False).encode()
        return http.build_request(call.method, api_path(call.path), params=_params(call.params),
                                  headers=headers, content=content)

    @staticmethod
    def transport_error(request: httpx.Request, exc: httpx.HTTPError) -> TransportError:
        reason = str(exc) or type(exc).__name__
        if request.url.scheme == "https" and _plain_http_answer(exc):
            plain = str(request.url.copy_with(scheme="http", path="/", query=None)).rstrip("/")
            reason = (f"server gave HTTP response to HTTPS client: it speaks plain HTTP (a dev server "
                      f"does); use {plain}, e.g. export WARDEN_ADDR={plain}")
        return TransportError(request.method, str(request.url), reason)

    @staticmethod
    def result(call: Call, response: httpx.Response) -> JsonDict | None:
        status = response.status_code
        if status == 204:
            return None
        if status == 404 and call.none_on_404:
            return _found_despite_404(response)
        if status >= 400:
            raise _api_error(response)
        if not response.content.strip():
            return None
        body = _json_object(response)
        if body is None:
            raise ClientError(f"{response.request.method} {response.request.url}: "
                              f"the server's answer is not a JSON object (status {status})")
        return body


# OpenSSL's reasons when the bytes of an HTTP answer arrive where a TLS record should.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                      "HTTP_REQUEST", "UNKNOWN_PROTOCOL"})


def _plain_http_answer(exc: BaseException) -> bool:
    """Whether a TLS handshake failed because the server answered in plain HTTP."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and seen.reason in _NOT_TLS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: _param_value(v) for k, v in params.items()}


def _param_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_param_value(v) for v in value]
    return value


def _json_object(response: httpx.Response) -> JsonDict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _found_despite_404(response: httpx.Response) -> JsonDict | None:
    """Vault's client keeps a 404 body that carries data or warnings (a deleted kv v2
    version still has metadata); an error body or an empty one means "nothing there"."""
    body = _json_object(response)
    if body and (body.get("data") or body.get("warnings")):
        return body
    return None


def _api_error(response: httpx.Response) -> ApiError:
    request = response.request
    body = _json_object(response)
    errors = body.get("errors") if body is not None else None
    if isinstance(errors, list):
        return ApiError.from_status(response.status_code, [str(e) for e in errors],
                                    request.method, str(request.url))
    return ApiError.from_status(response.status_code, [], request.method, str(request.url),
                                raw_body=response.text)


def _read_call(path: str, params: Mapping[str, Any] | None) -> Call:
    return Call("GET", path, params=params, none_on_404=True)


def _list_call(path: str) -> Call:
    return Call("GET", path, params={"list": "true"}, none_on_404=True)


class _Settings:
    """Constructor arguments and environment handling common to both clients."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: str = "",
        *,
        ca_cert: str = "",
        ca_path: str = "",
        client_cert: str = "",
        client_key: str = "",
        tls_skip_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = ClientSettings(
            address=check_address(address).rstrip("/"), ca_cert=ca_cert, ca_path=ca_path,
            client_cert=client_cert, client_key=client_key, tls_skip_verify=tls_skip_verify,
            timeout=timeout,
        )
        self._calls = _Calls(settings, token)
        self._http_options: dict[str, Any] = {
            "base_url": settings.address,
            "verify": tls_verify(settings),
            "timeout": httpx.Timeout(timeout),
            "follow_redirects": False,
            **({"transport": transport} if transport is not None else {}),
        }

    @classmethod
    def from_settings(cls, settings: ClientSettings, **kwargs: Any) -> Self:
        return cls(
            settings.address, settings.token, ca_cert=settings.ca_cert, ca_path=settings.ca_path,
            client_cert=settings.client_cert, client_key=settings.client_key,
            tls_skip_verify=settings.tls_skip_verify, timeout=settings.timeout, **kwargs,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
                 **overrides: Any) -> Self:
        """Settings from ``WARDEN_*``/``VAULT_*`` (and ``~/.warden-token``); keyword
        overrides that are not None win, as command-line flags do."""
        settings = settings_from_env(env).with_overrides(**overrides)
        return cls.from_settings(settings, transport=transport)

    @property
    def address(self) -> str:
        return self._calls.settings.address

    @property
    def token(self) -> str:
        return self._calls.token

    @token.setter
    def token(self, value: str) -> None:
        self._calls.token = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address!r})"


class Client(_Settings):
    """Synchronous client; use as a context manager or call ``close()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.Client(**self._http_options)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call) -> JsonDict | None:
        request = self._calls.build(self._http, call)
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise self._calls.transport_error(request, exc) from None
        return self._calls.result(call, response)

    def request(self, method: str, path: str, json: Any = None,
                params: Mapping[str, Any] | None = None, wrap_ttl: str | int | None = None,
                headers: Mapping[str, str] | None = None) -> JsonDict | None:
        return self.send(Call(method.upper(), path, json, params, wrap_ttl, headers))

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> JsonDict | None:
        return self.send(_read_call(path, params))

    def list(self, path: str) -> JsonDict | None:
        return self.send(_list_call(path))

    def write(self, path: str, data: Mapping[str, Any] | None = None) -> JsonDict | None:
        return self.send(Call("PUT", path, dict(data or {})))

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> JsonDict | None:
        return self.send(Call("DELETE", path, params=params))

    def patch(self, path: str, data: Mapping[str, Any]) -> JsonDict | None:
        return self.send(Call("PATCH", path, dict(data), content_type=MERGE_PATCH_TYPE))

    def login(self, mount: str, data: Mapping[str, Any]) -> JsonDict:
        """``auth/<mount>/login``; on success the client uses the new token."""
        body = self.write(f"auth/{mount.strip('/')}/login", data)
        self.token = _client_token(body)
        return body  # type: ignore[return-value]  # _client_token checked it


class AsyncClient(_Settings):
    """Asynchronous client; use as an async context manager or await ``aclose()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.AsyncClient(**self._http_options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call) -> JsonDict | None:
        request = self._calls.build(self._http, call)
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise self._calls.transport_error(request, exc) from None
        return self._calls.result(call, response)

    async def request(self, method: str, path: str, json: Any = None,
                      params: Mapping[str, Any] | None = None, wrap_ttl: str | int | None = None,
                      headers: Mapping[str, str] | None = None) -> JsonDict | None:
        return await self.send(Call(method.upper(), path, json, params, wrap_ttl, headers))

    async def read(self, path: str, params: Mapping[str, Any] | None = None) -> JsonDict | None:
        return await self.send(_read_call(path, params))

    async def list(self, path: str) -> JsonDict | None:
        return await self.send(_list_call(path))

    async def write(self, path: str, data: Mapping[str, Any] | None = None) -> JsonDict | None:
        return await self.send(Call("PUT", path, dict(data or {})))

    async def delete(self, path: str, params: Mapping[str, Any] | None = None) -> JsonDict | None:
        return await self.send(Call("DELETE", path, params=params))

    async def patch(self, path: str, data: Mapping[str, Any]) -> JsonDict | None:
        return await self.send(Call("PATCH", path, dict(data), content_type=MERGE_PATCH_TYPE))

    async def login(self, mount: str, data: Mapping[str, Any]) -> JsonDict:
        body = await self.write(f"auth/{mount.strip('/')}/login", data)
        self.token = _client_token(body)
        return body  # type: ignore[return-value]


def _client_token(body: JsonDict | None) -> str:
    auth = (body or {}).get("auth") or {}
    token = auth.get("client_token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise ClientError("the login response carries no token (no auth.client_token)")
    return token
