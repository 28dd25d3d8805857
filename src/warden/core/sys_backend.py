"""The system backend (``sys/``): mounts, auth methods, policies, capabilities, seal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from warden.core.mounting import normalize_mount_path
from warden.core.mounts import MountConfig, MountEntry
from warden.core.sys_audit import AuditPaths
from warden.core.sys_leases import LeasePaths
from warden.core.sys_remount import RemountPaths
from warden.core.sys_wrapping import WrappingPaths
from warden.framework import Backend, Field, FieldData, FieldType, Path
from warden.framework.durations import parse_duration
from warden.logical.backend import BackendConfig, SpecialPaths
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest, NotFound, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.core.core import Core

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST

_MOUNT_FIELDS = {
    "path": Field(FieldType.STRING, "Where the backend is (or is to be) mounted."),
    "type": Field(FieldType.STRING, "The backend type, e.g. kv, pki, approle."),
    "description": Field(FieldType.STRING, "A human-friendly description."),
    "config": Field(FieldType.MAP, "default_lease_ttl, max_lease_ttl, audit_non_hmac_*_keys."),
    "options": Field(FieldType.KV_PAIRS, "Backend-specific options, e.g. version=2 for kv."),
    "local": Field(FieldType.BOOL, "Not replicated (accepted for compatibility)."),
    "seal_wrap": Field(FieldType.BOOL, "Accepted for compatibility."),
    "plugin_name": Field(FieldType.STRING, "Older spelling of type."),
}

_TUNE_FIELDS = {
    "path": Field(FieldType.STRING, "The mount to tune."),
    "default_lease_ttl": Field(FieldType.STRING, "Default TTL of leases and tokens from it."),
    "max_lease_ttl": Field(FieldType.STRING, "Maximum TTL of leases and tokens from it."),
    "description": Field(FieldType.STRING, "A human-friendly description."),
    "options": Field(FieldType.KV_PAIRS, "Backend-specific options."),
    "audit_non_hmac_request_keys": Field(FieldType.COMMA_STRING_SLICE, "Request keys not hashed in audit."),
    "audit_non_hmac_response_keys": Field(FieldType.COMMA_STRING_SLICE, "Response keys not hashed in audit."),
    "listing_visibility": Field(FieldType.STRING, "unauth or hidden."),
    "passthrough_request_headers": Field(FieldType.COMMA_STRING_SLICE, "Headers passed to the backend."),
    "token_type": Field(FieldType.STRING, "Auth mounts: the type of tokens logins get: "
                        "default-service, default-batch, service or batch."),
}


def system_backend(core: Core, conf: BackendConfig) -> Backend:
    return SystemBackend(core).backend


def _ttl(value: Any, name: str) -> int:
    if value in (None, "", "system"):
        return 0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidRequest(f'invalid "{name}": {exc}') from None


def mount_view(entry: MountEntry) -> dict[str, Any]:
    return {
        "type": entry.type,
        "description": entry.description,
        "accessor": entry.accessor,
        "uuid": entry.uuid,
        "config": {
            "default_lease_ttl": entry.config.default_lease_ttl,
            "max_lease_ttl": entry.config.max_lease_ttl,
            "force_no_cache": False,
            **({"audit_non_hmac_request_keys": list(entry.config.audit_non_hmac_request_keys)}
               if entry.config.audit_non_hmac_request_keys else {}),
            **({"audit_non_hmac_response_keys": list(entry.config.audit_non_hmac_response_keys)}
               if entry.config.audit_non_hmac_response_keys else {}),
            **({"token_type": entry.config.token_type or "default-service"}
               if entry.table == "auth" else {}),
        },
        "options": dict(entry.options) or None,
        "local": entry.local,
        "seal_wrap": entry.seal_wrap,
        "external_entropy_access": False,
        "plugin_version": "",
        "running_plugin_version": "",
    }


class SystemBackend:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.backend = Backend(
            paths=self._paths(),
            special_paths=SpecialPaths(
                # Possession of a wrapping token is the credential for these.
                unauthenticated=("wrapping/unwrap", "wrapping/lookup", "wrapping/rewrap",
                                 # The handler checks the token itself (Vault's hasMountAccess).
                                 "internal/ui/mounts/*"),
                root=("auth/*", "remount", "audit", "audit/*", "rotate", "seal", "step-down", "raw/*",
                      "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*",
                      "revoke-prefix/*", "revoke-force/*"),
            ),
            help="The system backend: mounts, auth methods, policies and the seal.",
        )

    def _paths(self) -> list[Path]:
        return [
            Path("mounts/?", operations={R: self.list_mounts},
                 help_synopsis="List the mounted secrets engines."),
            Path(r"mounts/(?P<path>.+?)/tune/?", fields=_TUNE_FIELDS,
                 operations={R: self.read_secrets_tune, U: self.write_secrets_tune},
                 help_synopsis="Read or tune a secrets engine's configuration."),
            Path(r"mounts/(?P<path>.+?)/?", fields=_MOUNT_FIELDS,
                 operations={R: self.read_secrets_mount, U: self.enable_secrets,
                             D: self.disable_secrets},
                 help_synopsis="Enable, read or disable a secrets engine."),
            Path("auth/?", operations={R: self.list_auth},
                 help_synopsis="List the enabled auth methods."),
            Path(r"auth/(?P<path>.+?)/tune/?", fields=_TUNE_FIELDS,
                 operations={R: self.read_auth_tune, U: self.write_auth_tune},
                 help_synopsis="Read or tune an auth method's configuration."),
            Path(r"auth/(?P<path>.+?)/?", fields=_MOUNT_FIELDS,
                 operations={R: self.read_auth_mount, U: self.enable_auth, D: self.disable_auth},
                 help_synopsis="Enable, read or disable an auth method."),
            Path("policy/?", operations={R: self.list_policies_legacy, L: self.list_policies},
                 help_synopsis="List the ACL policies."),
            Path("policies/acl/?", operations={L: self.list_policies, R: self.list_policies},
                 help_synopsis="List the ACL policies."),
            *[
                Path(prefix + r"(?P<name>.+)",
                     fields={"name": Field(FieldType.STRING, "The policy's name."),
                             "policy": Field(FieldType.STRING, "The policy document (HCL or JSON)."),
                             "rules": Field(FieldType.STRING, "Older name of policy.")},
                     operations={R: self.read_policy, U: self.write_policy,
                                 D: self.delete_policy},
                     help_synopsis="Read, write or delete an ACL policy.")
                for prefix in ("policy/", "policies/acl/")
            ],
            Path("capabilities-self", fields=_CAP_FIELDS, operations={U: self.capabilities_self},
                 help_synopsis="The calling token's capabilities on paths."),
            Path("capabilities", fields={**_CAP_FIELDS, "token": Field(FieldType.STRING, "A token.")},
                 operations={U: self.capabilities_token},
                 help_synopsis="A token's capabilities on paths."),
            Path("capabilities-accessor",
                 fields={**_CAP_FIELDS, "accessor": Field(FieldType.STRING, "A token accessor.")},
                 operations={U: self.capabilities_accessor},
                 help_synopsis="Capabilities of the token with the given accessor."),
            Path("internal/ui/mounts/?", operations={R: self.ui_mounts},
                 help_synopsis="Mounts visible to the caller."),
            Path(r"internal/ui/mounts/(?P<path>.+)",
                 fields={"path": Field(FieldType.STRING, "A path within a mount.")},
                 operations={R: self.ui_mount},
                 help_synopsis="The mount that serves a path (used by the kv CLI)."),
            *AuditPaths(self.core).paths(),
            *WrappingPaths(self.core).paths(),
            *LeasePaths(self.core).paths(),
            *RemountPaths(self.core).paths(),
            Path("metrics", fields={"format": Field(FieldType.STRING,
                                                    'Set to "prometheus" for the text format.')},
                 operations={R: self.metrics},
                 help_synopsis="Request, certificate, token, login and storage metrics."),
            Path("seal", operations={U: self.seal}, help_synopsis="Seal the server."),
            Path("step-down", operations={U: self.step_down},
                 help_synopsis="Make the active node give up its role to a standby (HA)."),
            Path("key-status", operations={R: self.key_status},
                 help_synopsis="The barrier's current key term."),
            Path("rotate", operations={U: self.rotate},
                 help_synopsis="Add a new barrier key term; new writes use it."),
        ]

    # -- mounts ---------------------------------------------------------------------------

    async def list_mounts(self, req: Request, data: FieldData) -> Response:
        return self._listing(self.core.mounts.secrets.entries)

    async def list_auth(self, req: Request, data: FieldData) -> Response:
        return self._listing(self.core.mounts.auth.entries)

    def _listing(self, entries: Mapping[str, MountEntry]) -> Response:
        return Response(data={p: mount_view(e) for p, e in entries.items()}, top_level=True)

    async def enable_secrets(self, req: Request, data: FieldData) -> None:
        await self._enable("secrets", data)

    async def enable_auth(self, req: Request, data: FieldData) -> None:
        await self._enable("auth", data)

    async def _enable(self, table: str, data: FieldData) -> None:
        mount_type = data.get("type") or data.get("plugin_name")
        if not mount_type:
            raise InvalidRequest('missing required field "type"')
        config = _mount_config(data.get("config"))
        options = {str(k): str(v) for k, v in data.get("options").items()}
        await self.core.mounts.enable(
            table, data.get("path"), mount_type,
            description=data.get("description"), config=config, options=options,
            local=data.get("local"), seal_wrap=data.get("seal_wrap"),
        )

    async def disable_secrets(self, req: Request, data: FieldData) -> None:
        await self.core.mounts.disable("secrets", data.get("path"))

    async def disable_auth(self, req: Request, data: FieldData) -> None:
        await self.core.mounts.disable("auth", data.get("path"))

    async def read_secrets_mount(self, req: Request, data: FieldData) -> Response:
        return self._read_mount("secrets", data.get("path"))

    async def read_auth_mount(self, req: Request, data: FieldData) -> Response:
        return self._read_mount("auth", data.get("path"))

    def _read_mount(self, table: str, path: str) -> Response:
        entry = self.core.mounts.table(table).get(normalize_mount_path(path))
        if entry is None:
            raise NotFound(f'no mount at "{path}"')
        return Response(data=mount_view(entry))

    async def read_secrets_tune(self, req: Request, data: FieldData) -> Response:
        return self._read_tune("secrets", data.get("path"))

    async def read_auth_tune(self, req: Request, data: FieldData) -> Response:
        return self._read_tune("auth", data.get("path"))

    def _read_tune(self, table: str, path: str) -> Response:
        entry = self.core.mounts.table(table).get(normalize_mount_path(path))
        if entry is None:
            raise NotFound(f'no mount at "{path}"')
        info = self.core.mounts.info(entry)
        data: dict[str, Any] = {
            "default_lease_ttl": info.default_lease_ttl,
            "max_lease_ttl": info.max_lease_ttl,
            "description": entry.description,
            "force_no_cache": False,
        }
        if entry.options:
            data["options"] = dict(entry.options)
        for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys"):
            if getattr(entry.config, key):
                data[key] = list(getattr(entry.config, key))
        if entry.table == "auth":
            data["token_type"] = entry.config.token_type or "default-service"
        return Response(data=data, top_level=True)

    async def write_secrets_tune(self, req: Request, data: FieldData) -> None:
        await self._tune("secrets", data)

    async def write_auth_tune(self, req: Request, data: FieldData) -> None:
        await self._tune("auth", data)

    async def _tune(self, table: str, data: FieldData) -> None:
        changes: dict[str, Any] = {}
        for key in ("default_lease_ttl", "max_lease_ttl"):
            if data.supplied(key):
                changes[key] = _ttl(data.get(key), key)
        for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys",
                    "passthrough_request_headers"):
            if data.supplied(key):
                changes[key] = tuple(data.get(key))
        if data.supplied("listing_visibility"):
            changes["listing_visibility"] = data.get("listing_visibility")
        if data.supplied("token_type"):
            changes["token_type"] = data.get("token_type")
        await self.core.mounts.tune(
            table, data.get("path"),
            description=data.get("description") if data.supplied("description") else None,
            options=data.get("options") if data.supplied("options") else None,
            **changes,
        )

    # -- policies ------------------------------------------------------------------------

    async def list_policies(self, req: Request, data: FieldData) -> Response:
        return Response.listing(await self.core.policies.list())

    async def list_policies_legacy(self, req: Request, data: FieldData) -> Response:
        names = await self.core.policies.list()
        return Response(data={"keys": names, "policies": names}, top_level=True)

    async def read_policy(self, req: Request, data: FieldData) -> Response | None:
        policy = await self.core.policies.get(data.get("name"))
        if policy is None:
            return None
        # Vault: the legacy sys/policy/<name> answers "rules", sys/policies/acl/<name> "policy".
        field = "rules" if req.path.startswith("policy/") else "policy"
        return Response(data={"name": policy.name, field: policy.raw}, top_level=True)

    async def write_policy(self, req: Request, data: FieldData) -> None:
        text = data.get("policy") or data.get("rules")
        if not data.supplied("policy") and not data.supplied("rules"):
            raise InvalidRequest("'policy' parameter not supplied or empty")
        await self.core.policies.put(data.get("name"), text)

    async def delete_policy(self, req: Request, data: FieldData) -> None:
        await self.core.policies.delete(data.get("name"))

    # -- capabilities -----------------------------------------------------------------------

    async def capabilities_self(self, req: Request, data: FieldData) -> Response:
        entry = await self.core.tokens.lookup(req.client_token)  # a batch token has no accessor
        if entry is None:
            raise PermissionDenied()
        return await self._capabilities(entry, data)

    async def capabilities_token(self, req: Request, data: FieldData) -> Response:
        entry = await self.core.tokens.lookup(data.get("token"))
        if entry is None:
            raise InvalidRequest("invalid token")
        return await self._capabilities(entry, data)

    async def capabilities_accessor(self, req: Request, data: FieldData) -> Response:
        entry = await self.core.tokens.lookup_accessor(data.get("accessor"))
        if entry is None:
            raise InvalidRequest("invalid accessor")
        return await self._capabilities(entry, data)

    async def _capabilities(self, entry: Any, data: FieldData) -> Response:
        paths = list(data.get("paths")) or ([data.get("path")] if data.get("path") else [])
        if not paths:
            raise InvalidRequest('missing required field "paths"')
        out: dict[str, Any] = {}
        for path in paths:
            out[path] = await self.core.capabilities(entry, path.lstrip("/"))
        if len(paths) == 1:
            out["capabilities"] = out[paths[0]]
        return Response(data=out, top_level=True)

    # -- ui/mounts (how the kv CLI learns a mount's version) --------------------------------

    async def ui_mounts(self, req: Request, data: FieldData) -> Response:
        """The mounts the caller can reach: some capability on some path in each (Vault)."""
        acl = await self.core.policies.acl(req.caller.policies if req.caller else ())
        return Response(data={
            "secret": {p: mount_view(e) for p, e in self.core.mounts.secrets.entries.items()
                       if acl.reaches_under(e.route_prefix)},
            "auth": {p: mount_view(e) for p, e in self.core.mounts.auth.entries.items()
                     if acl.reaches_under(e.route_prefix)},
        })

    async def ui_mount(self, req: Request, data: FieldData) -> Response:
        """The mount serving a path, for any token that may use something in that mount."""
        path = data.get("path")
        entry_token = await self.core.tokens.lookup(req.client_token) if req.client_token else None
        found = self.core.router.match(path)
        if entry_token is None or found is None:
            raise PermissionDenied()  # as Vault: do not tell strangers what is mounted
        entry = found[0].mount
        acl = await self.core.policies.acl(entry_token.policies)
        if not acl.reaches_under(entry.route_prefix):
            raise PermissionDenied()
        view = mount_view(entry)
        view["path"] = entry.route_prefix
        return Response(data=view)

    # -- metrics ----------------------------------------------------------------------------

    async def metrics(self, req: Request, data: FieldData) -> Response:
        fmt = data.get("format")
        if fmt == "prometheus":
            body, ctype = self.core.metrics.render()
            return Response.raw_body(body, ctype)
        if fmt not in ("", "json"):
            raise InvalidRequest('format must be "prometheus" or empty')
        return Response(data=self.core.metrics.snapshot())

    # -- seal and keys --------------------------------------------------------------------

    async def seal(self, req: Request, data: FieldData) -> None:
        await self.core.seal_vault()

    async def step_down(self, req: Request, data: FieldData) -> None:
        """Vault's sys/step-down: answered at once; the node stands down after this request
        (requests in flight finish) and another node takes over."""
        self.core.step_down()

    async def key_status(self, req: Request, data: FieldData) -> Response:
        status = self.core.barrier.key_status()
        return Response(data={"term": status.term,
                              "install_time": to_rfc3339(status.install_time)})

    async def rotate(self, req: Request, data: FieldData) -> None:
        await self.core.barrier.rotate()


_CAP_FIELDS = {
    "paths": Field(FieldType.COMMA_STRING_SLICE, "The paths to check."),
    "path": Field(FieldType.STRING, "Older form: one path."),
}


def _mount_config(raw: Mapping[str, Any]) -> MountConfig:
    allowed = {"default_lease_ttl", "max_lease_ttl", "force_no_cache",
               "audit_non_hmac_request_keys", "audit_non_hmac_response_keys",
               "listing_visibility", "passthrough_request_headers", "allowed_response_headers",
               "plugin_version", "token_type", "options"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown mount config keys: {', '.join(unknown)}")

    def _list(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        return tuple(value.split(",") if isinstance(value, str) else (str(v) for v in value))

    config = MountConfig(
        default_lease_ttl=_ttl(raw.get("default_lease_ttl"), "config.default_lease_ttl"),
        max_lease_ttl=_ttl(raw.get("max_lease_ttl"), "config.max_lease_ttl"),
        audit_non_hmac_request_keys=_list("audit_non_hmac_request_keys"),
        audit_non_hmac_response_keys=_list("audit_non_hmac_response_keys"),
        listing_visibility=str(raw.get("listing_visibility") or ""),
        passthrough_request_headers=_list("passthrough_request_headers"),
        token_type=str(raw.get("token_type") or ""),
    )
    if config.default_lease_ttl and config.max_lease_ttl and (
        config.default_lease_ttl > config.max_lease_ttl
    ):
        raise InvalidRequest("config.default_lease_ttl cannot be greater than max_lease_ttl")
    return config
