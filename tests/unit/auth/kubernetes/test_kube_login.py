"""Kubernetes login: TokenReview mode, local pem_keys mode, role bindings, renewal."""

from __future__ import annotations

from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from unit.auth.kubernetes.kube_kit import KubeAuth
from warden.logical.errors import CodedError, InvalidRequest, PermissionDenied
from warden.logical.operation import Operation

ROLE = {"bound_service_account_names": "app", "bound_service_account_namespaces": "default",
        "token_policies": "reader", "token_ttl": "10m", "token_max_ttl": "1h"}


async def _setup(kube: KubeAuth, local: bool = False, config: dict[str, object] | None = None,
                 **role: object) -> None:
    if local:
        await kube.configure_local(**(config or {}))
    else:
        await kube.configure(**(config or {}))
    await kube.write("role/demo", **{**ROLE, **role})


# -- TokenReview mode --------------------------------------------------------------


async def test_review_login_returns_metadata_and_role_settings(kube: KubeAuth) -> None:
    await _setup(kube, config={"token_reviewer_jwt": kube.api.reviewer_token})
    auth = await kube.login("demo", kube.mint())
    assert auth.policies == ["reader"] and (auth.ttl, auth.max_ttl) == (600, 3600)
    assert auth.display_name == "default-app"
    assert auth.metadata == {
        "role": "demo", "service_account_name": "app", "service_account_namespace": "default",
        "service_account_uid": kube.api.uid_of("default", "app"),
        "service_account_secret_name": ""}
    call = kube.reviewer.calls[-1]
    assert call["host"] == "https://kube.example:6443" and call["ca_pem"] == kube.api.ca_pem
    assert call["reviewer_jwt"] == kube.api.reviewer_token and call["audiences"] == []
    assert call["use_local_defaults"] is True
    assert kube.api.calls[-1].bearer_was_reviewer


async def test_review_without_reviewer_jwt_is_a_self_review(kube: KubeAuth) -> None:
    await _setup(kube, config={"disable_local_ca_jwt": True})
    await kube.login("demo", kube.mint())
    assert kube.reviewer.calls[-1]["reviewer_jwt"] == ""
    assert kube.reviewer.calls[-1]["use_local_defaults"] is False
    assert not kube.api.calls[-1].bearer_was_reviewer


async def test_review_not_authenticated_is_denied(kube: KubeAuth) -> None:
    await _setup(kube, config={"token_reviewer_jwt": kube.api.reviewer_token})
    token = kube.mint()
    kube.api.delete_service_account("default", "app")
    with pytest.raises(PermissionDenied, match="did not authenticate"):
        await kube.login("demo", token)


async def test_a_token_from_another_cluster_is_denied(kube: KubeAuth) -> None:
    await _setup(kube, config={"token_reviewer_jwt": kube.api.reviewer_token})
    stranger = KubeAuth().mint()
    with pytest.raises(PermissionDenied, match="did not authenticate"):
        await kube.login("demo", stranger)


async def test_review_audience_is_requested_and_enforced(kube: KubeAuth) -> None:
    await _setup(kube, config={"token_reviewer_jwt": kube.api.reviewer_token}, audience="vault")
    await kube.login("demo", kube.mint(audience=["vault", "other"]))
    assert kube.reviewer.calls[-1]["audiences"] == ["vault"]
    with pytest.raises(PermissionDenied):
        await kube.login("demo", kube.mint(audience="not-vault"))


async def test_review_answer_without_the_audience_is_denied(kube: KubeAuth) -> None:
    await _setup(kube, audience="vault")
    kube.reviewer.forced = {"authenticated": True, "audiences": ["something-else"], "user": {
        "username": "system:serviceaccount:default:app",
        "uid": kube.api.uid_of("default", "app")}}
    with pytest.raises(PermissionDenied, match="audience"):
        await kube.login("demo", kube.mint(audience="vault"))


@pytest.mark.parametrize(("username", "message"), [
    ("system:serviceaccount:default:other", "do not match"),
    ("kubernetes-admin", "does not belong to a service account"),
])
async def test_review_identity_must_be_the_claimed_service_account(
        kube: KubeAuth, username: str, message: str) -> None:
    await _setup(kube)
    kube.reviewer.forced = {"authenticated": True, "user": {"username": username, "uid": "u"}}
    with pytest.raises(PermissionDenied, match=message):
        await kube.login("demo", kube.mint())


async def test_review_uid_must_match_the_claims(kube: KubeAuth) -> None:
    await _setup(kube)
    kube.reviewer.forced = {"authenticated": True, "user": {
        "username": "system:serviceaccount:default:app", "uid": "recreated-account"}}
    with pytest.raises(PermissionDenied, match="do not match"):
        await kube.login("demo", kube.mint())


@pytest.mark.parametrize(("namespace", "name", "message"), [
    ("default", "intruder", 'service account name "intruder" is not authorized'),
    ("kube-system", "app", 'namespace "kube-system" is not authorized'),
])
async def test_wrong_account_is_refused_before_any_review(
        kube: KubeAuth, namespace: str, name: str, message: str) -> None:
    await _setup(kube)
    with pytest.raises(PermissionDenied, match=message):
        await kube.login("demo", kube.mint(namespace, name))
    assert kube.reviewer.calls == []


@pytest.mark.parametrize(("names", "namespaces", "ok", "refused"), [
    ("*", "dev-*", ("dev-a", "x"), ("prod", "x")),
    ("web-*", "*", ("anything", "web-1"), ("anything", "api-1")),
    ("app", "dev-*,qa", ("qa", "app"), ("dev", "app")),
])
async def test_glob_bindings(kube: KubeAuth, names: str, namespaces: str,
                             ok: tuple[str, str], refused: tuple[str, str]) -> None:
    await _setup(kube, bound_service_account_names=names,
                 bound_service_account_namespaces=namespaces)
    assert (await kube.login("demo", kube.mint(*ok))).metadata["service_account_name"] == ok[1]
    with pytest.raises(PermissionDenied, match="not authorized"):
        await kube.login("demo", kube.mint(*refused))


async def test_issuer_is_checked_in_review_mode_when_configured(kube: KubeAuth) -> None:
    await _setup(kube, config={"issuer": "https://right-issuer"})
    with pytest.raises(PermissionDenied, match="issuer"):
        await kube.login("demo", kube.mint())
    assert kube.reviewer.calls == []


async def test_without_a_reviewer_service_only_local_mode_works() -> None:
    kube = KubeAuth(with_reviewer=False)
    await _setup(kube)
    with pytest.raises(CodedError, match="no TokenReview client"):
        await kube.login("demo", kube.mint())
    await _setup(kube, local=True)
    await kube.login("demo", kube.mint())


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"jwt": "x.y.z"}, InvalidRequest, "missing role"),
    ({"role": "demo"}, InvalidRequest, "missing jwt"),
    ({"role": "nope", "jwt": "x"}, InvalidRequest, 'invalid role name "nope"'),
    ({"role": "demo", "jwt": "not-a-jwt"}, InvalidRequest, "not a well-formed JSON Web Token"),
])
async def test_bad_login_requests(kube: KubeAuth, fields: dict[str, str],
                                  error: type[Exception], message: str) -> None:
    await _setup(kube)
    with pytest.raises(error, match=message):
        await kube.write("login", **fields)


async def test_unconfigured_mount(kube: KubeAuth) -> None:
    await kube.write("role/demo", **ROLE)
    with pytest.raises(InvalidRequest, match="not configured"):
        await kube.login("demo", kube.mint())


async def test_token_bound_cidrs_are_checked_at_login(kube: KubeAuth) -> None:
    await _setup(kube, token_bound_cidrs="10.0.0.0/8")
    assert (await kube.login("demo", kube.mint(), addr="10.1.1.1")).bound_cidrs == ["10.0.0.0/8"]
    with pytest.raises(PermissionDenied, match="token_bound_cidrs"):
        await kube.login("demo", kube.mint(), addr="192.168.0.1")


async def test_errors_never_echo_the_jwt(kube: KubeAuth) -> None:
    await _setup(kube, local=True, audience="vault")
    token = kube.mint(audience="other")
    with pytest.raises(PermissionDenied) as err:
        await kube.login("demo", token)
    assert token not in str(err.value) and token.split(".")[2] not in str(err.value)


# -- local pem_keys mode ---------------------------------------------------------------


async def test_local_mode_never_calls_the_reviewer(kube: KubeAuth) -> None:
    await _setup(kube, local=True, audience="vault")
    auth = await kube.login("demo", kube.mint(audience="vault"))
    assert auth.metadata["service_account_uid"] == kube.api.uid_of("default", "app")
    assert kube.reviewer.calls == [] and kube.api.calls == []


async def test_local_mode_with_an_ec_key_given_as_a_certificate() -> None:
    kube = KubeAuth(key_type="ec")
    await kube.configure_local()
    await kube.write("role/demo", **ROLE)
    assert (await kube.login("demo", kube.mint())).metadata["role"] == "demo"


async def test_local_bad_signature(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    other_key = rsa.generate_private_key(65537, 2048)
    with pytest.raises(PermissionDenied, match="signature does not verify"):
        await kube.login("demo", kube.mint(key=other_key))


async def test_local_tampered_payload(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    header, _, signature = kube.mint().split(".")
    forged_payload = kube.mint("default", "app", pod="other").split(".")[1]
    with pytest.raises(PermissionDenied, match="signature"):
        await kube.login("demo", f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
async def test_local_refuses_unsigned_and_hmac_tokens(kube: KubeAuth, algorithm: str) -> None:
    await _setup(kube, local=True)
    claims = jwt.decode(kube.mint(), options={"verify_signature": False})
    key = kube.api.public_key_pem.encode() if algorithm == "HS256" else None
    forged = _encode_insecure(claims, key, algorithm)
    with pytest.raises(PermissionDenied, match="signature does not verify"):
        await kube.login("demo", forged)


def _encode_insecure(claims: dict[str, object], key: bytes | None, algorithm: str) -> str:
    """A token an attacker could craft: alg=none, or HS256 keyed with the public key."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": algorithm, "typ": "JWT"}).encode()) + "." + b64(
        json.dumps(claims).encode())
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


async def test_local_expiry_with_leeway(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    token = kube.mint(ttl=600)
    kube.clock.advance(600 + 60)
    await kube.login("demo", token)
    kube.clock.advance(1)
    with pytest.raises(PermissionDenied, match="expired"):
        await kube.login("demo", token)


async def test_local_not_yet_valid(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    with pytest.raises(PermissionDenied, match="not valid yet"):
        await kube.login("demo", kube.mint(now=kube.clock.time() + 3600))


@pytest.mark.parametrize(("config", "accepted"), [
    ({"issuer": "https://kubernetes.default.svc.cluster.local"}, True),
    ({"issuer": "https://another-cluster"}, False),
    ({"issuer": "https://another-cluster", "disable_iss_validation": True}, True),
    ({}, True),
])
async def test_local_issuer(kube: KubeAuth, config: dict[str, object], accepted: bool) -> None:
    await _setup(kube, local=True, config=config)
    if accepted:
        await kube.login("demo", kube.mint())
    else:
        with pytest.raises(PermissionDenied, match="issuer"):
            await kube.login("demo", kube.mint())


async def test_local_audience(kube: KubeAuth) -> None:
    await _setup(kube, local=True, audience="vault")
    await kube.login("demo", kube.mint(audience="vault"))
    with pytest.raises(PermissionDenied, match="audience"):
        await kube.login("demo", kube.mint(audience="https://kubernetes.default.svc"))


@pytest.mark.parametrize(("namespace", "name"), [("default", "other"), ("prod", "app")])
async def test_local_wrong_account(kube: KubeAuth, namespace: str, name: str) -> None:
    await _setup(kube, local=True)
    with pytest.raises(PermissionDenied, match="not authorized"):
        await kube.login("demo", kube.mint(namespace, name))


async def test_local_glob_namespaces(kube: KubeAuth) -> None:
    await _setup(kube, local=True, bound_service_account_namespaces="team-*")
    await kube.login("demo", kube.mint("team-a", "app"))
    with pytest.raises(PermissionDenied, match='namespace "teams" is not authorized'):
        await kube.login("demo", kube.mint("teams", "app"))


async def test_local_sub_must_agree_with_the_claims(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    with pytest.raises(PermissionDenied, match="does not name a service account"):
        await kube.login("demo", kube.mint(sub="system:serviceaccount:kube-system:admin"))


async def test_local_legacy_secret_token(kube: KubeAuth) -> None:
    """Tokens from Secrets (before 1.24): flat claims, no exp, a secret name."""
    await _setup(kube, local=True)
    legacy = jwt.encode({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "default",
        "kubernetes.io/serviceaccount/secret.name": "app-token-pd21c",
        "kubernetes.io/serviceaccount/service-account.name": "app",
        "kubernetes.io/serviceaccount/service-account.uid": "aa9aa8ff",
        "sub": "system:serviceaccount:default:app"}, kube.api._key, algorithm="RS256")
    auth = await kube.login("demo", legacy)
    assert auth.metadata["service_account_secret_name"] == "app-token-pd21c"
    assert auth.metadata["service_account_uid"] == "aa9aa8ff"


# -- renewal --------------------------------------------------------------------------


async def test_renewal_follows_the_role(kube: KubeAuth) -> None:
    await _setup(kube, local=True)
    auth = await kube.login("demo", kube.mint())
    await kube.write("role/demo", token_ttl="20m", token_max_ttl="2h")
    renewed = await kube.renew(replace(auth))
    assert (renewed.ttl, renewed.max_ttl) == (1200, 7200)
    await kube.write("role/demo", bound_service_account_namespaces="other")
    with pytest.raises(InvalidRequest, match=r"not authorized.*not renewing"):
        await kube.renew(auth)
    await kube.call(Operation.DELETE, "role/demo")
    with pytest.raises(InvalidRequest, match="no longer exists"):
        await kube.renew(auth)
