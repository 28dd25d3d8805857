"""Certificates: issue from ``<mount>/issue/<role>``, write key, certificate, CA (and an
optional bundle) as separate files, and renew at ``renew_at`` of the lifetime ± jitter.

On start a certificate already on disk is kept while it matches the block (identity and
key) and is not yet due, so restarting the agent does not restart the service. A failure
leaves the files alone; the agent retries with backoff and says when the current
certificate expires.

The CA file holds the mount's trust bundle when the server sends one (warden: old + new CA
while the mount's CA rotates), else Vault's ca_chain. Every ``trust_check_interval`` the
agent asks whether the bundle changed or its issuer stopped issuing, and then re-issues at
once (see ``trust``).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from warden.agent.backoff import Backoff, Uniform
from warden.agent.clock import Clock
from warden.agent.commands import CommandResult, CommandRunner
from warden.agent.config import CertificateConfig
from warden.agent.errors import AgentError, describe, is_retryable
from warden.agent.files import FileSpec, read_bytes, write_files
from warden.agent.logs import AgentLog
from warden.agent.metrics import AgentMetrics
from warden.agent.trust import parse_view, reissue_reason
from warden.api import AsyncClient, ClientError, Forbidden, JsonDict

TRUST_SETTLE = 1.1  # seconds between seeing a trust change and re-issuing for it

_PUBLIC = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class Validity:
    start: float  # when the lifetime being measured began
    not_after: float


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate: str
    private_key: str = field(repr=False)
    issuing_ca: str = ""
    ca_chain: tuple[str, ...] = ()
    trust_bundle: tuple[str, ...] = ()  # warden: what peers must trust (old + new while rotating)
    serial_number: str = ""
    not_before: float = 0.0
    not_after: float = 0.0

    @classmethod
    def from_response(cls, data: JsonDict) -> IssuedCertificate:
        try:
            cert = x509.load_pem_x509_certificate(str(data["certificate"]).encode())
            key = str(data["private_key"])
        except (KeyError, ValueError) as exc:
            raise AgentError(f"the issue response holds no usable certificate and key ({exc})") from None
        chain = tuple(str(c) for c in data.get("ca_chain") or ())
        trust = tuple(str(c) for c in data.get("trust_bundle") or ())
        return cls(certificate=str(data["certificate"]), private_key=key,
                   issuing_ca=str(data.get("issuing_ca") or ""), ca_chain=chain, trust_bundle=trust,
                   serial_number=str(data.get("serial_number") or ""),
                   not_before=cert.not_valid_before_utc.timestamp(),
                   not_after=cert.not_valid_after_utc.timestamp())

    def ca_pem(self) -> str:
        """The mount's trust bundle (warden), else the chain above the certificate (Vault's
        ca_chain), or the issuing CA alone."""
        return _joined(self.trust_bundle or self.ca_chain or ((self.issuing_ca,) if self.issuing_ca else ()))

    def bundle_pem(self) -> str:
        """Certificate, then the CA chain, then the key (the order HAProxy and nginx take)."""
        return _joined((self.certificate, *(self.ca_chain or (self.issuing_ca,)), self.private_key))


def _joined(pems: tuple[str, ...]) -> str:
    return "".join(p.strip() + "\n" for p in pems if p.strip())


def certificate_files(config: CertificateConfig, issued: IssuedCertificate) -> list[FileSpec]:
    """Key first: a reader that finds the new certificate also finds its key."""
    specs = [FileSpec(config.key_file, _joined((issued.private_key,)).encode(), config.key_perms),
             FileSpec(config.cert_file, _joined((issued.certificate,)).encode(), config.cert_perms)]
    if config.ca_file is not None and issued.ca_pem():
        specs.append(FileSpec(config.ca_file, issued.ca_pem().encode(), config.cert_perms))
    if config.bundle_file is not None:
        specs.append(FileSpec(config.bundle_file, issued.bundle_pem().encode(), config.key_perms))
    return specs


def renewal_time(validity: Validity, renew_at: float, jitter: float, uniform: Uniform) -> float:
    fraction = renew_at + (uniform(-jitter, jitter) if jitter > 0 else 0.0)
    return validity.start + (validity.not_after - validity.start) * fraction


def existing_certificate(config: CertificateConfig) -> Validity | None:
    """The validity of the certificate on disk if it still serves this block, else None."""
    cert_pem, key_pem = read_bytes(config.cert_file), read_bytes(config.key_file)
    if not cert_pem or not key_pem:
        return None
    if any(p is not None and read_bytes(p) is None for p in (config.ca_file, config.bundle_file)):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return None
    if key.public_key().public_bytes(*_PUBLIC) != cert.public_key().public_bytes(*_PUBLIC):
        return None
    if not _identity_matches(cert, config):
        return None
    return Validity(cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp())


def _identity_matches(cert: x509.Certificate, config: CertificateConfig) -> bool:
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [config.common_name]:
        return False
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return not (config.alt_names or config.ip_sans or config.uri_sans)
    dns = set(sans.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    uris = set(sans.get_values_for_type(x509.UniformResourceIdentifier))
    wanted_ips = {str(ipaddress.ip_address(ip)) for ip in config.ip_sans if _is_ip(ip)}
    return set(config.alt_names) <= dns and wanted_ips <= ips and set(config.uri_sans) <= uris


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def iso(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class CertificateKeeper:
    config: CertificateConfig
    api: AsyncClient
    clock: Clock
    uniform: Uniform
    log: AgentLog
    metrics: AgentMetrics
    on_denied: Callable[[], None] = lambda: None
    min_backoff: float = 1.0
    max_backoff: float = 300.0
    current: Validity | None = None
    renew_at: float = 0.0
    last_command: CommandResult | None = None
    commands: CommandRunner | None = None

    async def ensure(self) -> None:
        """Keep a certificate on disk that is not yet due, or issue one (one attempt)."""
        found = existing_certificate(self.config)
        if found is not None:
            renew_at = renewal_time(found, self.config.renew_at, self.config.renew_jitter, self.uniform)
            if self.clock.time() < renew_at:
                self._adopt(found, renew_at)
                self.log.info("keeping the certificate on disk", certificate=self.config.name,
                              expires=iso(found.not_after), renew_at=iso(renew_at))
                return
        await self.issue()

    async def issue(self) -> None:
        """Issue, write the files (only those that changed), run the command on a change."""
        received = self.clock.time()
        body = await self.api.write(f"{self.config.mount}/issue/{self.config.role}",
                                    self.config.issue_request())
        issued = IssuedCertificate.from_response((body or {}).get("data") or {})
        changed = write_files(certificate_files(self.config, issued))
        validity = Validity(max(issued.not_before, min(received, issued.not_after)), issued.not_after)
        self._adopt(validity, renewal_time(validity, self.config.renew_at, self.config.renew_jitter,
                                           self.uniform))
        self.metrics.cert_renewals.labels(certificate=self.config.name).inc()
        self.log.info("wrote certificate", certificate=self.config.name, serial=issued.serial_number,
                      expires=iso(issued.not_after), renew_at=iso(self.renew_at),
                      files=",".join(str(p) for p in changed))
        self.last_command = None
        if changed and self.config.command is not None:
            runner = self.commands or CommandRunner(self.log, self.metrics)
            self.last_command = await runner.run(self.config.command, f"certificate {self.config.name}")

    def _adopt(self, validity: Validity, renew_at: float) -> None:
        self.current, self.renew_at = validity, renew_at
        self.metrics.cert_expires_at[self.config.name] = validity.not_after

    async def run(self) -> None:
        await self._with_retry(self.ensure)
        await self.check_trust()
        while True:
            # Never sooner than min_backoff: a certificate that is already due when issued
            # (a role's TTL shorter than expected, a skewed clock) must not become a tight loop.
            now = self.clock.time()
            wake = min(self.renew_at, self._next_trust_check(now))
            await self.clock.sleep(max(wake - now, self.min_backoff))
            if self.clock.time() >= self.renew_at:
                await self._with_retry(self.issue)
            else:
                await self.check_trust()

    def _next_trust_check(self, now: float) -> float:
        interval = self.config.trust_check_interval
        return now + interval * self.uniform(0.9, 1.1) if interval > 0 else float("inf")

    async def check_trust(self) -> None:
        """Re-issue now if the mount's CA is rotating under this certificate (one attempt at
        the check; the re-issue retries like a renewal). A failed check changes nothing."""
        if self.config.trust_check_interval <= 0:
            return
        try:
            body = await self.api.read(f"{self.config.mount}/cert/trust_bundle")
        except ClientError as exc:
            self.log.warning("could not read the trust bundle", certificate=self.config.name,
                             error=describe(exc))
            return
        view = parse_view((body or {}).get("data"))
        if view is None:
            return
        ca_file = self.config.ca_file
        reason = reissue_reason(view, read_bytes(self.config.cert_file),
                                None if ca_file is None else (read_bytes(ca_file) or b""))
        if reason:
            self.log.info("re-issuing the certificate now", certificate=self.config.name, reason=reason)
            # The index records issuance to the second, and a rotation's begin counts a leaf
            # issued in the second its new CA appeared as fetched without it: issue in a later one.
            await self.clock.sleep(TRUST_SETTLE)
            await self._with_retry(self.issue)

    async def _with_retry(self, attempt: Callable[[], Any]) -> None:
        backoff = Backoff(self.min_backoff, self.max_backoff, self.uniform)
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                delay = backoff.next_delay()
                self.record_failure(exc, retry_in=delay)
                await self.clock.sleep(delay)

    def record_failure(self, exc: BaseException, **extra: Any) -> None:
        self.metrics.cert_failures.labels(certificate=self.config.name).inc()
        if isinstance(exc, Forbidden):
            self.on_denied()
        fields: dict[str, Any] = {"certificate": self.config.name, "error": describe(exc)}
        if self.current is not None:
            left = self.current.not_after - self.clock.time()
            fields.update(expires=iso(self.current.not_after), expires_in=int(left),
                          expired=left <= 0)
        fields.update({k: round(v, 2) if isinstance(v, float) else v for k, v in extra.items()})
        self.log.error("could not issue certificate; the current files stay in place", **fields)
