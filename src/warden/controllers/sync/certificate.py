"""The WardenCertificate controller: a certificate from warden's PKI kept in a
``kubernetes.io/tls`` Secret (``tls.crt`` leaf + intermediates, ``tls.key``, ``ca.crt``),
as cert-manager's Certificate does.

The private key is made here (``spec.privateKey``: ECDSA P-256 by default, RSA 2048,
Ed25519) and only a CSR goes to ``<mount>/sign/<role>`` with the namespace's own login, so
the role decides what may be in the certificate. A certificate is issued when the Secret
is missing or incomplete, when it is past ``renewalTime`` (``notAfter - renewBefore``;
default a third of its lifetime) or expired, and when the spec changed (a hash of the
spec is kept in the Secret's ``warden.dev/spec-hash`` annotation). A failed issuance is
retried after 1m, 2m, 4m ... up to 1h, at once after a spec change.

Conditions: ``Ready`` (True/Ready; False/DoesNotExist, MissingData, Expired, Failed ...),
``Issuing`` while a certificate is being issued (True with the reason: DoesNotExist,
MissingData, InvalidCertificate, IncorrectCertificate, Expired, Renewing; False/Failed
after a failure; removed after success). Events: Issuing, Issued, Failed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from warden.agent.config_parse import ConfigError, parse_duration
from warden.api import ApiError
from warden.controllers.context import Context
from warden.controllers.crds import WardenCertificate
from warden.controllers.events import NORMAL, WARNING
from warden.controllers.plugin import DONE, ObjectKey, Result
from warden.controllers.sync.base import Refused, SyncBase, is_refusal
from warden.controllers.sync.owned import NotOwned, apply_secret, check_owner, desired_secret
from warden.controllers.sync.settings import SyncSettings
from warden.controllers.sync.status import (
    FALSE,
    ISSUING,
    READY,
    TRUE,
    condition,
    conditions_of,
    parse_timestamp,
    patch_status,
    timestamp,
    with_condition,
    without_condition,
)

NAME = "certificate-sync"
SPEC_HASH = "warden.dev/spec-hash"
SERIAL = "warden.dev/serial-number"
TLS = "kubernetes.io/tls"
FIRST_RETRY, MAX_RETRY = 60.0, 3600.0
KEY_SIZES = {"RSA": (2048, 3072, 4096), "ECDSA": (256, 384, 521), "Ed25519": (0,)}
CURVES: dict[int, Callable[[], ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


@dataclass(frozen=True, slots=True)
class CertSpec:
    mount: str
    role: str
    secret_name: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    duration: float | None
    renew_before: float | None
    algorithm: str
    size: int

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> CertSpec:
        key = spec.get("privateKey") or {}
        algorithm = str(key.get("algorithm") or "ECDSA")
        size = int(key.get("size") or {"RSA": 2048, "ECDSA": 256}.get(algorithm, 0))
        if size not in KEY_SIZES.get(algorithm, ()):
            raise Refused(
                "InvalidSpec",
                f"privateKey: {algorithm} keys of size {size} are not supported "
                f"(sizes: {', '.join(map(str, KEY_SIZES.get(algorithm, ())))})",
            )
        return cls(
            mount=str(spec["mount"]).strip("/"),
            role=str(spec["role"]),
            secret_name=str(spec["secretName"]),
            common_name=str(spec.get("commonName") or ""),
            dns_names=tuple(spec.get("dnsNames") or ()),
            ip_addresses=tuple(spec.get("ipAddresses") or ()),
            duration=_duration(spec, "duration"),
            renew_before=_duration(spec, "renewBefore"),
            algorithm=algorithm,
            size=size,
        )

    def digest(self) -> str:
        """What, if changed, needs a new certificate (renewBefore does not)."""
        fields = [
            self.mount,
            self.role,
            self.common_name,
            sorted(self.dns_names),
            sorted(self.ip_addresses),
            self.duration,
            self.algorithm,
            self.size,
        ]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()

    def sign_request(self, csr_pem: str) -> dict[str, Any]:
        body: dict[str, Any] = {"csr": csr_pem, "format": "pem"}
        if self.common_name:
            body["common_name"] = self.common_name
        else:
            body["common_name"] = (self.dns_names or self.ip_addresses)[0]
        if self.dns_names:
            body["alt_names"] = ",".join(self.dns_names)
        if self.ip_addresses:
            body["ip_sans"] = ",".join(self.ip_addresses)
        if self.duration:
            body["ttl"] = f"{int(self.duration)}s"
        return body


def _duration(spec: Mapping[str, Any], field: str) -> float | None:
    value = spec.get(field)
    if not value:
        return None
    try:
        return parse_duration(value, f"spec.{field}")
    except ConfigError as exc:
        raise Refused("InvalidSpec", str(exc)) from None


@dataclass(frozen=True, slots=True)
class Held:
    """The certificate a Secret holds."""

    not_before: float
    not_after: float
    serial: str
    digest: str

    def renewal_time(self, renew_before: float | None) -> float:
        lifetime = self.not_after - self.not_before
        before = renew_before if renew_before is not None and 0 < renew_before < lifetime else lifetime / 3
        return self.not_after - before


def held(secret: Any | None) -> tuple[Held | None, str, str]:
    """(what the Secret holds, the Issuing reason, a message); reason "" when usable."""
    if secret is None:
        return None, "DoesNotExist", "Issuing certificate as Secret does not exist"
    data = secret.data or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        return None, "MissingData", "Issuing certificate as Secret does not contain a certificate and key"
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    except ValueError:
        return None, "InvalidCertificate", "Issuing certificate as Secret contains an invalid certificate"
    annotations = secret.metadata.annotations or {}
    return (
        Held(
            cert.not_valid_before_utc.timestamp(),
            cert.not_valid_after_utc.timestamp(),
            annotations.get(SERIAL) or _serial(cert),
            annotations.get(SPEC_HASH, ""),
        ),
        "",
        "",
    )


def _serial(cert: x509.Certificate) -> str:
    raw = f"{cert.serial_number:x}"
    raw = raw if len(raw) % 2 == 0 else "0" + raw
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def make_key(spec: CertSpec) -> Any:
    if spec.algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    if spec.algorithm == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(CURVES[spec.size]())


def make_csr(spec: CertSpec, key: Any) -> str:
    """The names go into the CSR itself, as cert-manager does: a PKI role that uses the
    CSR's SANs (warden's and Vault's default) takes them from there."""
    cn = spec.common_name or (spec.dns_names or spec.ip_addresses)[0]
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    try:
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ip_addresses]
    except ValueError as exc:
        raise Refused("InvalidSpec", f"ipAddresses: {exc}") from None
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if spec.algorithm == "Ed25519" else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def retry_delay(attempts: int) -> float:
    return float(min(MAX_RETRY, FIRST_RETRY * 2.0 ** max(0, attempts - 1)))


class CertificateSyncController(SyncBase):
    resource = WardenCertificate
    kind = "WardenCertificate"

    def __init__(self, settings: SyncSettings, ctx: Context) -> None:
        super().__init__(settings, ctx)
        self.name = NAME
        self.decide = ctx.decisions(NAME)

    async def reconcile(self, key: ObjectKey) -> Result:
        obj = self.get(key)
        if obj is None or obj.metadata.deletionTimestamp:
            return DONE
        try:
            spec = CertSpec.of(obj.spec or {})
        except Refused as refusal:
            await self._failed(obj, refusal, count=False)
            return DONE
        secret = self.secret(obj.metadata.namespace, spec.secret_name)
        current, reason, message = held(secret)
        now = self.ctx.clock.time()
        if current is not None:
            if current.digest != spec.digest():
                reason, message = "IncorrectCertificate", "Issuing certificate as the spec changed"
            elif now >= current.not_after:
                reason, message = (
                    "Expired",
                    f"Issuing certificate as it expired at {timestamp(current.not_after)}",
                )
            elif now >= current.renewal_time(spec.renew_before):
                reason = "Renewing"
                message = (
                    f"Renewing certificate as renewal was scheduled at "
                    f"{timestamp(current.renewal_time(spec.renew_before))}"
                )
        if not reason:
            assert current is not None
            await self._up_to_date(obj, spec, current)
            return Result(requeue_after=max(1.0, current.renewal_time(spec.renew_before) - now))
        wait = self._backing_off(obj, now)
        if wait is not None:
            return Result(requeue_after=wait)
        return await self._issue(obj, spec, secret, reason, message)

    def _backing_off(self, obj: Any, now: float) -> float | None:
        status = obj.status or {}
        failed = parse_timestamp(status.get("lastFailureTime"))
        issuing = condition(obj, ISSUING)
        if (
            failed is None
            or issuing is None
            or issuing.get("reason") != "Failed"
            or issuing.get("observedGeneration") != obj.metadata.generation
        ):
            return None
        due = failed + retry_delay(int(status.get("failedIssuanceAttempts") or 1))
        return due - now if due > now else None

    async def _issue(self, obj: Any, spec: CertSpec, secret: Any | None, reason: str, message: str) -> Result:
        if secret is None:
            secret = await self.current_secret(obj.metadata.namespace, spec.secret_name)
        try:
            check_owner(secret, obj)
        except NotOwned as exc:
            await self._failed(obj, Refused("SecretNotOwned", str(exc)), count=False)
            return Result(requeue_after=MAX_RETRY)
        await self._set(
            obj,
            {
                "conditions": with_condition(
                    conditions_of(obj),
                    ISSUING,
                    TRUE,
                    reason,
                    message,
                    obj.metadata.generation,
                    self.ctx.clock.time(),
                )
            },
        )
        await self.ctx.events.record(obj, NORMAL, "Issuing", message)
        try:
            signed = await self._sign(obj, spec)
        except Refused as refusal:
            await self._failed(obj, refusal)
            return Result(
                requeue_after=retry_delay(int((obj.status or {}).get("failedIssuanceAttempts") or 0) + 1)
            )
        cert_pem, key_bytes, ca_pem, serial = signed
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        annotations = {
            SPEC_HASH: spec.digest(),
            SERIAL: serial,
            "warden.dev/common-name": spec.common_name,
            "warden.dev/issuer": f"{spec.mount}/{spec.role}",
        }
        data = {
            "tls.crt": base64.b64encode(cert_pem.encode()).decode(),
            "tls.key": base64.b64encode(key_bytes).decode(),
            "ca.crt": base64.b64encode(ca_pem.encode()).decode(),
        }
        self.ctx.ensure_leading()
        await self.remove_stale(obj, spec.secret_name)
        self.remember(
            await apply_secret(self.ctx.kube, desired_secret(obj, spec.secret_name, TLS, data, annotations))
        )
        now_held = Held(
            cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp(), serial, spec.digest()
        )
        revision = int((obj.status or {}).get("revision") or 0) + 1
        await self._up_to_date(obj, spec, now_held, revision=revision, issued=True)
        self.decide(
            "issued",
            reason,
            object=f"{obj.metadata.namespace}/{obj.metadata.name}",
            serial=serial,
            not_after=timestamp(now_held.not_after),
            revision=revision,
        )
        await self.ctx.events.record(obj, NORMAL, "Issued", "The certificate has been successfully issued")
        return Result(
            requeue_after=max(1.0, now_held.renewal_time(spec.renew_before) - self.ctx.clock.time())
        )

    async def _sign(self, obj: Any, spec: CertSpec) -> tuple[str, bytes, str, str]:
        namespace = obj.metadata.namespace
        key = await asyncio.to_thread(make_key, spec)
        api = await self.warden(namespace)
        path = f"{spec.mount}/sign/{spec.role}"
        try:
            body = await api.write(path, spec.sign_request(make_csr(spec, key)))
        except ApiError as exc:
            if is_refusal(exc):
                raise await self.refused(namespace, exc, f"sign at {path}") from None
            raise
        data = (body or {}).get("data") or {}
        leaf = str(data.get("certificate") or "").strip()
        if not leaf:
            raise Refused("WardenRefused", f"{path} answered without a certificate")
        chain = [str(c).strip() for c in data.get("ca_chain") or [] if str(c).strip()]
        issuing = str(data.get("issuing_ca") or "").strip() or (chain[0] if chain else "")
        intermediates = [c for c in chain if not _self_signed(c)]
        # What peers trust: the mount's trust bundle (old and new CA while it rotates),
        # else the chain's root as Vault answers it.
        trust = [str(c).strip() for c in data.get("trust_bundle") or [] if str(c).strip()]
        ca = "\n".join(dict.fromkeys(trust)) if trust else (chain[-1] if chain else issuing)
        return (
            "\n".join(dict.fromkeys([leaf, *intermediates])) + "\n",
            key_pem(key),
            ca + "\n",
            str(data.get("serial_number") or ""),
        )

    async def _up_to_date(
        self, obj: Any, spec: CertSpec, current: Held, *, revision: int | None = None, issued: bool = False
    ) -> None:
        now = self.ctx.clock.time()
        conditions = with_condition(
            conditions_of(obj),
            READY,
            TRUE,
            "Ready",
            "Certificate is up to date and has not expired",
            obj.metadata.generation,
            now,
        )
        status: dict[str, Any] = {
            "observedGeneration": obj.metadata.generation,
            "notBefore": timestamp(current.not_before),
            "notAfter": timestamp(current.not_after),
            "serialNumber": current.serial,
            "renewalTime": timestamp(current.renewal_time(spec.renew_before)),
            "conditions": without_condition(conditions, ISSUING),
        }
        if issued:
            status.update(revision=revision, lastFailureTime=None, failedIssuanceAttempts=None)
        old = obj.status or {}
        if (
            not issued
            and all(old.get(k) == v for k, v in status.items() if k != "conditions")
            and _same_conditions(old.get("conditions") or [], status["conditions"])
        ):
            return
        await self._set(obj, status)

    async def _failed(self, obj: Any, refusal: Refused, *, count: bool = True) -> None:
        now = self.ctx.clock.time()
        generation = obj.metadata.generation
        conditions = with_condition(
            conditions_of(obj), READY, FALSE, refusal.reason, str(refusal), generation, now
        )
        conditions = with_condition(
            conditions,
            ISSUING,
            FALSE,
            "Failed",
            f"The certificate request has failed to complete: {refusal}",
            generation,
            now,
        )
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": conditions}
        if count:
            status["lastFailureTime"] = timestamp(now)
            status["failedIssuanceAttempts"] = int((obj.status or {}).get("failedIssuanceAttempts") or 0) + 1
        await self._set(obj, status)
        self.decide(
            "failed",
            str(refusal),
            object=f"{obj.metadata.namespace}/{obj.metadata.name}",
            reason_code=refusal.reason,
        )
        await self.ctx.events.record(obj, WARNING, "Failed", str(refusal))

    async def _set(self, obj: Any, status: Mapping[str, Any]) -> None:
        self.ctx.ensure_leading()
        await patch_status(self.ctx.kube, WardenCertificate, obj, status)


def _self_signed(pem: str) -> bool:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.issuer == cert.subject


def _same_conditions(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> bool:
    def strip(items: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("observedGeneration")) for c in items
        )

    return strip(old) == strip(new)
