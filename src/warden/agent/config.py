"""The agent's configuration: frozen dataclasses, loaded from HCL, JSON or YAML.

The shape is Vault Agent's (``vault {}`` is accepted as an alias of ``warden {}``) plus
``certificate`` blocks that write a certificate, its key and its CA as separate files.
Every error names the block and the key it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.agent.config_parse import Block, ConfigError, labeled_blocks, parse_fraction
from warden.agent.config_sections import (
    CommandSpec,
    MethodConfig,
    SinkConfig,
    parse_command,
    parse_method,
    parse_perms,
    parse_sink,
)
from warden.agent.config_source import read_document
from warden.agent.files import Perms

__all__ = ["AgentConfig", "AutoAuthConfig", "CertificateConfig", "ConfigError", "MetricsListener",
           "ServerSettings", "TemplateConfig", "load_config", "parse_auto_auth", "parse_config",
           "parse_listener", "parse_server"]

DEFAULT_RENEW_AT = 2 / 3
DEFAULT_RENEW_JITTER = 0.05
DEFAULT_STATIC_INTERVAL = 300.0
DEFAULT_TRUST_CHECK = 300.0
CERT_PERMS, KEY_PERMS, KEEP_PERMS = Perms(0o644), Perms(0o600), Perms()

_TOP = frozenset({"warden", "vault", "auto_auth", "certificate", "template", "template_config",
                  "listener", "exit_after_auth", "pid_file"})
_CERT_FIELDS = frozenset({
    "mount", "role", "common_name", "alt_names", "ip_sans", "uri_sans", "ttl", "cert_file",
    "key_file", "ca_file", "bundle_file", "owner", "group", "mode", "key_mode", "command",
    "command_timeout", "renew_at", "renew_jitter", "private_key_format", "exec", "trust_check_interval"})
_TEMPLATE_FIELDS = frozenset({
    "source", "contents", "destination", "owner", "group", "perms", "mode", "command",
    "command_timeout", "exec", "error_on_missing_key", "left_delimiter", "right_delimiter",
    "create_dest_dirs"})
_LISTENER_FIELDS = frozenset({"address", "type", "tls_disable", "metrics_path"})


@dataclass(frozen=True, slots=True)
class ServerSettings:
    address: str
    ca_cert: str = ""
    ca_path: str = ""
    tls_skip_verify: bool = False
    client_cert: str = ""
    client_key: str = ""
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AutoAuthConfig:
    method: MethodConfig
    sinks: tuple[SinkConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    name: str
    mount: str
    role: str
    common_name: str
    cert_file: Path
    key_file: Path
    ca_file: Path | None = None
    bundle_file: Path | None = None
    alt_names: tuple[str, ...] = ()
    ip_sans: tuple[str, ...] = ()
    uri_sans: tuple[str, ...] = ()
    ttl: str = ""
    private_key_format: str = ""
    cert_perms: Perms = CERT_PERMS
    key_perms: Perms = KEY_PERMS
    command: CommandSpec | None = None
    renew_at: float = DEFAULT_RENEW_AT
    renew_jitter: float = DEFAULT_RENEW_JITTER
    trust_check_interval: float = DEFAULT_TRUST_CHECK  # 0: never look at the mount's trust bundle

    def issue_request(self) -> dict[str, Any]:
        """The body of ``<mount>/issue/<role>``."""
        body: dict[str, Any] = {"common_name": self.common_name, "format": "pem"}
        for key in ("alt_names", "ip_sans", "uri_sans"):
            if values := getattr(self, key):
                body[key] = ",".join(values)
        if self.ttl:
            body["ttl"] = self.ttl
        if self.private_key_format:
            body["private_key_format"] = self.private_key_format
        return body


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    name: str
    destination: Path
    source: Path | None = None
    contents: str = ""
    perms: Perms = KEEP_PERMS
    command: CommandSpec | None = None
    error_on_missing_key: bool = False
    left_delimiter: str = "{{"
    right_delimiter: str = "}}"
    create_dest_dirs: bool = True


@dataclass(frozen=True, slots=True)
class TemplateSettings:
    static_secret_render_interval: float = DEFAULT_STATIC_INTERVAL
    exit_on_retry_failure: bool = False


@dataclass(frozen=True, slots=True)
class MetricsListener:
    host: str
    port: int
    path: str = "/metrics"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    server: ServerSettings
    auto_auth: AutoAuthConfig
    certificates: tuple[CertificateConfig, ...] = ()
    templates: tuple[TemplateConfig, ...] = ()
    template_settings: TemplateSettings = TemplateSettings()
    listener: MetricsListener | None = None
    exit_after_auth: bool = False
    pid_file: Path | None = None
    path: Path | None = None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and check a configuration file (``.yaml``/``.yml`` as YAML, else HCL or JSON)."""
    path = Path(path)
    document = read_document(path)
    return parse_config(document, env or {}, path=path)


def parse_config(document: Mapping[str, Any], env: Mapping[str, str],
                 *, path: Path | None = None) -> AgentConfig:
    top = Block("", document)
    for key in document:
        if key not in _TOP:
            known = ", ".join(sorted(_TOP - {"vault"}))
            raise ConfigError(f"unknown top-level block \"{key}\" (known: {known})")
    config = AgentConfig(
        server=parse_server(top, env),
        auto_auth=parse_auto_auth(top),
        certificates=_certificates(top.raw("certificate")),
        templates=_templates(top.raw("template")),
        template_settings=_template_settings(top.child("template_config", "template_config")),
        listener=parse_listener(top.raw("listener")),
        exit_after_auth=top.boolean("exit_after_auth"),
        pid_file=Path(top.string("pid_file")) if top.has("pid_file") else None,
        path=path,
    )
    top.finish()
    _check_whole(config)
    return config


def parse_server(top: Block, env: Mapping[str, str]) -> ServerSettings:
    """The ``warden {}`` block (or its alias ``vault {}``); also read by ``warden k8s controller``."""
    if top.has("warden") and top.has("vault"):
        raise ConfigError("give either a \"warden\" block or its alias \"vault\", not both")
    key = "vault" if top.has("vault") else "warden"
    block = top.child(key, key)
    address = block.string("address") or env.get("WARDEN_ADDR", "") or env.get("VAULT_ADDR", "")
    if not address:
        raise ConfigError(f"{key}: missing required key \"address\" (or set WARDEN_ADDR)")
    if not address.startswith(("http://", "https://")):
        raise ConfigError(f"{key}: address: {address!r} must start with https:// or http://")
    settings = ServerSettings(
        address=address.rstrip("/"),
        ca_cert=block.string("ca_cert") or env.get("WARDEN_CACERT", "") or env.get("VAULT_CACERT", ""),
        ca_path=block.string("ca_path"),
        tls_skip_verify=block.boolean("tls_skip_verify"),
        client_cert=block.string("client_cert"),
        client_key=block.string("client_key"),
        timeout=block.duration("timeout", 30.0),
    )
    block.used.add("retry")  # Vault Agent's retry block: the agent's own backoff applies
    block.finish()
    if settings.client_key and not settings.client_cert:
        raise ConfigError(f"{key}: client_key needs client_cert")
    return settings


def parse_auto_auth(top: Block) -> AutoAuthConfig:
    """The ``auto_auth {}`` block; also read by ``warden k8s controller``."""
    block = top.child("auto_auth", "auto_auth", required=True)
    method = parse_method(block.raw("method"))
    sinks = [parse_sink(label, body, i) for i, (label, body) in
             enumerate(_sink_blocks(block.raw("sink"), block.raw("sinks")))]
    block.finish()
    return AutoAuthConfig(method, tuple(sinks))


def _sink_blocks(sink: Any, sinks: Any) -> list[tuple[str, Mapping[str, Any]]]:
    from warden.agent.config_sections import SINK_FIELDS

    found = list(labeled_blocks(sink, SINK_FIELDS, "auto_auth.sink"))
    for wrapper in sinks if isinstance(sinks, list) else ([sinks] if sinks else []):
        if not isinstance(wrapper, Mapping) or set(wrapper) - {"sink"}:
            raise ConfigError("auto_auth.sinks: expected sink blocks inside")
        found += labeled_blocks(wrapper.get("sink"), SINK_FIELDS, "auto_auth.sink")
    return found


def _certificates(value: Any) -> tuple[CertificateConfig, ...]:
    certs = [_certificate(label, body, i) for i, (label, body)
             in enumerate(labeled_blocks(value, _CERT_FIELDS, "certificate"))]
    _unique([c.name for c in certs], "certificate")
    return tuple(certs)


def _certificate(label: str, body: Mapping[str, Any], index: int) -> CertificateConfig:
    b = Block(f"certificate \"{label}\"" if label else f"certificate #{index + 1}", body)
    cert_file = b.string("cert_file", required=True)
    owner = (b.raw("owner"), b.raw("group"))
    renew_at = parse_fraction(b.raw("renew_at"), b.at("renew_at")) if b.has("renew_at") else DEFAULT_RENEW_AT
    jitter = _jitter(b, renew_at)
    config = CertificateConfig(
        name=label or b.string("common_name", required=True),
        mount=b.string("mount", required=True).strip("/"),
        role=b.string("role", required=True),
        common_name=b.string("common_name", required=True),
        cert_file=Path(cert_file),
        key_file=Path(b.string("key_file", required=True)),
        ca_file=Path(b.string("ca_file")) if b.has("ca_file") else None,
        bundle_file=Path(b.string("bundle_file")) if b.has("bundle_file") else None,
        alt_names=b.strings("alt_names"),
        ip_sans=b.strings("ip_sans"),
        uri_sans=b.strings("uri_sans"),
        ttl=_ttl(b),
        private_key_format=b.string("private_key_format"),
        cert_perms=parse_perms(b, owner, "mode", 0o644),
        key_perms=parse_perms(b, owner, "key_mode", 0o600),
        command=parse_command(b),
        renew_at=renew_at,
        renew_jitter=jitter,
        trust_check_interval=b.duration("trust_check_interval", DEFAULT_TRUST_CHECK),
    )
    b.finish()
    paths = [p for p in (config.cert_file, config.key_file, config.ca_file, config.bundle_file) if p]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{b.where}: cert_file, key_file, ca_file and bundle_file must differ")
    return config


def _ttl(b: Block) -> str:
    from warden.agent.config_parse import parse_duration

    ttl = b.string("ttl")
    if ttl:
        parse_duration(ttl, b.at("ttl"))
    return ttl


def _jitter(b: Block, renew_at: float) -> float:
    if not b.has("renew_jitter"):
        return min(DEFAULT_RENEW_JITTER, renew_at / 2, (1 - renew_at) / 2)
    jitter = float(parse_fraction(b.raw("renew_jitter"), b.at("renew_jitter")))
    if renew_at - jitter <= 0 or renew_at + jitter >= 1:
        raise ConfigError(f"{b.at('renew_jitter')}: renew_at ± renew_jitter must stay between 0 and 1")
    return jitter


def _templates(value: Any) -> tuple[TemplateConfig, ...]:
    templates = [_template(label, body, i) for i, (label, body)
                 in enumerate(labeled_blocks(value, _TEMPLATE_FIELDS, "template"))]
    _unique([str(t.destination) for t in templates], "template destination")
    return tuple(templates)


def _template(label: str, body: Mapping[str, Any], index: int) -> TemplateConfig:
    b = Block(f"template \"{label}\"" if label else f"template #{index + 1}", body)
    destination = Path(b.string("destination", required=True))
    source, contents = b.string("source"), b.string("contents")
    if bool(source) == bool(contents):
        raise ConfigError(f"{b.where}: give exactly one of \"source\" or \"contents\"")
    if b.has("perms") and b.has("mode"):
        raise ConfigError(f"{b.where}: \"perms\" and \"mode\" are the same setting; give one")
    mode_key = "perms" if b.has("perms") else "mode"
    config = TemplateConfig(
        name=label or str(destination),
        destination=destination,
        source=Path(source) if source else None,
        contents=contents,
        perms=parse_perms(b, (b.raw("owner"), b.raw("group")), mode_key, None),
        command=parse_command(b),
        error_on_missing_key=b.boolean("error_on_missing_key"),
        left_delimiter=b.string("left_delimiter", "{{") or "{{",
        right_delimiter=b.string("right_delimiter", "}}") or "}}",
        create_dest_dirs=b.boolean("create_dest_dirs", True),
    )
    b.used.update({"perms", "mode"})
    b.finish()
    return config


def _template_settings(b: Block) -> TemplateSettings:
    settings = TemplateSettings(
        static_secret_render_interval=b.duration("static_secret_render_interval", DEFAULT_STATIC_INTERVAL),
        exit_on_retry_failure=b.boolean("exit_on_retry_failure"),
    )
    b.finish()
    if settings.static_secret_render_interval <= 0:
        raise ConfigError("template_config: static_secret_render_interval must be positive")
    return settings


def parse_listener(value: Any) -> MetricsListener | None:
    """The optional ``listener "tcp" {}`` block serving metrics (and, for controllers, health)."""
    blocks = list(labeled_blocks(value, _LISTENER_FIELDS, "listener"))
    if not blocks:
        return None
    if len(blocks) > 1:
        raise ConfigError("listener: only one metrics listener is supported")
    label, body = blocks[0]
    b = Block(f"listener \"{label}\"" if label else "listener", body)
    kind = b.string("type", label or "tcp")
    if kind != "tcp":
        raise ConfigError(f"{b.where}: type must be \"tcp\", got {kind!r}")
    address = b.string("address", required=True)
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{b.at('address')}: {address!r} is not host:port")
    if b.has("tls_disable") and not b.boolean("tls_disable"):
        raise ConfigError(f"{b.at('tls_disable')}: the metrics listener serves plain HTTP only")
    path = b.string("metrics_path", "/metrics")
    b.finish()
    return MetricsListener(host.strip("[]") or "127.0.0.1", int(port), path)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"two {what} blocks are both named {name!r}; give them distinct labels")
        seen.add(name)


def _check_whole(config: AgentConfig) -> None:
    method = config.auto_auth.method
    if method.wrap_ttl and (config.certificates or config.templates):
        raise ConfigError("auto_auth.method: wrap_ttl gives a token the agent cannot use itself, "
                          "so it cannot be combined with certificate or template blocks")
    if method.wrap_ttl and not config.auto_auth.sinks:
        raise ConfigError("auto_auth.method: wrap_ttl needs at least one sink to write the wrapped token to")
    written = [str(s.path) for s in config.auto_auth.sinks]
    for cert in config.certificates:
        # A CA file may be shared by certificates of one CA; the others belong to one block.
        written += [str(p) for p in (cert.cert_file, cert.key_file, cert.bundle_file) if p]
    written += [str(t.destination) for t in config.templates]
    dup = next((p for p in written if written.count(p) > 1), None)
    if dup:
        raise ConfigError(f"the file {dup} is written by two blocks")

