"""Templates: Jinja2 (sandboxed) rendered to a file, for layouts a certificate block does
not give (a kubeconfig with embedded certificate data, a config file with a password).

Functions a template may call:
  ``secret(path, **params)``   read a path (write it when params are given), Vault's
                               response with ``data`` (also ``Data``);
  ``kv(path, key=None)``       a kv secret's key/value map (kv v1 or v2, found out from
                               the mount), or one value of it;
  ``pki_cert(path, **params)`` issue from ``<mount>/issue/<role>`` (``path`` is
                               ``"<mount>/issue/<role>"``; alias ``pkiCert``); the
                               result has ``certificate``/``cert``, ``private_key``/``key``,
                               ``ca``, ``issuing_ca``, ``ca_chain``, ``serial_number``,
                               ``expiration``. It is re-issued only when due for renewal,
                               also across restarts (the rendered file is looked at first);
  ``env(name, default="")``    an environment variable.
Filters: ``b64encode``, ``b64decode`` (plus Jinja's ``tojson``, ``indent``, ...).

A template is rendered again when the first certificate it issued is due for renewal, or
after ``static_secret_render_interval`` when it read secrets; its file is rewritten (and
its command run) only when the output changed.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from warden.agent.backoff import Backoff, Uniform
from warden.agent.certs import IssuedCertificate, Validity, iso, renewal_time
from warden.agent.clock import Clock
from warden.agent.commands import CommandResult, CommandRunner
from warden.agent.config import DEFAULT_RENEW_AT, DEFAULT_RENEW_JITTER, TemplateConfig, TemplateSettings
from warden.agent.errors import AgentError, PermanentError, describe, is_retryable
from warden.agent.files import FileSpec, write_file
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.agent.template_reuse import rendered_certificate
from warden.api import AsyncClient, Forbidden, JsonDict
from warden.api.kv import kv_mount

RETRY_ATTEMPTS = 12  # consul-template's default before exit_on_retry_failure gives up


def b64encode(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def b64decode(value: str) -> str:
    return base64.b64decode(value).decode()


def make_environment(config: TemplateConfig) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        enable_async=True, autoescape=False, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined if config.error_on_missing_key else jinja2.Undefined,
        variable_start_string=config.left_delimiter, variable_end_string=config.right_delimiter)
    env.filters.update(b64encode=b64encode, b64decode=b64decode)
    return env


@dataclass(slots=True)
class CachedCert:
    data: dict[str, Any]
    renew_at: float


@dataclass(slots=True)
class TemplateFunctions:
    """The functions of one render; they note when the output may next change."""

    api: AsyncClient
    clock: Clock
    uniform: Uniform
    certs: dict[str, CachedCert]
    static_interval: float
    environ: Mapping[str, str]
    destination: Path | None = None
    next_due: float = math.inf

    def globals(self) -> dict[str, Any]:
        return {"secret": self.secret, "kv": self.kv, "pki_cert": self.pki_cert,
                "pkiCert": self.pki_cert, "env": self.env}

    def _refresh_by(self, when: float) -> None:
        self.next_due = min(self.next_due, when)

    async def secret(self, path: str, *args: str, **params: Any) -> dict[str, Any]:
        params = {**_pairs(args), **params}
        body = await (self.api.write(path, params) if params else self.api.read(path))
        if body is None:
            raise AgentError(f"no secret at {path}")
        lease = float(body.get("lease_duration") or 0)
        interval = min(self.static_interval, 0.85 * lease) if lease > 0 else self.static_interval
        self._refresh_by(self.clock.time() + interval)
        return {**body, "Data": body.get("data")}

    async def kv(self, path: str, key: str | None = None) -> Any:
        path = path.strip("/")
        mount, version = await self._kv_mount(path)
        if version == 2:
            body = await self.secret(mount + "data/" + path[len(mount):])
            values = (body.get("data") or {}).get("data") or {}
        else:
            values = (await self.secret(path)).get("data") or {}
        if key is None:
            return values
        if key not in values:
            raise AgentError(f"the secret {path} has no key {key!r}")
        return values[key]

    async def _kv_mount(self, path: str) -> tuple[str, int]:
        return await kv_mount(self.api, path)

    async def pki_cert(self, path: str, *args: str, **params: Any) -> dict[str, Any]:
        mount, sep, role = path.strip("/").rpartition("/issue/")
        if not sep or not mount or not role:
            raise PermanentError(f"pki_cert: {path!r} is not \"<mount>/issue/<role>\"")
        params = {**_pairs(args), **params}
        cache_key = repr((mount, role, sorted(params.items())))
        cached = self.certs.get(cache_key)
        if cached is None and self.destination is not None:
            cached = self._already_rendered(params)
        if cached is None or self.clock.time() >= cached.renew_at:
            cached = await self._issue(mount, role, params)
        self.certs[cache_key] = cached
        self._refresh_by(cached.renew_at)
        return cached.data

    def _already_rendered(self, params: dict[str, Any]) -> CachedCert | None:
        """After a restart: the certificate the file already holds, if not yet due."""
        assert self.destination is not None
        data = rendered_certificate(self.destination, params)
        if data is None:
            return None
        issued = IssuedCertificate.from_response(data)
        validity = Validity(issued.not_before, issued.not_after)
        return CachedCert(_view(data, issued),
                          renewal_time(validity, DEFAULT_RENEW_AT, DEFAULT_RENEW_JITTER, self.uniform))

    async def _issue(self, mount: str, role: str, params: dict[str, Any]) -> CachedCert:
        received = self.clock.time()
        body = await self.api.write(f"{mount}/issue/{role}", params)
        data = _normalized((body or {}).get("data") or {})
        issued = IssuedCertificate.from_response(data)
        validity = Validity(max(issued.not_before, min(received, issued.not_after)), issued.not_after)
        renew_at = renewal_time(validity, DEFAULT_RENEW_AT, DEFAULT_RENEW_JITTER, self.uniform)
        return CachedCert(_view(data, issued), renew_at)

    def env(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default)


def _normalized(data: JsonDict) -> JsonDict:
    """PEM values without surrounding whitespace (Vault's own form), so a certificate
    rebuilt from a rendered file after a restart renders exactly as it did."""
    pem = {k: str(data[k]).strip() for k in ("certificate", "private_key", "issuing_ca") if data.get(k)}
    chain = [str(c).strip() for c in data.get("ca_chain") or ()]
    return {**data, **pem, **({"ca_chain": chain} if chain else {})}


def _view(data: JsonDict, issued: IssuedCertificate) -> dict[str, Any]:
    view = {**data, "cert": issued.certificate, "key": issued.private_key, "ca": issued.ca_pem(),
            "Cert": issued.certificate, "Key": issued.private_key, "CA": issued.ca_pem()}
    view["Data"] = dict(view)
    return view


def _pairs(args: tuple[str, ...]) -> dict[str, str]:
    """consul-template's ``"key=value"`` arguments."""
    pairs: dict[str, str] = {}
    for arg in args:
        key, sep, value = str(arg).partition("=")
        if not sep or not key:
            raise PermanentError(f"expected key=value, got {arg!r}")
        pairs[key] = value
    return pairs


@dataclass(slots=True)
class TemplateKeeper:
    config: TemplateConfig
    settings: TemplateSettings
    api: AsyncClient
    clock: Clock
    uniform: Uniform
    log: AgentLog
    metrics: AgentMetrics
    environ: Mapping[str, str] = field(default_factory=dict)
    on_denied: Callable[[], None] = lambda: None
    min_backoff: float = 1.0
    max_backoff: float = 300.0
    next_due: float = math.inf
    last_command: CommandResult | None = None
    commands: CommandRunner | None = None
    _certs: dict[str, CachedCert] = field(default_factory=dict)

    def _source(self) -> str:
        if self.config.source is None:
            return self.config.contents
        try:
            return self.config.source.read_text(encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or exc
            raise AgentError(f"cannot read template source {self.config.source}: {reason}") from None

    async def render(self) -> str:
        functions = TemplateFunctions(self.api, self.clock, self.uniform, self._certs,
                                      self.settings.static_secret_render_interval, self.environ,
                                      self.config.destination)
        try:
            template = make_environment(self.config).from_string(self._source())
            output = await template.render_async(**functions.globals())
        except jinja2.TemplateSyntaxError as exc:
            raise PermanentError(f"template {self.config.name}, line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise PermanentError(f"template {self.config.name}: {exc}") from None
        self.next_due = functions.next_due
        return output

    async def render_and_write(self) -> None:
        output = await self.render()
        if not self.config.create_dest_dirs and not self.config.destination.parent.is_dir():
            raise AgentError(f"the directory of {self.config.destination} does not exist "
                             "(create_dest_dirs = false)")
        changed = write_file(FileSpec(self.config.destination, output.encode(), self.config.perms))
        self.metrics.template_renders.labels(template=self.config.name).inc()
        fields = {"next_render": iso(self.next_due)} if math.isfinite(self.next_due) else {}
        self.log.info("rendered template" if changed else "template unchanged",
                      template=self.config.name, destination=str(self.config.destination), **fields)
        self.last_command = None
        if changed and self.config.command is not None:
            runner = self.commands or CommandRunner(self.log, self.metrics)
            self.last_command = await runner.run(self.config.command, f"template {self.config.name}")

    async def run(self) -> None:
        backoff = Backoff(self.min_backoff, self.max_backoff, self.uniform)
        while True:
            try:
                await self.render_and_write()
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                await self.clock.sleep(self._failed(exc, backoff))
                continue
            backoff.reset()
            wait = self.next_due - self.clock.time() if math.isfinite(self.next_due) else math.inf
            await self.clock.sleep(max(wait, self.min_backoff))

    def _failed(self, exc: BaseException, backoff: Backoff) -> float:
        self.metrics.template_failures.labels(template=self.config.name).inc()
        if isinstance(exc, Forbidden):
            self.on_denied()
        delay = backoff.next_delay()
        self.log.error("could not render template; the current file stays in place",
                       template=self.config.name, error=describe(exc), retry_in=round(delay, 2))
        if self.settings.exit_on_retry_failure and backoff.attempts >= RETRY_ATTEMPTS:
            raise PermanentError(f"template {self.config.name}: giving up after {backoff.attempts} "
                                 f"attempts: {describe(exc)}") from exc
        return delay
