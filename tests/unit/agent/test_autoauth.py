"""Auto-auth methods against a scripted server: what each sends, and what it reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from support.agent import FakeServer, auth_body, fail, respond
from warden.agent.autoauth import (
    AppRoleMethod,
    AwsMethod,
    KubernetesMethod,
    LoginContext,
    TokenFileMethod,
    build_method,
)
from warden.agent.config_sections import (
    AppRoleParams,
    AwsParams,
    KubernetesParams,
    MethodConfig,
    TokenFileParams,
)
from warden.agent.errors import AgentError, PermanentError

ADDRESS = "http://warden.test"


def context(server: FakeServer, wrap_ttl: str = "",
            metadata: httpx.AsyncBaseTransport | None = None) -> LoginContext:
    from warden.api import AsyncClient

    transport = server.transport()
    return LoginContext(AsyncClient(ADDRESS, transport=transport),
                        lambda token: AsyncClient(ADDRESS, token, transport=transport), wrap_ttl, metadata)


def approle_files(tmp_path: Path, secret_id: str = "s-1") -> tuple[Path, Path]:
    role, secret = tmp_path / "role-id", tmp_path / "secret-id"
    role.write_text("r-1\n")
    secret.write_text(secret_id + "\n")
    return role, secret


async def test_approle_reads_files_removes_the_secret_id_and_reuses_it(tmp_path: Path) -> None:
    role, secret = approle_files(tmp_path)
    server = FakeServer({"auth/approle/login": respond(auth_body())})
    method = AppRoleMethod("auth/approle", AppRoleParams(role, secret))
    ctx = context(server, wrap_ttl="2m")
    await method.login(ctx)
    assert not secret.exists()
    await method.login(ctx)  # re-login after the file is gone: the secret-id read before
    assert [c[3] for c in server.calls] == [{"role_id": "r-1", "secret_id": "s-1"}] * 2
    requests = [c for c in server.calls]
    assert all(token == "" for _, _, token, _ in requests)


async def test_approle_without_a_secret_id_and_keeping_the_file(tmp_path: Path) -> None:
    role, secret = approle_files(tmp_path)
    server = FakeServer({"auth/approle/login": respond(auth_body())})
    await AppRoleMethod("auth/approle", AppRoleParams(role, secret, False)).login(context(server))
    await AppRoleMethod("auth/approle", AppRoleParams(role)).login(context(server))
    assert secret.exists()
    assert [c[3] for c in server.calls] == [{"role_id": "r-1", "secret_id": "s-1"}, {"role_id": "r-1"}]


async def test_approle_missing_files_say_which(tmp_path: Path) -> None:
    method = AppRoleMethod("auth/approle", AppRoleParams(tmp_path / "nope", tmp_path / "s"))
    with pytest.raises(AgentError, match=r"the role-id file .*nope does not exist"):
        await method.login(context(FakeServer()))
    role, secret = approle_files(tmp_path, secret_id="")
    with pytest.raises(AgentError, match=r"the secret-id file .* is empty"):
        await AppRoleMethod("auth/approle", AppRoleParams(role, secret)).login(context(FakeServer()))


async def test_wrapped_secret_id_is_checked_then_unwrapped(tmp_path: Path) -> None:
    role, secret = approle_files(tmp_path, secret_id="wrapping-token")
    seen: dict[str, Any] = {}

    def unwrap(request: httpx.Request, data: dict[str, Any]) -> dict[str, Any]:
        seen["token"] = request.headers.get("X-Vault-Token")
        return {"data": {"secret_id": "real-secret", "secret_id_accessor": "x"}}

    server = FakeServer({
        "sys/wrapping/lookup": respond({"data": {"creation_path": "auth/approle/role/web/secret-id"}}),
        "sys/wrapping/unwrap": unwrap,
        "auth/approle/login": respond(auth_body())})
    params = AppRoleParams(role, secret, True, "auth/approle/role/web/secret-id")
    method = AppRoleMethod("auth/approle", params)
    await method.login(context(server))
    assert server.paths() == ["sys/wrapping/lookup", "sys/wrapping/unwrap", "auth/approle/login"]
    assert server.calls[0][3] == {"token": "wrapping-token"} and seen["token"] == "wrapping-token"
    assert server.calls[2][3] == {"role_id": "r-1", "secret_id": "real-secret"}


async def test_wrapped_secret_id_from_elsewhere_or_spent_is_refused(tmp_path: Path) -> None:
    role, secret = approle_files(tmp_path, secret_id="wrapping-token")
    params = AppRoleParams(role, secret, True, "auth/approle/role/web/secret-id")
    server = FakeServer({"sys/wrapping/lookup": respond({"data": {"creation_path": "sys/wrapping/wrap"}})})
    with pytest.raises(PermanentError, match="created at 'sys/wrapping/wrap'"):
        await AppRoleMethod("auth/approle", params).login(context(server))
    assert "sys/wrapping/unwrap" not in server.paths()
    secret.write_text("spent")
    server = FakeServer({"sys/wrapping/lookup": fail(403, "permission denied")})
    with pytest.raises(PermanentError, match="not a valid wrapping token"):
        await AppRoleMethod("auth/approle", params).login(context(server))


async def test_kubernetes_reads_the_current_token_each_time(tmp_path: Path) -> None:
    jwt = tmp_path / "token"
    server = FakeServer({"auth/k8s/login": respond(auth_body())})
    method = KubernetesMethod("auth/k8s", KubernetesParams("web", jwt))
    for value in ("jwt-1", "jwt-2"):
        jwt.write_text(value)
        await method.login(context(server))
    assert [c[3] for c in server.calls] == [{"role": "web", "jwt": "jwt-1"}, {"role": "web", "jwt": "jwt-2"}]


async def test_login_wrap_ttl_header_and_a_tokenless_answer(tmp_path: Path) -> None:
    jwt = tmp_path / "token"
    jwt.write_text("j")
    headers: list[str | None] = []

    def login(request: httpx.Request, data: dict[str, Any]) -> dict[str, Any]:
        headers.append(request.headers.get("X-Vault-Wrap-TTL"))
        return {"data": {}}

    method = KubernetesMethod("auth/kubernetes", KubernetesParams("web", jwt))
    with pytest.raises(PermanentError, match="answered without a token"):
        await method.login(context(FakeServer({"auth/kubernetes/login": login}), wrap_ttl="90s"))
    assert headers == ["90s"]


async def test_aws_from_metadata_with_imdsv2_and_a_stable_nonce() -> None:
    def metadata(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path == "/latest/api/token":
            return httpx.Response(200, text="imds-session")
        assert request.headers.get("X-aws-ec2-metadata-token") == "imds-session"
        assert request.url.path == "/latest/dynamic/instance-identity/pkcs7"
        return httpx.Response(200, text="MIIB\nAAAA\n")

    server = FakeServer({"auth/aws/login": respond(auth_body())})
    nonces = iter(["nonce-1", "nonce-2"])
    method = AwsMethod("auth/aws", AwsParams("node", metadata_address="http://169.254.169.254"),
                       lambda: next(nonces))
    ctx = context(server, metadata=httpx.MockTransport(metadata))
    await method.login(ctx)
    await method.login(ctx)
    assert [c[3] for c in server.calls] == [{"role": "node", "pkcs7": "MIIBAAAA", "nonce": "nonce-1"}] * 2


async def test_aws_from_a_file_imdsv1_and_failures(tmp_path: Path) -> None:
    document = tmp_path / "pkcs7"
    document.write_text("MIIB\n")
    server = FakeServer({"auth/aws/login": respond(auth_body())})
    await AwsMethod("auth/aws", AwsParams("node", document, nonce="fixed")).login(context(server))
    assert server.calls[0][3] == {"role": "node", "pkcs7": "MIIB", "nonce": "fixed"}

    def v1_only(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403) if request.method == "PUT" else httpx.Response(200, text="V1DOC")

    node = AwsParams("node")
    await AwsMethod("auth/aws", node).login(context(server, metadata=httpx.MockTransport(v1_only)))
    assert server.calls[1][3]["pkcs7"] == "V1DOC"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    with pytest.raises(AgentError, match="cannot reach the instance metadata service"):
        await AwsMethod("auth/aws", node).login(context(server, metadata=httpx.MockTransport(down)))
    empty = httpx.MockTransport(lambda request: httpx.Response(404))
    with pytest.raises(AgentError, match="gave no identity document"):
        await AwsMethod("auth/aws", AwsParams("node")).login(context(server, metadata=empty))


async def test_token_file_looks_the_token_up(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s.file-token\n")
    server = FakeServer({"auth/token/lookup-self": respond(
        {"data": {"accessor": "acc", "ttl": 3600, "renewable": True, "policies": ["etcd"]}})})
    response = await TokenFileMethod(TokenFileParams(path)).login(context(server))
    assert response["auth"] == {"client_token": "s.file-token", "accessor": "acc", "lease_duration": 3600,
                                "renewable": True, "policies": ["etcd"]}
    assert server.calls[0][2] == "s.file-token"


def test_build_method_picks_the_class() -> None:
    kinds = {"token_file": TokenFileParams(Path("/t")), "approle": AppRoleParams(Path("/r")),
             "kubernetes": KubernetesParams("r"), "aws": AwsParams("r")}
    classes = [type(build_method(MethodConfig(k, f"auth/{k}", p))).__name__ for k, p in kinds.items()]
    assert classes == ["TokenFileMethod", "AppRoleMethod", "KubernetesMethod", "AwsMethod"]
