"""The bootstrap as a list of generic API steps: desired state minus current state.

Pure: ``compute(desired, current)`` compares mounts, CAs, role fields, policy texts, the
token role and the KV secrets, and returns a step only where they differ. A CA or the
service-account key that exists is never made again. ``render`` prints the same steps as
``warden`` commands; ``bootstrap.apply`` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from warden.kube.cluster import SpecError, parse_duration
from warden.kube.desired import POLICY_MARK, Desired, DesiredCa, DesiredMount, DesiredRole
from warden.kube.state import CurrentState


class Kind(StrEnum):
    MOUNT = "mount"
    TUNE = "tune"
    ROOT = "root"
    CSR = "csr"
    ROLE = "role"
    POLICY = "policy"
    TOKEN_ROLE = "token-role"
    KV = "kv"
    SA_KEY = "sa-key"


GENERATED = "<generated>"


@dataclass(frozen=True, slots=True)
class Step:
    """One API call: ``method path`` with ``data`` as the JSON body."""

    kind: Kind
    method: str
    path: str
    data: Mapping[str, Any]
    summary: str
    kv_path: str = ""  # the logical KV path (for ``warden kv put``)
    save_field: str = ""  # write this response field to the file save_to
    save_to: str = ""
    key_spec: str = ""  # SA_KEY: "rsa:2048" or "ec:256"
    payload: Mapping[str, Any] | None = None  # KV steps: the secret's data (data is the API body)


@dataclass(frozen=True, slots=True)
class Plan:
    cluster: str
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    pending_cas: tuple[str, ...] = field(default_factory=tuple)  # mounts waiting for set-signed
    existing: tuple[str, ...] = ()  # what bootstrap did not make but adopts or changes, said first

    @property
    def empty(self) -> bool:
        return not self.steps


# -- comparing values -------------------------------------------------------------------------


def _seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except SpecError:
            return None
    return None


DURATION_FIELDS = frozenset({"ttl", "max_ttl", "period", "max_lease_ttl"})


def same_value(key: str, wanted: Any, current: Any) -> bool:
    """Whether a stored field equals the desired one, as the server normalises it."""
    if key in DURATION_FIELDS:
        return _seconds(wanted) == _seconds(current)
    if isinstance(wanted, bool):
        return current is wanted
    if isinstance(wanted, list | tuple):
        return isinstance(current, list | tuple) and [str(v) for v in current] == [str(v) for v in wanted]
    return bool(current == wanted)


def changed_fields(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    return [k for k, v in wanted.items() if not same_value(k, v, current.get(k))]


# -- steps per kind -----------------------------------------------------------------------------


def _mount_steps(mount: DesiredMount, current: CurrentState) -> tuple[list[Step], str]:
    found = current.mounts.get(mount.path)
    if found is None:
        body: dict[str, Any] = {"type": mount.type, "description": mount.description, "config": {}}
        if mount.max_lease_ttl:
            body["config"] = {"max_lease_ttl": mount.max_lease_ttl}
        if mount.options:
            body["options"] = dict(mount.options)
        return [Step(Kind.MOUNT, "POST", f"sys/mounts/{mount.path}", body,
                     f"enable the {mount.type} secrets engine at {mount.path}/")], ""
    if found.type != mount.type:
        raise SpecError(f"{mount.path}/ is a {found.type} mount, not {mount.type}: choose another "
                        "cluster name or disable that mount first")
    if mount.max_lease_ttl and not same_value("max_lease_ttl", mount.max_lease_ttl, found.max_lease_ttl):
        return [Step(Kind.TUNE, "POST", f"sys/mounts/{mount.path}/tune",
                     {"max_lease_ttl": mount.max_lease_ttl},
                     f"tune {mount.path}/: max lease TTL {mount.max_lease_ttl}")], ""
    return [], f"mount {mount.path}/ ({mount.type})"


def _ca_step(ca: DesiredCa, current: CurrentState, desired: Desired, csr_dir: str
             ) -> tuple[Step | None, str, str]:
    """(step, unchanged line, pending mount)."""
    state = current.cas.get(ca.mount)
    if state is not None and state.certificate:
        return None, f"CA of {ca.mount} (never regenerated)", ""
    if not desired.spec.intermediate:
        return (Step(Kind.ROOT, "POST", f"{ca.mount}/root/generate/internal", dict(ca.data),
                     f"generate the root CA {ca.ca.common_name!r} of {ca.mount}"), "", "")
    if state is not None and state.pending_keys and ca.csr_file in current.csr_files:
        return None, f"CSR of {ca.mount} awaits its signed certificate ({ca.csr_file})", ca.mount
    target = f"{csr_dir.rstrip('/')}/{ca.csr_file}" if csr_dir else ca.csr_file
    return (Step(Kind.CSR, "POST", f"{ca.mount}/intermediate/generate/internal", dict(ca.data),
                 f"generate the intermediate CA key of {ca.mount}; CSR to {target}",
                 save_field="csr", save_to=target), "", ca.mount)


def _role_step(role: DesiredRole, current: CurrentState) -> tuple[Step | None, str]:
    path = f"{role.mount}/roles/{role.name}"
    found = current.roles.get((role.mount, role.name))
    if found is None:
        return Step(Kind.ROLE, "POST", path, dict(role.data), f"create role {path}"), ""
    diff = changed_fields(role.data, found)
    if not diff:
        return None, f"role {path}"
    return Step(Kind.ROLE, "POST", path, dict(role.data), f"update role {path} ({', '.join(diff)})"), ""


def _policy_steps(desired: Desired, current: CurrentState) -> tuple[list[Step], list[str]]:
    steps, same = [], []
    for name, text in desired.policies.items():
        found = current.policies.get(name)
        if found is not None and found.strip() == text.strip():
            same.append(f"policy {name}")
            continue
        verb = "create" if found is None else "update"
        steps.append(Step(Kind.POLICY, "PUT", f"sys/policies/acl/{name}", {"policy": text},
                          f"{verb} policy {name}"))
    return steps, same


def _token_role_step(desired: Desired, current: CurrentState) -> tuple[Step | None, str]:
    path = f"auth/token/roles/{desired.token_role}"
    found = current.token_role
    wanted = dict(desired.token_role_data)
    if found is not None:
        comparable = {**found, "allowed_policies": sorted(found.get("allowed_policies") or [])}
        diff = changed_fields(wanted, comparable)
        if not diff:
            return None, f"token role {desired.token_role}"
        return Step(Kind.TOKEN_ROLE, "POST", path, wanted,
                    f"update token role {desired.token_role} ({', '.join(diff)})"), ""
    return Step(Kind.TOKEN_ROLE, "POST", path, wanted, f"create token role {desired.token_role}"), ""


def _kv_steps(desired: Desired, current: CurrentState) -> tuple[list[Step], list[str]]:
    steps, same = [], []
    spec = desired.spec
    if desired.sa_path in current.kv:
        same.append(f"service-account key pair at {desired.sa_path} (never regenerated)")
    else:
        data = {"private_key": GENERATED, "public_key": GENERATED}
        sa_body: dict[str, Any] = {"data": data, "options": {"cas": 0}} if desired.kv_version == 2 else data
        steps.append(Step(Kind.SA_KEY, "POST", desired.kv_api_path(desired.sa_path), sa_body,
                          f"generate the service-account key pair into {desired.sa_path}",
                          kv_path=desired.sa_path, key_spec=f"{spec.key_type}:{spec.bits}",
                          payload=data))
    settings = spec.to_json()
    if current.kv.get(desired.cluster_path) == settings:
        same.append(f"cluster settings at {desired.cluster_path}")
    else:
        body: dict[str, Any] = {"data": settings} if desired.kv_version == 2 else settings
        verb = "store" if desired.cluster_path not in current.kv else "update"
        steps.append(Step(Kind.KV, "POST", desired.kv_api_path(desired.cluster_path), body,
                          f"{verb} the cluster settings at {desired.cluster_path}",
                          kv_path=desired.cluster_path, payload=settings))
    return steps, same


def compute(desired: Desired, current: CurrentState, *, csr_dir: str = "") -> Plan:
    steps: list[Step] = []
    same: list[str] = []
    pending: list[str] = []
    for mount in desired.mounts:
        new, unchanged = _mount_steps(mount, current)
        steps += new
        same += [unchanged] if unchanged else []
    for ca in desired.cas:
        step, unchanged, waiting = _ca_step(ca, current, desired, csr_dir)
        steps += [step] if step else []
        same += [unchanged] if unchanged else []
        pending += [waiting] if waiting else []
    for role in desired.roles:
        step, unchanged = _role_step(role, current)
        steps += [step] if step else []
        same += [unchanged] if unchanged else []
    kv_steps, kv_same = _kv_steps(desired, current)
    pol_steps, pol_same = _policy_steps(desired, current)
    token_step, token_same = _token_role_step(desired, current)
    steps += kv_steps + pol_steps + ([token_step] if token_step else [])
    same += kv_same + pol_same + ([token_same] if token_same else [])
    return Plan(desired.spec.name, tuple(steps), tuple(same), _notes(desired, current),
                tuple(pending), existing(desired, current))


def _notes(desired: Desired, current: CurrentState) -> tuple[str, ...]:
    return tuple(f"leaves role {role} alone ('warden k8s bootstrap' did not make it)"
                 for role in current.other_roles)


# -- what exists but was not made by bootstrap -----------------------------------------------------

MADE_BY = "'warden k8s bootstrap'"


def existing(desired: Desired, current: CurrentState) -> tuple[str, ...]:
    """Mounts, CAs, policies and the token role that bootstrap did not make, but adopts as
    they are or changes: said before anything is applied, so nothing happens silently."""
    out = []
    for mount in desired.mounts:
        found = current.mounts.get(mount.path)
        if found is not None and found.type == mount.type and found.description != mount.description:
            out.append(f"adopts mount {mount.path}/ ({found.type}), which {MADE_BY} did not make")
    for ca in desired.cas:
        state = current.cas.get(ca.mount)
        wanted = str(ca.data.get("common_name", ""))
        if state is not None and state.certificate and state.common_name != wanted:
            out.append(f"adopts the CA of {ca.mount} as it is: CN {state.common_name!r}, not {wanted!r} as "
                       f"{MADE_BY} makes it (a CA is never replaced; certificates chain to this one)")
    for name, text in desired.policies.items():
        policy = current.policies.get(name)
        if policy is not None and policy.strip() != text.strip() and not policy.startswith(POLICY_MARK):
            out.append(f"replaces policy {name}, which {MADE_BY} did not write")
    if current.token_role is not None:
        allowed = set(desired.token_role_data.get("allowed_policies") or ())
        lost = sorted(set(current.token_role.get("allowed_policies") or ()) - allowed - {"default"})
        if lost:
            out.append(f"changes token role {desired.token_role}: allowed_policies loses {', '.join(lost)} "
                       f"(not policies of cluster {desired.spec.name}): tokens asked for with "
                       f"-role={desired.token_role} and those policies will be refused")
    return tuple(out)


def counts(steps: Sequence[Step]) -> dict[str, int]:
    out: dict[str, int] = {}
    for step in steps:
        out[step.kind.value] = out.get(step.kind.value, 0) + 1
    return out
