"""The PodCertificateRequest signer: for each request of a configured signerName, issue a
certificate through warden for the identity the request names, or refuse it with a reason.

Never twice: everything is decided on a fresh GET (not the cache), only for a request that
is neither Issued, Denied nor Failed; the answer goes to ``/status`` with the
resourceVersion of that GET, so a second replica, a restart or a re-delivered event cannot
attach a second certificate. A certificate whose write failed (apiserver unreachable) is
kept and delivered on the retry instead of issuing another. A lost write race is logged
with the serial of the certificate that was issued but not delivered.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from warden.api import ApiError, Forbidden
from warden.controllers import kubeclient
from warden.controllers.context import Context
from warden.controllers.permissions import check_rules
from warden.controllers.plugin import DONE, ObjectKey, Result, Watch
from warden.controllers.podcert.binding import check_pod
from warden.controllers.podcert.identity import Identity, Refusal, admit, failed, identity_of
from warden.controllers.podcert.metrics import PodCertMetrics
from warden.controllers.podcert.rbac import signer_rules
from warden.controllers.podcert.request import DENIED, ISSUED, PcrFacts, read_pcr
from warden.controllers.podcert.resource import pod_certificate_request
from warden.controllers.podcert.settings import PodCertSettings, PodSignerSettings
from warden.controllers.podcert.signing import (
    REFRESH_AT,
    IssuedCert,
    PodRole,
    out_of_bounds,
    sign,
    sign_request,
)

NAME = "pod-certificate-signer"
WRITE_ATTEMPTS = 3
ISSUED_REASON = "Issued"


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodCertificateController:
    def __init__(self, settings: PodCertSettings, ctx: Context) -> None:
        self.settings = settings
        self.ctx = ctx
        self.name: str = NAME
        self.resource = pod_certificate_request()
        self.watches: Sequence[Watch] = tuple(Watch(self.resource, fields=(("spec.signerName", name),))
                                              for name in sorted(settings.signers))
        self.workers: int = settings.workers
        self.metrics = PodCertMetrics(ctx.registry)
        self.decide = ctx.decisions(NAME)
        self.roles: dict[str, PodRole] = {}
        self._seen: dict[ObjectKey, str] = {}  # key -> uid, to count each request once
        # issued but not yet written (the write failed), by request uid: delivered on the retry
        self._pending: dict[str, tuple[Identity, IssuedCert]] = {}

    async def prepare(self) -> None:
        await check_rules(self.ctx.kube, signer_rules(self.settings))
        self.roles = {name: await PodRole.load(self.ctx.warden, signer)
                      for name, signer in self.settings.signers.items()}

    def _cached(self, key: ObjectKey) -> Any | None:
        for watch in self.watches:
            found = self.ctx.store(watch).get(key)
            if found is not None:
                return found
        return None

    async def reconcile(self, key: ObjectKey) -> Result:
        cached = self._cached(key)
        if cached is None:
            self._forget(key)
            return DONE
        facts = read_pcr(cached)
        signer = self.settings.signers.get(facts.signer)
        if signer is None:
            return DONE
        if facts.settled:
            self._drop_pending(signer, facts)
            return DONE
        if self._seen.get(key) != facts.uid:
            self._seen[key] = facts.uid
            self.metrics.seen.labels(signer=signer.signer_name).inc()
        fresh = await self._get(key)
        if fresh is None:
            self._forget(key)
            return DONE
        facts = read_pcr(fresh)
        if facts.settled or facts.signer != signer.signer_name:
            self._drop_pending(signer, facts)
            return DONE
        pending = self._pending.get(facts.uid)
        if pending is not None:
            await self._deliver(signer, fresh, *pending)
            return DONE
        decided = await self._decide(signer, facts)
        if isinstance(decided, Refusal):
            await self._refuse(signer, facts, fresh, decided)
            return DONE
        return await self._issue(signer, facts, fresh, *decided)

    async def _get(self, key: ObjectKey) -> Any | None:
        try:
            return await self.ctx.kube.get(self.resource, key.name, namespace=key.namespace)
        except Exception as exc:
            if kubeclient.is_not_found(exc):
                return None
            raise

    async def _decide(self, signer: PodSignerSettings, facts: PcrFacts) -> Refusal | tuple[Identity, int]:
        """The identity and lifetime to issue, or why not."""
        role = self.roles[signer.signer_name]
        refused = admit(signer, facts)
        if refused is None:
            assert facts.key is not None
            refused = role.refuses_key(facts.key)
        if refused is None:
            refused = await check_pod(self.ctx.kube, facts)
        if refused is not None:
            return refused
        identity = identity_of(signer, facts)
        if isinstance(identity, Refusal):
            return identity
        lifetime = role.lifetime(facts)
        if isinstance(lifetime, Refusal):
            return lifetime
        return identity, lifetime

    # -- issuing --------------------------------------------------------------------------

    async def _issue(self, signer: PodSignerSettings, facts: PcrFacts, fresh: Any, identity: Identity,
                     lifetime: int) -> Result:
        body = sign_request(facts, identity, lifetime, self.roles[signer.signer_name].backdate)
        self.ctx.ensure_leading()
        started = time.perf_counter()
        try:
            cert = await sign(self.ctx.warden, signer, body)
        except Forbidden:
            self.ctx.report_denied()
            raise
        except ApiError as exc:
            if 400 <= exc.status < 500 and exc.status not in (403, 408, 412, 429):
                await self._refuse(signer, facts, fresh, warden_refusal(exc))
                return DONE
            raise
        self.metrics.sign_seconds.labels(signer=signer.signer_name).observe(time.perf_counter() - started)
        bad = out_of_bounds(cert, facts)
        if bad is not None:
            self._undelivered(signer, facts, cert, bad.message)
            await self._refuse(signer, facts, fresh, bad)
            return DONE
        self._pending[facts.uid] = (identity, cert)
        await self._deliver(signer, fresh, identity, cert)
        return DONE

    def _issued_status(self, identity: Identity, cert: IssuedCert) -> dict[str, Any]:
        refresh = cert.begin_refresh_at(self.ctx.uniform(*REFRESH_AT))
        message = f"issued by warden for {identity.describe()}; serial {cert.serial}"
        return {"conditions": [_condition(ISSUED, ISSUED_REASON, message)],
                "certificateChain": cert.chain, "notBefore": rfc3339(cert.not_before),
                "notAfter": rfc3339(cert.not_after), "beginRefreshAt": rfc3339(refresh)}

    async def _deliver(self, signer: PodSignerSettings, obj: Any, identity: Identity,
                       cert: IssuedCert) -> None:
        status = self._issued_status(identity, cert)
        for _ in range(WRITE_ATTEMPTS):
            facts = read_pcr(obj)
            try:
                await self._write_status(obj, status)
            except Exception as exc:
                if not kubeclient.is_conflict(exc):
                    raise  # kept in _pending: the retry delivers it
                obj = await self._get(ObjectKey(facts.namespace, facts.name))
                if obj is None or read_pcr(obj).settled or read_pcr(obj).uid != facts.uid:
                    self._pending.pop(facts.uid, None)
                    self._undelivered(signer, facts, cert, "the request changed or went away meanwhile")
                    return
                continue
            self._pending.pop(facts.uid, None)
            self.metrics.issued.labels(signer=signer.signer_name).inc()
            self.decide("issued", "", request=str(facts), signer=signer.signer_name, pod=facts.pod_name,
                        service_account=facts.service_account, identity=identity.describe(),
                        serial=cert.serial, not_after=rfc3339(cert.not_after),
                        begin_refresh_at=status["beginRefreshAt"])
            return
        self._pending.pop(read_pcr(obj).uid, None)
        self._undelivered(signer, read_pcr(obj), cert, "the request kept changing")

    def _forget(self, key: ObjectKey) -> None:
        uid = self._seen.pop(key, None)
        pending = self._pending.pop(uid, None) if uid is not None else None
        if pending is not None:
            self.ctx.log.warning("certificate issued but not delivered (the request was deleted); revoke it",
                                 request=str(key), serial=pending[1].serial)

    def _drop_pending(self, signer: PodSignerSettings, facts: PcrFacts) -> None:
        pending = self._pending.pop(facts.uid, None)
        if pending is not None:
            self._undelivered(signer, facts, pending[1], "the request was settled meanwhile")

    def _undelivered(self, signer: PodSignerSettings, facts: PcrFacts, cert: IssuedCert, why: str) -> None:
        self.ctx.log.warning("certificate issued but not delivered; revoke it", request=str(facts),
                             signer=signer.signer_name, serial=cert.serial, mount=signer.mount, reason=why)

    # -- refusing -------------------------------------------------------------------------

    async def _refuse(self, signer: PodSignerSettings, facts: PcrFacts, obj: Any, refusal: Refusal) -> None:
        self.ctx.ensure_leading()
        try:
            await self._write_status(obj, {"conditions": [_condition(refusal.condition, refusal.reason,
                                                                     refusal.message)]})
        except Exception as exc:
            if kubeclient.is_conflict(exc) or kubeclient.is_not_found(exc):
                return  # changed meanwhile: its watch event brings it back
            raise
        counter = self.metrics.denied if refusal.condition == DENIED else self.metrics.failed
        counter.labels(signer=signer.signer_name, reason=refusal.reason).inc()
        self.decide(refusal.condition.lower(), refusal.message, request=str(facts),
                    signer=signer.signer_name, pod=facts.pod_name, service_account=facts.service_account,
                    condition_reason=refusal.reason)

    async def _write_status(self, obj: Any, status: dict[str, Any]) -> None:
        body = {**dict(obj), "status": status}
        meta = obj.metadata
        await self.ctx.kube.replace(self.resource.Status(body), meta.name, namespace=meta.namespace)


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": rfc3339(dt.datetime.now(dt.UTC))}


def warden_refusal(exc: ApiError) -> Refusal:
    """A 4xx from warden's sign: the role forbids the identity (Denied), or something else
    about the request cannot be met (Failed)."""
    message = "; ".join(exc.errors) or f"status {exc.status}"
    if "not allowed" in message:
        return Refusal("IdentityNotAllowed", f"warden's role refused: {message}")
    return failed("WardenRefused", f"warden refused: {message}")
