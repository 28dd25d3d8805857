"""Pure logic of the sync and pod-credential controllers: their configuration blocks, the
certificate spec (digest, CSR, renewal time), the WardenSecret data mapping, conditions,
the printed warden policy, and per-namespace logins (cached, renewed, root refused)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from warden.agent.autoauth import RootTokenRefused
from warden.agent.config_parse import ConfigError
from warden.api.kv import KvSecret
from warden.controllers.config import parse_config
from warden.controllers.kinds import KINDS
from warden.controllers.rbac import controller_policy, manifests
from warden.controllers.sync.base import Refused
from warden.controllers.sync.certificate import CertSpec, Held, make_csr, make_key, retry_delay
from warden.controllers.sync.secret import refresh_of, secret_data
from warden.controllers.sync.status import with_condition
from warden.controllers.tenancy import NamespaceAuth, NamespaceLoginFailed, NamespaceSessions

BASE = {
    "warden": {"address": "http://127.0.0.1:8200"},
    "auto_auth": {"method": {"token_file": {"config": {"token_file_path": "/t"}}}},
}


def config(**blocks: Any) -> Any:
    return parse_config({**BASE, **blocks}, {}, KINDS)


# -- configuration ------------------------------------------------------------------------------


def test_sync_blocks_parse_with_defaults_and_namespace_auth() -> None:
    parsed = config(
        secret_sync={"namespaces": ["team-a"], "namespace_auth": {"role": "sync-{namespace}"}},
        certificate_sync={},
    )
    secrets, certificates = (c.settings for c in parsed.controllers)
    assert secrets.namespaces == ("team-a",) and secrets.auth.role_for("team-a") == "sync-team-a"
    assert certificates.auth == NamespaceAuth() and certificates.workers == 2


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"namespaces": ["Bad_NS"]}, "is not a namespace name"),
        ({"workers": 0}, "from 1 to 64"),
        ({"namespace_auth": {"token_ttl": "1m"}}, "at least 10m"),
        ({"namespace_auth": {"colour": "red"}}, "colour"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_sync_blocks_are_refused(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(secret_sync=block)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"ca_mount": "pods"}, "roles is required"),
        ({"roles": ["web"]}, "ca_file or ca_mount"),
        ({"roles": ["web"], "ca_mount": "p", "ca_file": "/x"}, "not both"),
        ({"roles": ["web/../x"], "ca_mount": "p"}, "is not a role name"),
        ({"roles": ["web"], "ca_mount": "p", "wrap_ttl": "2h"}, "between 5s and 1h"),
        ({"roles": ["web"], "ca_mount": "p", "port": 70000}, "a port number"),
    ],
)
def test_bad_pod_credential_blocks_are_refused(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(pod_credentials=block)


def test_the_printed_policy_names_only_the_configured_roles() -> None:
    parsed = config(pod_credentials={"roles": ["web", "batch"], "ca_mount": "pods"})
    policy = controller_policy(parsed)
    assert (
        'path "auth/approle/role/web/secret-id"' in policy
        and 'path "auth/approle/role/batch/role-id"' in policy
    )
    assert "*" not in policy and policy.count("path ") == 4
    assert "no policy of their own" in controller_policy(config(secret_sync={}))


def test_rbac_rules_are_merged_without_duplicates() -> None:
    parsed = config(secret_sync={}, certificate_sync={}, pod_credentials={"roles": ["web"], "ca_mount": "p"})
    role = next(
        m for m in manifests(parsed, service_account="sa", namespace="ns") if m["kind"] == "ClusterRole"
    )
    rules = role["rules"]
    assert len(rules) == len({repr(r) for r in rules})
    assert {
        "apiGroups": [""],
        "resources": ["serviceaccounts/token"],
        "resourceNames": ["warden-sync"],
        "verbs": ["create"],
    } in rules
    assert rules[0]["apiGroups"] is not rules[1]["apiGroups"]


# -- WardenSecret data -----------------------------------------------------------------------------


def _decoded(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_secret_data_maps_keys_renders_templates_and_reports_missing_keys() -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined)
    secret = KvSecret({"user": "u", "password": "p", "port": 5432}, "kv/", 2, 7)
    everything = _decoded(secret_data({"path": "kv/x"}, secret, env))
    assert everything == {"user": "u", "password": "p", "port": "5432"}
    mapped = _decoded(
        secret_data(
            {
                "path": "kv/x",
                "keys": [{"key": "PW", "from": "password"}],
                "templates": {"dsn": "{{ data.user }}@v{{ version }}"},
            },
            secret,
            env,
        )
    )
    assert mapped == {"PW": "p", "dsn": "u@v7"}
    with pytest.raises(Refused) as missing:
        secret_data({"path": "kv/x", "keys": [{"key": "a", "from": "nope"}]}, secret, env)
    assert missing.value.reason == "MissingKey"
    with pytest.raises(Refused) as broken:
        secret_data({"path": "kv/x", "templates": {"t": "{{ data.nope }}"}}, secret, env)
    assert broken.value.reason == "TemplateError"
    with pytest.raises(Refused):  # the sandbox holds
        secret_data({"path": "kv/x", "templates": {"t": "{{ ''.__class__.__mro__ }}"}}, secret, env)


def test_refresh_interval_defaults_and_floors() -> None:
    assert refresh_of({}) == 60 and refresh_of({"refreshInterval": "5m"}) == 300
    assert refresh_of({"refreshInterval": "0s"}) == 1 and refresh_of({"refreshInterval": "soon"}) == 60


# -- WardenCertificate -----------------------------------------------------------------------------

SPEC = {
    "mount": "apps",
    "role": "web",
    "secretName": "tls",
    "commonName": "a.example.com",
    "dnsNames": ["a.example.com", "b.example.com"],
    "ipAddresses": ["10.0.0.1"],
    "duration": "24h",
}


def test_the_digest_changes_with_what_needs_a_new_certificate_only() -> None:
    base = CertSpec.of(SPEC)
    assert CertSpec.of({**SPEC, "renewBefore": "1h"}).digest() == base.digest()
    assert CertSpec.of({**SPEC, "dnsNames": ["b.example.com", "a.example.com"]}).digest() == base.digest()
    for change in (
        {"dnsNames": ["a.example.com"]},
        {"duration": "48h"},
        {"role": "other"},
        {"privateKey": {"algorithm": "RSA"}},
    ):
        assert CertSpec.of({**SPEC, **change}).digest() != base.digest(), change


def test_the_csr_carries_the_names_and_the_requested_key() -> None:
    for algorithm, size in (("ECDSA", 384), ("RSA", 2048), ("Ed25519", None)):
        spec = CertSpec.of(
            {**SPEC, "privateKey": {"algorithm": algorithm, **({"size": size} if size else {})}}
        )
        key = make_key(spec)
        csr = x509.load_pem_x509_csr(make_csr(spec, key).encode())
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["a.example.com", "b.example.com"]
        assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
        assert csr.is_signature_valid
    with pytest.raises(Refused, match="not supported"):
        CertSpec.of({**SPEC, "privateKey": {"algorithm": "RSA", "size": 1024}})
    assert CertSpec.of(SPEC).sign_request("CSR")["ttl"] == "86400s"


@given(lifetime=st.integers(60, 10**8), before=st.one_of(st.none(), st.integers(0, 2 * 10**8)))
def test_renewal_is_before_expiry_and_defaults_to_a_third(lifetime: int, before: int | None) -> None:
    held = Held(1000.0, 1000.0 + lifetime, "s", "d")
    at = held.renewal_time(float(before) if before is not None else None)
    assert held.not_before <= at < held.not_after
    if before is None or not 0 < before < lifetime:
        assert at == pytest.approx(held.not_after - lifetime / 3)


def test_failed_issuance_backs_off_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [60, 120, 240] and retry_delay(50) == 3600


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    first = with_condition([], "Ready", "True", "Synced", "m", 1, 100.0)
    again = with_condition(first, "Ready", "True", "Synced", "m2", 2, 200.0)
    flipped = with_condition(again, "Ready", "False", "NotFound", "m3", 2, 300.0)
    assert again[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert flipped[0]["lastTransitionTime"] != first[0]["lastTransitionTime"]


# -- per-namespace logins --------------------------------------------------------------------------


@dataclass
class FakeClock:
    now: float = 1000.0

    def time(self) -> float:
        return self.now


@dataclass
class FakeKube:
    requests: list[tuple[str, str]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    async def create(self, obj: Any, name: str, namespace: str) -> Any:
        from lightkube.core.exceptions import ApiError

        if namespace in self.missing:
            import httpx2

            response = httpx2.Response(
                404,
                json={"kind": "Status", "code": 404, "message": "not found"},
                request=httpx2.Request("POST", "https://k"),
            )
            raise ApiError(response=response)
        self.requests.append((namespace, name))

        class Answer:
            class status:
                token = f"jwt-for-{namespace}"

        return Answer()


@dataclass
class FakeWarden:
    token: str
    log: list[tuple[str, str, Any]]
    policies: list[str] = field(default_factory=lambda: ["team"])

    async def write(self, path: str, data: Any = None) -> Any:
        self.log.append((self.token, path, data))
        if path.endswith("/login"):
            return {
                "auth": {
                    "client_token": f"token-{data['jwt']}-{len(self.log)}",
                    "lease_duration": 600,
                    "policies": self.policies,
                }
            }
        return {}

    async def read(self, path: str) -> Any:
        return {"data": {"policies": self.policies}}

    async def aclose(self) -> None:
        pass


def test_namespace_logins_are_cached_renewed_and_revoked() -> None:
    log: list[tuple[str, str, Any]] = []
    clock, kube = FakeClock(), FakeKube()
    sessions = NamespaceSessions(
        kube,
        NamespaceAuth(role="ns-{namespace}"),  # type: ignore[arg-type]
        lambda token: FakeWarden(token, log),
        clock,
    )  # type: ignore[arg-type,return-value]

    async def scenario() -> None:
        a1 = await sessions.client("a")
        assert await sessions.client("a") is a1 and kube.requests == [("a", "warden-sync")]
        b = await sessions.client("b")
        assert b is not a1 and b.token != a1.token
        logins = [entry for entry in log if entry[1] == "auth/kubernetes/login"]
        assert [e[2] for e in logins] == [
            {"role": "ns-a", "jwt": "jwt-for-a"},
            {"role": "ns-b", "jwt": "jwt-for-b"},
        ]
        clock.now += 401  # two thirds of 600 s
        a2 = await sessions.client("a")
        assert a2 is not a1 and (a1.token, "auth/token/revoke-self", None) in log
        kube.missing.add("c")
        with pytest.raises(NamespaceLoginFailed, match="has no service account warden-sync"):
            await sessions.client("c")

    asyncio.run(scenario())


def test_a_namespace_login_with_root_is_refused() -> None:
    log: list[tuple[str, str, Any]] = []
    sessions = NamespaceSessions(
        FakeKube(),
        NamespaceAuth(),  # type: ignore[arg-type]
        lambda token: FakeWarden(token, log, ["root"]),
        FakeClock(),
    )  # type: ignore[arg-type,return-value]
    with pytest.raises(RootTokenRefused):
        asyncio.run(sessions.client("a"))
