"""``warden k8s controller``'s configuration: the agent's language and blocks
(``warden {}``, ``auto_auth {}``, ``listener "tcp" {}``, read by the agent's own parsers),
``kubernetes {}``, ``leader_election {}``, and one block type per controller kind
(``signer "<signerName>" {...}`` and the others registered in ``warden.controllers.kinds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.agent.config import (
    AutoAuthConfig,
    MetricsListener,
    ServerSettings,
    parse_auto_auth,
    parse_listener,
    parse_server,
)
from warden.agent.config_parse import Block, ConfigError, labeled_blocks
from warden.agent.config_source import read_document
from warden.controllers.kubeclient import KubernetesSettings
from warden.controllers.leader import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    LeaderSettings,
)
from warden.controllers.plugin import ControllerKind

__all__ = ["ConfigError", "Configured", "ControllerConfig", "load_config", "parse_config"]

_FIXED_TOP = frozenset({"warden", "vault", "auto_auth", "kubernetes", "leader_election", "listener",
                        "pid_file"})


@dataclass(frozen=True, slots=True)
class Configured:
    """One controller kind with the settings parsed from its blocks."""

    kind: ControllerKind[Any]
    settings: Any


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    server: ServerSettings
    auto_auth: AutoAuthConfig
    kubernetes: KubernetesSettings
    leader_election: LeaderSettings
    controllers: tuple[Configured, ...]
    listener: MetricsListener | None = None
    pid_file: Path | None = None


def load_config(path: str | Path, env: Mapping[str, str], kinds: Sequence[ControllerKind[Any]]
                ) -> ControllerConfig:
    return parse_config(read_document(Path(path)), env, kinds)


def parse_config(document: Mapping[str, Any], env: Mapping[str, str],
                 kinds: Sequence[ControllerKind[Any]]) -> ControllerConfig:
    by_block = {k.block: k for k in kinds}
    known = _FIXED_TOP | set(by_block)
    for key in document:
        if key not in known:
            names = ", ".join(sorted(known - {"vault"}))
            raise ConfigError(f"unknown top-level block \"{key}\" (known: {names})")
    top = Block("", document)
    config = ControllerConfig(
        server=parse_server(top, env),
        auto_auth=_auto_auth(top),
        kubernetes=_kubernetes(top.child("kubernetes", "kubernetes")),
        leader_election=_leader_election(top.child("leader_election", "leader_election")),
        controllers=_controllers(top, kinds),
        listener=parse_listener(top.raw("listener")),
        pid_file=Path(top.string("pid_file")) if top.has("pid_file") else None,
    )
    top.finish()
    return config


def _auto_auth(top: Block) -> AutoAuthConfig:
    auto_auth = parse_auto_auth(top)
    if auto_auth.sinks:
        raise ConfigError("auto_auth: a controller keeps its token to itself; remove the sink blocks")
    if auto_auth.method.wrap_ttl:
        raise ConfigError("auto_auth.method: wrap_ttl gives a token the controller cannot use; remove it")
    return auto_auth


def _kubernetes(b: Block) -> KubernetesSettings:
    kubeconfig = b.string("kubeconfig")
    settings = KubernetesSettings(kubeconfig=Path(kubeconfig) if kubeconfig else None,
                                  context=b.string("context"), timeout=b.duration("timeout", 30.0))
    b.finish()
    if settings.context and settings.kubeconfig is None:
        raise ConfigError("kubernetes: context needs kubeconfig")
    if settings.timeout <= 0:
        raise ConfigError("kubernetes: timeout must be positive")
    return settings


def _leader_election(b: Block) -> LeaderSettings:
    settings = LeaderSettings(
        namespace=b.string("namespace", "kube-system"),
        name=b.string("name", "warden-controller"),
        identity=b.string("identity"),
        lease_duration=b.duration("lease_duration", DEFAULT_LEASE_DURATION),
        renew_deadline=b.duration("renew_deadline", DEFAULT_RENEW_DEADLINE),
        retry_period=b.duration("retry_period", DEFAULT_RETRY_PERIOD),
    )
    b.finish()
    if not settings.namespace or not settings.name:
        raise ConfigError("leader_election: namespace and name must not be empty")
    if not 0 < settings.retry_period < settings.renew_deadline:
        raise ConfigError("leader_election: need 0 < retry_period < renew_deadline")
    if settings.lease_duration <= settings.renew_deadline + settings.retry_period:
        raise ConfigError("leader_election: lease_duration must be longer than renew_deadline + "
                          "retry_period, so a leader has stopped before another replica can take over")
    return settings


def _controllers(top: Block, kinds: Sequence[ControllerKind[Any]]) -> tuple[Configured, ...]:
    configured = []
    for kind in kinds:
        if not top.has(kind.block):
            top.used.add(kind.block)
            continue
        blocks = [(label, Block(f"{kind.block} \"{label}\"" if label else kind.block, body))
                  for label, body in labeled_blocks(top.raw(kind.block), kind.fields, kind.block)]
        configured.append(Configured(kind, kind.parse(blocks)))
    if not configured:
        names = ", ".join(f"{k.block} (\"{k.summary}\")" for k in kinds)
        raise ConfigError(f"no controller is configured: add at least one block of {names}")
    return tuple(configured)
