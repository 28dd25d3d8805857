"""Backend: compiles a table of Paths once and routes requests to their handlers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from warden.framework import openapi
from warden.framework.field_data import FieldData
from warden.framework.path import Handler, Path
from warden.logical.backend import BackendType, SpecialPaths
from warden.logical.errors import InvalidRequest, UnsupportedOperation, UnsupportedPath
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response

Hook = Callable[[], Awaitable[None]]
AuthRenew = Callable[[Request], Awaitable[Auth]]
SecretCallback = Callable[[Request], Awaitable[Response | None]]


_ROUTE_CACHE_SIZE = 4096
_ROUTE_CACHE_PATH_MAX = 256
_WRITES = frozenset({Operation.CREATE, Operation.UPDATE, Operation.PATCH})


@dataclass(frozen=True, slots=True)
class SecretType:
    """A kind of leased secret a backend hands out, with its lease callbacks."""

    name: str
    revoke: SecretCallback
    renew: SecretCallback | None = None


@dataclass(frozen=True, slots=True)
class _CompiledPath:
    regex: re.Pattern[str]
    path: Path


class Backend:
    """A mounted backend made of declared paths (Vault's framework.Backend)."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        backend_type: BackendType = BackendType.LOGICAL,
        special_paths: SpecialPaths = SpecialPaths(),
        help: str = "",
        initialize: Hook | None = None,
        periodic: Hook | None = None,
        cleanup: Hook | None = None,
        auth_renew: AuthRenew | None = None,
        secrets: Sequence[SecretType] = (),
        cached_prefixes: Sequence[str] = (),
        invalidate: Callable[[], None] | None = None,
    ) -> None:
        self.backend_type = backend_type
        self.special_paths = special_paths
        self.help = help
        self._initialize = initialize
        self._periodic = periodic
        self._cleanup = cleanup
        self._auth_renew = auth_renew
        self._secrets: Mapping[str, SecretType] = {s.name: s for s in secrets}
        # Storage prefixes whose contents this backend keeps in memory, and how it drops
        # them: a write there by another process of the server calls ``invalidate`` here.
        self.cached_prefixes = tuple(cached_prefixes)
        self._invalidate = invalidate
        self._paths = [_compile(p) for p in paths]
        self._routes: dict[str, tuple[Path, Mapping[str, str]] | None] = {}

    @property
    def paths(self) -> list[Path]:
        return [c.path for c in self._paths]

    async def initialize(self) -> None:
        if self._initialize:
            await self._initialize()

    async def periodic(self) -> None:
        if self._periodic:
            await self._periodic()

    async def cleanup(self) -> None:
        if self._cleanup:
            await self._cleanup()

    def invalidate(self) -> None:
        if self._invalidate:
            self._invalidate()

    def route(self, path: str) -> tuple[Path, Mapping[str, str]] | None:
        """The first declared path whose pattern matches, and its (read-only) captures.

        Memoised per path string: an update is routed twice (existence check, then the
        handler) and hot paths such as ``issue/<role>`` repeat; the table never changes.
        """
        if path in self._routes:
            return self._routes[path]
        found: tuple[Path, Mapping[str, str]] | None = None
        for compiled in self._paths:
            match = compiled.regex.match(path)
            if match:
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
                found = compiled.path, MappingProxyType(groups)
                break
        if len(path) <= _ROUTE_CACHE_PATH_MAX:  # keys are client input: bound their size
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[path] = found
        return found

    async def handle_request(self, req: Request) -> Response | None:
        if req.operation in (Operation.RENEW, Operation.REVOKE):
            return await self._handle_lease_operation(req)
        if req.operation is Operation.HELP and req.path in ("", "/"):
            return self._root_help()
        found = self.route(req.path)
        if found is None:
            raise UnsupportedPath()
        path, captures = found
        if req.operation is Operation.HELP:
            # Describes the path; never runs a handler (Vault's helpCallback).
            return _help_response(path, self.help)
        handler = _handler_for(path, req.operation)
        data = FieldData({**req.data, **captures}, path.fields)
        data.validate(check_required=req.operation in _WRITES)
        response = await handler(req, data)
        if response is not None and not isinstance(response.data, dict | None):
            # The audit log and the HTTP edge both need plain JSON data: fail here, loudly,
            # with or without an audit device, instead of only when one is enabled.
            raise TypeError(f"{path.pattern}: handler returned {type(response.data).__name__} "
                            "as Response.data; it must be a dict")
        unknown = data.unknown_fields()
        if unknown and req.operation in (Operation.CREATE, Operation.UPDATE, Operation.PATCH):
            response = response or Response()
            response.warnings.append(
                "Endpoint ignored these unrecognized parameters: [" + " ".join(unknown) + "]"
            )
        return response

    def _root_help(self) -> Response:
        """The mount's own help: every path with its synopsis (Vault's handleRootHelp)."""
        lines = [self.help.strip(), "", "## PATHS", ""]
        for path in sorted(self.paths, key=lambda p: p.pattern):
            lines += [f"    {path.pattern}", f"        {path.help_synopsis.strip()}", ""]
        return Response(data={"help": "\n".join(lines).strip(), "see_also": None,
                              "openapi": openapi.document(self.paths)})

    async def existence_check(self, req: Request) -> bool | None:
        found = self.route(req.path)
        if found is None or found[0].existence_check is None:
            return None
        path, captures = found
        data = FieldData({**req.data, **captures}, path.fields)
        check = path.existence_check
        assert check is not None
        return await check(req, data)

    async def _handle_lease_operation(self, req: Request) -> Response | None:
        if req.auth is not None:
            if req.operation is not Operation.RENEW or self._auth_renew is None:
                raise UnsupportedOperation("this auth method does not support renewal")
            return Response(auth=await self._auth_renew(req))
        if req.secret is None:
            raise InvalidRequest("renew and revoke need a lease")
        kind = self._secrets.get(str(req.secret.internal_data.get("secret_type", "")))
        if kind is None:
            raise InvalidRequest("lease belongs to an unknown secret type")
        if req.operation is Operation.REVOKE:
            return await kind.revoke(req)
        if kind.renew is None:
            raise InvalidRequest("lease is not renewable")
        return await kind.renew(req)


def _compile(path: Path) -> _CompiledPath:
    regex = re.compile("^" + path.pattern + "$")
    missing = set(regex.groupindex) - set(path.fields)
    if missing:
        raise ValueError(f"path {path.pattern!r}: captures without a field: {sorted(missing)}")
    for op in path.operations:
        if not isinstance(op, Operation):
            raise ValueError(f"path {path.pattern!r}: unknown operation {op!r}")
    return _CompiledPath(regex=regex, path=path)


def _handler_for(path: Path, op: Operation) -> Handler:
    handler = path.operations.get(op)
    if handler is None and op is Operation.CREATE:
        handler = path.operations.get(Operation.UPDATE)
    if handler is None:
        raise UnsupportedOperation()
    return handler


def _help_response(path: Path, backend_help: str) -> Response:
    lines = [path.help_synopsis.strip(), "", path.help_description.strip()]
    if path.fields:
        lines += ["", "## PARAMETERS", ""]
        for name, field in sorted(path.fields.items()):
            lines.append(f"{name} ({field.type.value})")
            lines.append(f"    {field.description.strip()}")
    text = "\n".join(lines).strip()
    return Response(data={"help": text or backend_help, "see_also": None,
                          "openapi": openapi.document([path])})

