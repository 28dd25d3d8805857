"""The audit records of one request, built from what the core learned while handling it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from warden.audit.record import AuditAuth, AuditRecord, AuditRequest, AuditResponse
from warden.core.router import Route
from warden.logical.clock import to_rfc3339
from warden.logical.errors import Sealed, WardenError
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.tokens import TokenEntry

if TYPE_CHECKING:
    from warden.core.core import Core


class AuditTrail:
    """Builds the audit records of one request; does nothing when no device is enabled."""

    __slots__ = ("_parts", "core", "entry", "memo", "req", "route")

    def __init__(self, core: Core, req: Request) -> None:
        self.core = core
        self.req = req
        self.route: Route | None = None
        self.entry: TokenEntry | None = None
        self.memo: dict[str, str] = {}  # HMACs shared by this request's two records
        self._parts: tuple[AuditAuth, AuditRequest] | None = None

    def _record(self, kind: str, response: AuditResponse | None, error: str,
                facts: Mapping[str, Any] | None = None) -> AuditRecord:
        auth, request = self._parts or self._request_parts()
        return AuditRecord(type=kind, time=to_rfc3339(self.core.clock.time()), auth=auth,
                           request=request, response=response, error=error, facts=facts,
                           memo=self.memo)

    def _request_parts(self) -> tuple[AuditAuth, AuditRequest]:
        """Who asked and what: the same in both records, so built once (the route and the
        token are known by the time the first record is written)."""
        req, entry, mount = self.req, self.entry, self.route.mount if self.route else None
        auth = AuditAuth() if entry is None else AuditAuth(
            client_token=req.client_token, accessor=entry.accessor,
            display_name=entry.display_name, policies=entry.policies,
            token_policies=entry.policies, metadata=entry.meta, entity_id=entry.entity_id,
            token_type=entry.token_type, token_ttl=entry.ttl,
            token_issue_time=to_rfc3339(entry.issue_time),
        )
        request = AuditRequest(
            id=req.id, operation=str(req.operation), path=req.path, data=req.data,
            client_token=req.client_token, client_token_accessor=entry.accessor if entry else "",
            mount_type=mount.type if mount else "", mount_accessor=mount.accessor if mount else "",
            remote_address=req.connection.remote_addr, remote_port=req.connection.remote_port,
            wrap_ttl=req.wrap_ttl,
            non_hmac_keys=mount.config.audit_non_hmac_request_keys if mount else (),
        )
        self._parts = auth, request
        return self._parts

    async def log_request(self) -> None:
        if self.core.audit.enabled:
            await self.core.audit.log(self._record("request", None, ""))

    async def log_response(self, response: Response | None, *,
                           error: WardenError | None = None) -> None:
        if not self.core.audit.enabled:
            return
        mount = self.route.mount if self.route else None
        summary = audit_response(response, mount.config.audit_non_hmac_response_keys
                                  if mount else ())
        facts = response.audit if response is not None else None
        await self.core.audit.log(
            self._record("response", summary, str(error) if error else "", facts))

    async def refused(self, exc: WardenError) -> None:
        """A request stopped before any backend ran is still logged, with its error."""
        if self.core.audit.enabled and not isinstance(exc, Sealed):
            await self.core.audit.log(self._record("request", None, str(exc)))
            await self.core.audit.log(self._record("response", AuditResponse(), str(exc)))


def audit_response(resp: Response | None, non_hmac: tuple[str, ...]) -> AuditResponse:
    if resp is None:
        return AuditResponse()
    wrap, auth = resp.wrap_info, resp.auth
    return AuditResponse(
        data=resp.data if resp.raw is None else None,
        auth=None if auth is None else {
            "client_token": auth.client_token, "accessor": auth.accessor,
            "display_name": auth.display_name, "policies": list(auth.policies),
            "token_policies": list(auth.token_policies), "metadata": dict(auth.metadata),
            "lease_duration": auth.lease_duration, "renewable": auth.renewable,
            "orphan": auth.orphan, "entity_id": auth.entity_id, "token_type": auth.token_type,
            "num_uses": auth.num_uses,
        },
        secret={"lease_id": resp.secret.lease_id} if resp.secret else None,
        wrap_info=({"token": wrap.token, "accessor": wrap.accessor, "ttl": wrap.ttl,
                    "creation_time": wrap.creation_time, "creation_path": wrap.creation_path,
                    "wrapped_accessor": wrap.wrapped_accessor} if wrap else None),
        warnings=tuple(resp.warnings), mount_type=resp.mount_type, non_hmac_keys=non_hmac,
    )
