"""A plan as a shell script of generic ``warden`` commands (``bootstrap -dry-run``).

Every step becomes the command an operator would type: ``secrets enable``/``tune``,
``write`` with K=V pairs, ``policy write NAME -`` with a heredoc, ``kv put``. Run with
WARDEN_ADDR and WARDEN_TOKEN set, the script brings a server to the same state as
``bootstrap`` would (keys and serial numbers aside, which are random either way).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from warden.kube.plan import Kind, Plan, Step

CLI = "warden"
_OPENSSL_KEYGEN = {
    "rsa": "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{bits}",
    "ec": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-{bits}",
}


def kv_value(value: Any) -> str:
    """A JSON value as a K=V argument the server parses back to it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def kv_args(data: Mapping[str, Any], width: int = 96) -> str:
    """K=V arguments, wrapped with backslash-newlines so long roles stay readable."""
    lines: list[str] = [""]
    for arg in (shlex.quote(f"{k}={kv_value(v)}") for k, v in data.items()):
        if lines[-1] and len(lines[-1]) + len(arg) + 1 > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {arg}" if lines[-1] else arg
    return " \\\n    ".join(lines)


def heredoc(command: str, text: str, tag: str = "EOT") -> str:
    body = text if text.endswith("\n") else text + "\n"
    return f"{command} <<'{tag}'\n{body}{tag}"


def _mount(step: Step) -> str:
    data = step.data
    mount = step.path.removeprefix("sys/mounts/")
    flags = [f"-path={shlex.quote(mount)}"]
    if ttl := (data.get("config") or {}).get("max_lease_ttl"):
        flags.append(f"-max-lease-ttl={ttl}")
    if version := (data.get("options") or {}).get("version"):
        flags.append(f"-version={version}")
    if data.get("description"):
        flags.append("-description=" + shlex.quote(str(data["description"])))
    return f"{CLI} secrets enable {' '.join(flags)} {data['type']}"


def _tune(step: Step) -> str:
    mount = step.path.removeprefix("sys/mounts/").removesuffix("/tune")
    return f"{CLI} secrets tune -max-lease-ttl={step.data['max_lease_ttl']} {shlex.quote(mount)}"


def _sa_key(step: Step) -> str:
    key_type, _, bits = step.key_spec.partition(":")
    keygen = _OPENSSL_KEYGEN[key_type].format(bits=bits)
    return "\n".join([
        'sa_dir="$(mktemp -d)"',
        f'{keygen} -out "$sa_dir/sa.key" 2>/dev/null',
        'openssl pkey -in "$sa_dir/sa.key" -pubout -out "$sa_dir/sa.pub"',
        f"{CLI} kv put -cas=0 {shlex.quote(step.kv_path)} "
        'private_key=@"$sa_dir/sa.key" public_key=@"$sa_dir/sa.pub"',
        'rm -rf "$sa_dir"',
    ])


def _csr(step: Step) -> str:
    directory = step.save_to.rpartition("/")[0]
    mkdir = f"mkdir -p {shlex.quote(directory)}\n" if directory else ""
    return (f"{mkdir}{CLI} write -field={step.save_field} {shlex.quote(step.path)} {kv_args(step.data)}"
            f" > {shlex.quote(step.save_to)}")


def command(step: Step) -> str:
    """The shell text of one step."""
    if step.kind is Kind.MOUNT:
        return _mount(step)
    if step.kind is Kind.TUNE:
        return _tune(step)
    if step.kind is Kind.CSR:
        return _csr(step)
    if step.kind is Kind.POLICY:
        name = step.path.removeprefix("sys/policies/acl/")
        return heredoc(f"{CLI} policy write {shlex.quote(name)} -", str(step.data["policy"]))
    if step.kind is Kind.SA_KEY:
        return _sa_key(step)
    if step.kind is Kind.KV:
        text = json.dumps(step.payload, indent=2, sort_keys=True)
        return heredoc(f"{CLI} kv put {shlex.quote(step.kv_path)} -", text, "JSON")
    return f"{CLI} write {shlex.quote(step.path)} {kv_args(step.data)}"


def script(plan: Plan) -> str:
    lines = [
        "#!/bin/sh",
        f"# warden k8s bootstrap {plan.cluster}: {len(plan.steps)} step(s) as generic commands.",
        "# Run with WARDEN_ADDR and WARDEN_TOKEN set (a token that may write sys/mounts,",
        "# sys/policies/acl, auth/token/roles and the cluster's mounts).",
        "set -eu",
    ]
    lines += [f"# NOTE: {plan.cluster} {line}" for line in (*plan.existing, *plan.notes)]
    if plan.empty:
        lines.append(f"# no changes: cluster {plan.cluster} is already bootstrapped as requested")
    for step in plan.steps:
        lines += ["", f"# {step.summary}", command(step)]
    return "\n".join(lines) + "\n"
