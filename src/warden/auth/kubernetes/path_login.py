"""``login``: a service-account JWT for a token, checked by TokenReview or local keys."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from warden.auth.kubernetes import jwt_local
from warden.auth.kubernetes.jwt_local import Expectations, JwtRejected, MalformedJwt
from warden.auth.kubernetes.path_config import KubeConfig, ca_certificates, load_config
from warden.auth.kubernetes.path_role import KubeRole, load_role
from warden.auth.kubernetes.review import ReviewResult
from warden.auth.kubernetes.serviceaccount import ServiceAccount, from_claims, from_username
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.net import addr_in_cidrs
from warden.logical.errors import CodedError, InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.auth.kubernetes.backend import KubernetesBackend

log = logging.getLogger("warden.auth.kubernetes")

LOGIN_FIELDS: dict[str, Field] = {
    "role": Field(FieldType.STRING, "Name of the role to log in with."),
    "jwt": Field(FieldType.STRING, "The service account's JSON Web Token."),
}


def paths(b: KubernetesBackend) -> list[Path]:
    return [Path("login/?", fields=LOGIN_FIELDS, operations={Operation.UPDATE: Login(b).login},
                 help_synopsis=LOGIN_SYN, help_description=LOGIN_DESC)]


def denied(reason: str) -> PermissionDenied:
    return PermissionDenied(f"permission denied: {reason}")


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the kubernetes backend without its mount storage")
    return req.storage


class Login:
    def __init__(self, b: KubernetesBackend) -> None:
        self.b = b

    async def login(self, req: Request, data: FieldData) -> Response:
        name, token = data.get("role").strip(), data.get("jwt").strip()
        if not name:
            raise InvalidRequest("missing role")
        if not token:
            raise InvalidRequest("missing jwt")
        storage = _storage(req)
        role = await load_role(storage, name)
        if role is None:
            raise InvalidRequest(f'invalid role name "{name}"')
        config = await load_config(storage)
        if config is None:
            raise InvalidRequest("the kubernetes auth method is not configured: write its config")
        addr = req.connection.remote_addr
        if role.token.bound_cidrs and not addr_in_cidrs(addr, role.token.bound_cidrs):
            raise denied(f'source address "{addr}" is not in the role\'s token_bound_cidrs')
        try:
            claims = jwt_local.unverified_claims(token)
        except MalformedJwt as exc:
            raise InvalidRequest(str(exc)) from None
        if config.pem_keys:
            sa = self._verify_locally(token, config, role)
        else:
            sa = await self._review(token, claims, config, role, mount=req.mount_point)
        return Response(auth=_auth(role, sa))

    def _verify_locally(self, token: str, config: KubeConfig, role: KubeRole) -> ServiceAccount:
        expect = Expectations(now=self.b.now(), issuer=config.expected_issuer,
                              audience=role.audience)
        try:
            claims = jwt_local.verify(token, config.public_keys(), expect)
        except JwtRejected as exc:
            raise denied(str(exc)) from None
        sa = from_claims(claims)
        if sa is None:
            raise denied("the JWT does not name a service account")
        return _admitted(role, sa)

    async def _review(self, token: str, claims: Mapping[str, Any], config: KubeConfig,
                      role: KubeRole, *, mount: str) -> ServiceAccount:
        claimed = from_claims(claims)
        if claimed is not None:
            _admitted(role, claimed)  # refuse early, without a network call
        if config.expected_issuer and claims.get("iss") != config.expected_issuer:
            raise denied("the JWT's issuer does not match the configured issuer")
        if config.kubernetes_ca_cert and not ca_certificates(config.kubernetes_ca_cert):
            raise InvalidRequest(
                f"kubernetes_ca_cert in {mount}config holds no certificate that parses, so "
                "the Kubernetes API server cannot be verified; write the API server's CA "
                f"certificate to {mount}config")
        reviewer = self.b.reviewer
        if reviewer is None:
            raise CodedError(500, "no TokenReview client is configured on this server; "
                             "set pem_keys to verify service-account JWTs locally")
        status = await reviewer.review(
            host=config.kubernetes_host, token=token, ca_pem=config.kubernetes_ca_cert,
            reviewer_jwt=config.token_reviewer_jwt,
            audiences=(role.audience,) if role.audience else (),
            use_local_defaults=not config.disable_local_ca_jwt)
        result = ReviewResult.from_status(status)
        if not result.authenticated:
            log.info("TokenReview did not authenticate a login for role %s: %s",
                     role.name, result.error or "not authenticated")
            raise denied("the Kubernetes API did not authenticate the JWT")
        return _admitted(role, _reviewed_account(result, claimed, role))


def _reviewed_account(result: ReviewResult, claimed: ServiceAccount | None,
                      role: KubeRole) -> ServiceAccount:
    """The identity TokenReview vouches for; the JWT's own claims must agree with it."""
    sa = from_username(result.username, result.uid)
    if sa is None:
        raise denied("the JWT does not belong to a service account")
    if claimed is not None and (
            (claimed.namespace, claimed.name) != (sa.namespace, sa.name)
            or (claimed.uid and sa.uid and claimed.uid != sa.uid)):
        raise denied("the JWT's claims do not match the identity TokenReview reported")
    if role.audience and role.audience not in result.audiences:
        raise denied("the JWT's audience does not include the role's audience")
    secret_name = claimed.secret_name if claimed is not None else ""
    return ServiceAccount(sa.namespace, sa.name, sa.uid, secret_name)


def _admitted(role: KubeRole, sa: ServiceAccount) -> ServiceAccount:
    reason = role.refusal(sa)
    if reason:
        raise denied(reason)
    return sa


def _auth(role: KubeRole, sa: ServiceAccount) -> Auth:
    return role.token.to_auth(
        display_name=f"{sa.namespace}-{sa.name}",
        metadata={
            "role": role.name,
            "service_account_name": sa.name,
            "service_account_namespace": sa.namespace,
            "service_account_uid": sa.uid,
            "service_account_secret_name": sa.secret_name,
        },
        internal_data={"role": role.name, "service_account_name": sa.name,
                       "service_account_namespace": sa.namespace,
                       "service_account_uid": sa.uid},
    )


def renewer(b: KubernetesBackend) -> Callable[[Request], Awaitable[Auth]]:
    async def renew(req: Request) -> Auth:
        """The role must still exist and still admit the service account."""
        if req.auth is None:
            raise InvalidRequest("renewal needs the token's login data")
        internal = req.auth.internal_data
        name = str(internal.get("role", ""))
        role = await load_role(_storage(req), name) if name else None
        if role is None:
            raise InvalidRequest(f'role "{name}" no longer exists; not renewing')
        sa = ServiceAccount(namespace=str(internal.get("service_account_namespace", "")),
                            name=str(internal.get("service_account_name", "")))
        reason = role.refusal(sa)
        if reason:
            raise InvalidRequest(f"{reason}; not renewing")
        return role.token.renewal(req.auth)

    return renew


LOGIN_SYN = "Log in with a Kubernetes service-account JWT."
LOGIN_DESC = """\
The JWT is checked with the TokenReview API (or locally against pem_keys when those
are configured); its service account and namespace must match the role, and its
audience must include the role's audience when one is set. The token's metadata
names the role and the service account.
"""
