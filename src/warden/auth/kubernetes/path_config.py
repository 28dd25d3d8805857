"""``config``: where the Kubernetes API is, how to trust it, and how to verify JWTs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from warden.auth.kubernetes.jwt_local import PublicKey, load_public_key
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage, get_json, put_json

CONFIG_KEY = "config"
SCHEMA_VERSION = 1

CONFIG_FIELDS: dict[str, Field] = {
    "kubernetes_host": Field(
        FieldType.STRING, "Required. The Kubernetes API server: a host, host:port, or https:// URL."),
    "kubernetes_ca_cert": Field(
        FieldType.STRING, "PEM CA certificate(s) the API server's TLS certificate must chain to."),
    "token_reviewer_jwt": Field(
        FieldType.STRING,
        "A service-account JWT allowed to create TokenReviews (system:auth-delegator). "
        "Write-only: never returned. When unset, each login's own JWT reviews itself."),
    "pem_keys": Field(
        FieldType.COMMA_STRING_SLICE,
        "PEM public keys or certificates of the cluster's service-account signer. When set, "
        "JWTs are verified locally with these keys and the API server is never called."),
    "issuer": Field(
        FieldType.STRING, "Expected iss claim of service-account JWTs (the API server's "
        "--service-account-issuer)."),
    "disable_iss_validation": Field(
        FieldType.BOOL,
        "Skip checking the iss claim. Defaults to true when no issuer is set, false when one is."),
    "disable_local_ca_jwt": Field(
        FieldType.BOOL, "Do not fall back to the pod's own service-account CA and token files "
        "when kubernetes_ca_cert or token_reviewer_jwt is unset."),
}


@dataclass(frozen=True, slots=True)
class KubeConfig:
    kubernetes_host: str
    kubernetes_ca_cert: str = ""
    token_reviewer_jwt: str = ""
    pem_keys: tuple[str, ...] = ()
    issuer: str = ""
    disable_iss_validation: bool = True
    disable_local_ca_jwt: bool = False
    schema_version: int = SCHEMA_VERSION

    def public_keys(self) -> list[PublicKey]:
        return [load_public_key(pem) for pem in self.pem_keys]

    @property
    def expected_issuer(self) -> str:
        return "" if self.disable_iss_validation else self.issuer

    def view(self) -> dict[str, Any]:
        """What a read shows: everything but the reviewer JWT, which is only flagged."""
        data = asdict(self)
        del data["token_reviewer_jwt"], data["schema_version"]
        data["pem_keys"] = list(self.pem_keys)
        data["token_reviewer_jwt_set"] = bool(self.token_reviewer_jwt)
        return data


async def load_config(storage: Storage) -> KubeConfig | None:
    data = await get_json(storage, CONFIG_KEY)
    if data is None:
        return None
    data["pem_keys"] = tuple(data.get("pem_keys") or ())
    data["schema_version"] = SCHEMA_VERSION
    return KubeConfig(**{k: v for k, v in data.items() if k in KubeConfig.__dataclass_fields__})


def paths() -> list[Path]:
    return [Path("config/?", fields=CONFIG_FIELDS,
                 operations={Operation.READ: read_config, Operation.UPDATE: write_config},
                 existence_check=config_exists,
                 help_synopsis=CONFIG_SYN, help_description=CONFIG_DESC)]


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the kubernetes backend without its mount storage")
    return req.storage


async def config_exists(req: Request, data: FieldData) -> bool:
    return await load_config(_storage(req)) is not None


async def read_config(req: Request, data: FieldData) -> Response | None:
    config = await load_config(_storage(req))
    return None if config is None else Response(data=config.view())


async def write_config(req: Request, data: FieldData) -> Response | None:
    """A write replaces the whole configuration, as in Vault."""
    issuer = data.get("issuer").strip()
    disable_iss, supplied = data.get_ok("disable_iss_validation")
    config = KubeConfig(
        kubernetes_host=normalize_host(data.get("kubernetes_host")),
        kubernetes_ca_cert=_pem_framed(data.get("kubernetes_ca_cert")),
        token_reviewer_jwt=data.get("token_reviewer_jwt").strip(),
        pem_keys=tuple(_pem_keys(data.get("pem_keys"))),
        issuer=issuer,
        disable_iss_validation=bool(disable_iss) if supplied else not issuer,
        disable_local_ca_jwt=data.get("disable_local_ca_jwt"),
    )
    if config.disable_local_ca_jwt and not config.kubernetes_ca_cert and not config.pem_keys:
        # Vault (OpenBao): nothing would say whom to trust at the API server.
        raise InvalidRequest("kubernetes_ca_cert must be given when disable_local_ca_jwt is true "
                             "(or set pem_keys to verify JWTs locally)")
    await put_json(_storage(req), CONFIG_KEY, asdict(config))
    if config.kubernetes_ca_cert and not ca_certificates(config.kubernetes_ca_cert):
        return Response(warnings=[
            "kubernetes_ca_cert holds no certificate that parses: it was saved, but logins "
            "that call the TokenReview API will fail until it is replaced with the API "
            "server's CA certificate"])
    return None


def normalize_host(raw: str) -> str:
    """An https:// base URL. Plain http is refused: it would send JWTs in the clear."""
    host = raw.strip()
    if not host:
        raise InvalidRequest("kubernetes_host is required")
    if "://" not in host:
        host = "https://" + host
    parts = urlsplit(host)
    if parts.scheme != "https":
        raise InvalidRequest("kubernetes_host must use https: TokenReview sends bearer tokens")
    if not parts.hostname or parts.query or parts.fragment:
        raise InvalidRequest("kubernetes_host must be a host, host:port or https:// URL")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidRequest("kubernetes_host has an invalid port") from None
    return host.rstrip("/")


def _pem_framed(pem: str) -> str:
    """The CA bundle exactly as written. Like Vault, only its PEM framing is checked here
    (hvac's own suite writes a placeholder block); whether it parses is a warning now and a
    clear refusal at login (``ca_certificates``)."""
    if not pem.strip():
        return ""
    if "-----BEGIN" not in pem or "-----END" not in pem:
        raise InvalidRequest("kubernetes_ca_cert is not PEM-encoded: expected one or more "
                             "-----BEGIN CERTIFICATE----- blocks")
    return pem


def ca_certificates(pem: str) -> list[x509.Certificate]:
    """The certificates of a configured CA bundle; [] if none parses."""
    try:
        return x509.load_pem_x509_certificates(pem.strip().encode())
    except ValueError:
        return []


def _pem_keys(values: list[str]) -> list[str]:
    """Each entry one PEM block; a single string holding several blocks is split."""
    blocks: list[str] = []
    for value in values:
        blocks += _split_pem(value)
    for i, block in enumerate(blocks):
        try:
            load_public_key(block)
        except ValueError as exc:
            raise InvalidRequest(f"pem_keys entry {i + 1}: {exc}") from None
    return blocks


def _split_pem(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.strip().splitlines():
        current.append(line.strip())
        if line.strip().startswith("-----END"):
            blocks.append("\n".join(current) + "\n")
            current = []
    if current and any(line for line in current):
        blocks.append("\n".join(current) + "\n")
    return blocks


CONFIG_SYN = "Configure how JWTs are verified: TokenReview against the API server, or local keys."
CONFIG_DESC = """\
By default each login's JWT is checked with the Kubernetes TokenReview API at
kubernetes_host, over TLS verified against kubernetes_ca_cert, authenticated with
token_reviewer_jwt (or the login's own JWT when none is set). When pem_keys are
set, JWTs are verified locally against those keys instead, with no call to the API
server. Reading the config never returns token_reviewer_jwt.
"""
