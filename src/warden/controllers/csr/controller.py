"""The CSR controller: approve (where an approver is configured) and sign the
CertificateSigningRequests of the configured signerNames; leave every other one untouched.

Never twice: signing starts from a fresh GET (not the cache), only for a request that is
Approved, neither Denied nor Failed, and has no certificate; the certificate is written to
``/status`` with the resourceVersion of that GET, so a second replica, a restart or a
re-delivered event cannot attach a second one. A lost write race is logged with the serial
of the certificate that was issued but not delivered.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from lightkube.models.certificates_v1 import CertificateSigningRequestCondition
from lightkube.resources.certificates_v1 import (
    CertificateSigningRequest,
    CertificateSigningRequestApproval,
    CertificateSigningRequestStatus,
)

from warden.api import ApiError, Forbidden
from warden.controllers import kubeclient
from warden.controllers.context import Context
from warden.controllers.csr import rules
from warden.controllers.csr.approvers import (
    Approver,
    NodeAddressesApprover,
    NodeClientApprover,
    Verdict,
)
from warden.controllers.csr.metrics import CsrMetrics
from warden.controllers.csr.permissions import check_permissions
from warden.controllers.csr.request import APPROVED, DENIED, FAILED, CsrFacts, read_csr
from warden.controllers.csr.settings import NODE_ADDRESSES, NODE_CLIENT, CsrSettings, SignerSettings
from warden.controllers.csr.signing import RoleGrant, Signed, sign
from warden.controllers.plugin import DONE, ObjectKey, Result, Watch

NAME = "csr-signer"
FAILED_REASON = "SignerValidationFailure"
WRITE_ATTEMPTS = 3


class CsrController:
    def __init__(self, settings: CsrSettings, ctx: Context) -> None:
        self.settings = settings
        self.ctx = ctx
        self.name: str = NAME
        self.watch = Watch(CertificateSigningRequest)
        self.watches: Sequence[Watch] = (self.watch,)
        self.workers: int = settings.workers
        self.metrics = CsrMetrics(ctx.registry)
        self.decide = ctx.decisions(NAME)
        self.approvers: dict[str, Approver] = {}
        for signer in settings.signers.values():
            if signer.approve == NODE_CLIENT:
                self.approvers[signer.signer_name] = NodeClientApprover(ctx.kube)
            elif signer.approve == NODE_ADDRESSES:
                self.approvers[signer.signer_name] = NodeAddressesApprover(ctx.kube)
        self.grants: dict[str, RoleGrant] = {}
        self._seen: dict[str, str] = {}  # CSR name -> uid, to count each request once
        # Certificates signed but not yet written (the write failed): delivered on the next
        # attempt instead of signing again. By CSR uid; a CSR's request never changes.
        self._pending: dict[str, Signed] = {}
        self._waiting: set[str] = set()  # uids whose "waiting for approval" was logged

    async def prepare(self) -> None:
        await check_permissions(self.ctx.kube, self.settings)
        self.grants = {name: await RoleGrant.load(self.ctx.warden, signer)
                       for name, signer in self.settings.signers.items()}

    async def reconcile(self, key: ObjectKey) -> Result:
        obj = self.ctx.store(self.watch).get(key)
        if obj is None:
            self._forget(key.name)
            return DONE
        signer = self.settings.signers.get(obj.spec.signerName)
        if signer is None:
            return DONE  # another signer's request: untouched
        facts = read_csr(obj)
        self._count(facts)
        if facts.conditions.settled:
            self._waiting.discard(facts.uid)
            self._drop_pending(facts, signer)
            return DONE
        if not facts.conditions.approved:
            return await self._approve(signer, facts, obj)
        return await self._sign(signer, key)

    # -- approving ------------------------------------------------------------------------

    async def _approve(self, signer: SignerSettings, facts: CsrFacts, obj: Any) -> Result:
        approver = self.approvers.get(signer.signer_name)
        if approver is None:
            self._once(facts, "waiting", "waiting for approval (kubectl certificate approve)")
            return DONE
        verdict = await approver.review(facts)
        if verdict.action == "leave":
            self._once(facts, "left", verdict.message)
            return DONE
        self.ctx.ensure_leading()
        kind = APPROVED if verdict.action == "approve" else DENIED
        try:
            await self.ctx.kube.replace(_with_condition(CertificateSigningRequestApproval, obj, kind,
                                                        verdict.reason, verdict.message), facts.name)
        except Exception as exc:
            if kubeclient.is_conflict(exc) or kubeclient.is_not_found(exc):
                return DONE  # changed meanwhile: its watch event brings it back
            raise
        self._record(verdict, signer, facts)
        return DONE

    def _record(self, verdict: Verdict, signer: SignerSettings, facts: CsrFacts) -> None:
        counter = self.metrics.approved if verdict.action == "approve" else self.metrics.denied
        counter.labels(signer=signer.signer_name).inc()
        decision = "approved" if verdict.action == "approve" else "denied"
        self.decide(decision, verdict.message, csr=facts.name, signer=signer.signer_name,
                    approver=signer.approve, requester=facts.username)

    # -- signing --------------------------------------------------------------------------

    async def _sign(self, signer: SignerSettings, key: ObjectKey) -> Result:
        try:
            fresh = await self.ctx.kube.get(CertificateSigningRequest, key.name)
        except Exception as exc:
            if kubeclient.is_not_found(exc):
                return DONE
            raise
        facts = read_csr(fresh)
        if facts.conditions.settled or not facts.conditions.approved:
            return DONE
        signed = self._pending.get(facts.uid)
        if signed is None:
            broken = rules.violation(signer.signer_name, facts) or self.grants[signer.signer_name].refuses(
                signer, facts)
            if broken is not None:
                return await self._fail(signer, facts, fresh, str(broken))
            self.ctx.ensure_leading()
            outcome = await self._sign_with_warden(signer, facts, fresh)
            if isinstance(outcome, Result):
                return outcome
            signed = self._pending[facts.uid] = outcome
        await self._deliver(signer, fresh, signed)
        self._pending.pop(facts.uid, None)
        return DONE

    async def _sign_with_warden(self, signer: SignerSettings, facts: CsrFacts, obj: Any) -> Signed | Result:
        started = time.perf_counter()
        try:
            signed = await sign(self.ctx.warden, signer, facts)
        except Forbidden:
            self.ctx.report_denied()
            raise
        except ApiError as exc:
            if 400 <= exc.status < 500 and exc.status not in (403, 408, 412, 429):
                message = "; ".join(exc.errors) or f"status {exc.status}"
                return await self._fail(signer, facts, obj, f"warden refused: {message}")
            raise
        self.metrics.sign_seconds.labels(signer=signer.signer_name).observe(time.perf_counter() - started)
        return signed

    async def _deliver(self, signer: SignerSettings, obj: Any, signed: Signed) -> None:
        for _ in range(WRITE_ATTEMPTS):
            status: Any = CertificateSigningRequestStatus.from_dict(obj.to_dict())
            status.status.certificate = _b64(signed.pem)
            try:
                await self.ctx.kube.replace(status, obj.metadata.name)
            except Exception as exc:
                if not kubeclient.is_conflict(exc):
                    raise
                obj = await self.ctx.kube.get(CertificateSigningRequest, obj.metadata.name)
                current = read_csr(obj)
                if current.conditions.settled or not current.conditions.approved:
                    self._undelivered(signer, current, signed, "the request changed meanwhile")
                    return
                continue
            facts = read_csr(obj)
            self.metrics.signed.labels(signer=signer.signer_name).inc()
            self.decide("signed", "", csr=facts.name, signer=signer.signer_name, serial=signed.serial,
                        not_after=signed.not_after.isoformat(), requester=facts.username)
            return
        self._undelivered(signer, read_csr(obj), signed, "the request kept changing")

    def _drop_pending(self, facts: CsrFacts, signer: SignerSettings) -> None:
        signed = self._pending.pop(facts.uid, None)
        if signed is not None and not facts.conditions.issued:
            self._undelivered(signer, facts, signed, "the request was denied or failed meanwhile")

    def _undelivered(self, signer: SignerSettings, facts: CsrFacts, signed: Signed, why: str) -> None:
        self.ctx.log.warning("certificate issued but not delivered; revoke it", csr=facts.name,
                             signer=signer.signer_name, serial=signed.serial, mount=signer.mount, reason=why)

    async def _fail(self, signer: SignerSettings, facts: CsrFacts, obj: Any, message: str) -> Result:
        self.ctx.ensure_leading()
        try:
            await self.ctx.kube.replace(_with_condition(CertificateSigningRequestStatus, obj, FAILED,
                                                        FAILED_REASON, message), facts.name)
        except Exception as exc:
            if kubeclient.is_conflict(exc) or kubeclient.is_not_found(exc):
                return DONE
            raise
        self.metrics.failed.labels(signer=signer.signer_name).inc()
        self.decide("failed", message, csr=facts.name, signer=signer.signer_name, requester=facts.username)
        return DONE

    # -- bookkeeping ----------------------------------------------------------------------

    def _count(self, facts: CsrFacts) -> None:
        if self._seen.get(facts.name) != facts.uid:
            self._seen[facts.name] = facts.uid
            self.metrics.seen.labels(signer=facts.signer).inc()

    def _forget(self, name: str) -> None:
        uid = self._seen.pop(name, None)
        if uid is not None:
            self._waiting.discard(uid)
            signed = self._pending.pop(uid, None)
            if signed is not None:
                self.ctx.log.warning("certificate issued but not delivered (the request was deleted); "
                                     "revoke it", csr=name, serial=signed.serial)

    def _once(self, facts: CsrFacts, decision: str, reason: str) -> None:
        """Log a decision to wait once per request, not at every resync."""
        if facts.uid in self._waiting:
            return
        self._waiting.add(facts.uid)
        self.decide(decision, reason, csr=facts.name, signer=facts.signer, requester=facts.username)


def _with_condition(resource: type[Any], obj: Any, kind: str, reason: str, message: str) -> Any:
    copy = resource.from_dict(obj.to_dict())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    condition = CertificateSigningRequestCondition(type=kind, status="True", reason=reason, message=message,
                                                   lastUpdateTime=now, lastTransitionTime=now)
    copy.status.conditions = [*(copy.status.conditions or []), condition]
    return copy


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()
