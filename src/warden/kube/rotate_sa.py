"""Rotating the service-account key pair (``<kv>/<cluster>/k8s/sa``) without rejecting a token.

The secret's fields through the phases (``sa.key`` = ``private_key``, ``sa.pub`` =
``public_key`` in the tree ``warden k8s certs`` writes):

    before    private_key: old    public_key: old
    begun     private_key: old    public_key: old + new    next_private_key: new
    switched  private_key: new    public_key: old + new
    finished  private_key: new    public_key: new

kube-apiserver verifies with every key in ``--service-account-key-file``, so from begin on it
accepts tokens of both keys; from switch on new tokens are signed with the new key; finish
drops the old public key only once the longest token signed with it has expired
(``-token-lifetime``, default 25h: kubelets refresh a bound token at 80 % of its lifetime or
after 24 hours, and projected tokens default to 1 hour).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization

from warden.api import InvalidRequest
from warden.kube.bootstrap import generate_key_pair
from warden.kube.cluster import parse_duration
from warden.kube.rotate import Env, Outcome, command, parse_time
from warden.kube.rotate_leaves import rfc3339
from warden.kube.rotation_state import BEGUN, FINISHED, SWITCHED, Conflict, RotationError, RotationState
from warden.kube.state import data_of

CA = "sa"
DEFAULT_TOKEN_LIFETIME = "25h"  # 1h (projected token default) + 24h (the longest a kubelet keeps one)


def fingerprint(public_pem: str) -> str:
    key = serialization.load_pem_public_key(public_pem.encode())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def public_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _pems(text: str) -> list[str]:
    """The PEM blocks of a file holding one or more public keys."""
    out, current = [], []
    for line in text.strip().splitlines():
        current.append(line)
        if line.startswith("-----END"):
            out.append("\n".join(current) + "\n")
            current = []
    return out


class SaSecret:
    """The service-account secret with the KV version it was read at (kv v2)."""

    def __init__(self, env: Env) -> None:
        spec = env.spec
        self.env = env
        self.logical = f"{spec.kv_mount}/{spec.kv_base}/sa"
        self.api_path = f"{spec.kv_mount}/data/{spec.kv_base}/sa"

    def read(self) -> tuple[dict[str, Any], int]:
        body = data_of(self.env.api.read(self.api_path)) or {}
        data = body.get("data")
        if not isinstance(data, Mapping) or not data.get("private_key"):
            raise RotationError(f"no service-account key pair at {self.logical}: run 'warden k8s bootstrap "
                                f"{self.env.spec.name}' first")
        return dict(data), int((body.get("metadata") or {}).get("version") or 0)

    def write(self, data: Mapping[str, Any], version: int) -> None:
        try:
            self.env.api.write(self.api_path, {"data": dict(data), "options": {"cas": version}})
        except InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise Conflict(f"refused: {self.logical} changed while this command ran (another operator "
                               f"rotating it?); check with {command(self.env.spec, CA, 'status')}") from None
            raise


def _read(env: Env) -> RotationState:
    env.store.check_mount()
    return env.store.read(CA)


def _store(env: Env, state: RotationState, what: str) -> RotationState:
    try:
        return env.store.write(state)
    except Conflict:
        raise Conflict(f"refused: another {what} of the service-account key ran at the same time; check "
                       f"with {command(env.spec, CA, 'status')}") from None


def begin(env: Env) -> Outcome:
    state = _read(env)
    spec = env.spec
    if state.phase == BEGUN:
        message = f"the service-account key rotation began at {state.begun_at}; nothing to do"
        return Outcome(state, False, message, command(spec, CA, "switch"))
    if state.phase == SWITCHED:
        raise RotationError(f"the service-account key switched at {state.switched_at}, so begin is behind "
                            f"it; next: {command(spec, CA, 'finish')}")
    secret = SaSecret(env)
    data, version = secret.read()
    old_public = public_of(str(data["private_key"]))
    if data.get("next_private_key"):  # an earlier begin stored the new pair and then crashed
        new_public = public_of(str(data["next_private_key"]))
    else:
        new_private, new_public = generate_key_pair(f"{spec.key_type}:{spec.bits}")
        updated = {**data, "public_key": old_public + new_public, "next_private_key": new_private}
        secret.write(updated, version)
        env.progress(f"{secret.logical}: new key pair; public_key (sa.pub) holds old and new")
    now = rfc3339(env.now())
    done = RotationState(CA, "", BEGUN, fingerprint(old_public), fingerprint(new_public), begun_at=now,
                         begun_by=env.who, version=state.version)
    stored = _store(env, done, "begin")
    return Outcome(stored, True, "began the service-account key rotation: sa.pub now holds old and new; "
                                 "tokens are still signed with the old key", command(spec, CA, "switch"))


def switch(env: Env, token_lifetime: str = "") -> Outcome:
    state = _read(env)
    spec = env.spec
    if state.phase == SWITCHED:
        return Outcome(state, False, f"the service-account key switched at {state.switched_at}; finish after "
                                     f"{state.finish_after}", command(spec, CA, "finish"))
    _refuse(env, state, "switch")
    lifetime = token_lifetime or DEFAULT_TOKEN_LIFETIME
    seconds = parse_duration(lifetime)
    secret = SaSecret(env)
    data, version = secret.read()
    if data.get("next_private_key"):
        updated = {k: v for k, v in data.items() if k != "next_private_key"}
        updated["private_key"] = data["next_private_key"]
        secret.write(updated, version)
        env.progress(f"{secret.logical}: private_key (sa.key) is the new key; sa.pub still holds both")
    elif fingerprint(public_of(str(data["private_key"]))) != state.new_issuer:
        raise RotationError(f"{secret.logical} holds neither the new key nor a pending one: it was changed "
                            "outside 'warden k8s rotate'; inspect it before going on")
    now = env.now()
    done = state.replace(phase=SWITCHED, switched_at=rfc3339(now), switched_by=env.who,
                         token_lifetime=lifetime, finish_after=rfc3339(now + seconds))
    stored = _store(env, done, "switch")
    return Outcome(stored, True, f"switched the service-account key: new tokens are signed with the new key; "
                                 f"tokens of the old key may live until {stored.finish_after}",
                   command(spec, CA, "finish"))


def finish(env: Env, *, force: bool = False) -> Outcome:
    state = _read(env)
    spec = env.spec
    if state.phase == FINISHED:
        return Outcome(state, False, f"the service-account key rotation finished at {state.finished_at}; "
                                     "nothing to do", command(spec, CA, "status"))
    _refuse(env, state, "finish")
    if state.phase == BEGUN:
        raise RotationError(f"refused: the service-account key rotation has begun but not switched: tokens "
                            f"are still signed with the old key; next: {command(spec, CA, 'switch')}")
    wait_until = parse_time(state.finish_after)
    forced = ""
    if env.now() < wait_until:
        if not force:
            raise RotationError(
                f"refused: tokens signed with the old key before the switch at {state.switched_at} may be "
                f"valid until {state.finish_after} (token lifetime {state.token_lifetime}); run "
                f"{command(spec, CA, 'finish')} then, or -force (those tokens stop authenticating)")
        forced = f"finished before {state.finish_after}: tokens of the old key stopped authenticating"
    secret = SaSecret(env)
    data, version = secret.read()
    keep = [p for p in _pems(str(data.get("public_key") or "")) if fingerprint(p) != state.old_issuer]
    if len(keep) != len(_pems(str(data.get("public_key") or ""))):
        secret.write({**data, "public_key": "".join(keep)}, version)
        env.progress(f"{secret.logical}: public_key (sa.pub) holds only the new key")
    done = state.replace(phase=FINISHED, finished_at=rfc3339(env.now()), finished_by=env.who, forced=forced)
    stored = _store(env, done, "finish")
    return Outcome(stored, True, "finished the service-account key rotation: only the new key is trusted",
                   command(spec, CA, "status"))


def _refuse(env: Env, state: RotationState, phase: str) -> None:
    if state.phase in ("", FINISHED):
        why = "no rotation has begun" if not state.phase else f"the last one finished at {state.finished_at}"
        raise RotationError(f"refused: nothing to {phase} for the service-account key ({why}); next: "
                            f"{command(env.spec, CA, 'begin')}")
