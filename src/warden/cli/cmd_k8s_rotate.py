"""``warden k8s rotate CLUSTER CA PHASE``: rotate a cluster's CA or service-account key pair in
place (plan, begin, switch, finish, status). The work is in ``warden.kube.rotate*``."""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path
from typing import Any

from warden.api import ClientError, Forbidden
from warden.cli.cmd_k8s import add_kv_flag, load_spec
from warden.cli.common import (
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_bool_flag,
    add_format_flag,
    api_errors,
    expect_args,
    make_client,
    new_parser,
    output_format,
    parse,
)
from warden.cli.output import key_value_table, render_data, table
from warden.kube import rotate, rotate_begin, rotate_plan, rotate_sa, rotate_status, tree
from warden.kube.cluster import ClusterSpec, SpecError, parse_duration
from warden.kube.desired import cas_in_use
from warden.kube.issue import IssueError
from warden.kube.rotation_state import RotationError
from warden.kube.state import Api, data_of

PHASES = ("plan", "begin", "switch", "finish", "status")

EPILOG = """\
CA is one of the cluster's CAs (k8s, etcd, front-proxy, and kubelet when the cluster has a
separate kubelet-serving CA) or sa (the service-account key pair). PHASE:

  plan     the whole procedure: which files change on which nodes, the order in which
           components restart, what each phase waits for; changes nothing
  begin    a new key and CA next to the old one; every bundle warden writes from then on
           (ca.crt, kubeconfigs, agents' ca_file) holds old + new; leaves still come from
           the old CA. -csr: a CSR for your offline root instead (-import FILE continues).
           sa: a new key pair; sa.pub holds both public keys
  switch   the new CA issues every leaf from now on; -reissue -out DIR re-issues every
           node's tree into DIR/<node>/ at once. sa: sa.key becomes the new key
  finish   drops the old CA from every bundle; refused while a current certificate still
           comes from it (-force overrides and says what breaks). sa: drops the old public
           key, refused until -token-lifetime (25h) has passed since switch
  status   the phase, when each phase happened, and which CA each node's and component's
           current certificate comes from

warden writes the files; restarting components stays with you ('plan' says in which
order). Each phase can be run again, resumes after a crash from any machine, and is
refused out of order with the command that comes next. State: KV at
<kv-mount>/CLUSTER/k8s/rotation/CA (kv version 2, written with check-and-set).

Examples:
  warden k8s rotate c1 k8s plan
  warden k8s rotate c1 k8s begin
  warden k8s rotate c1 k8s switch -reissue -out ./trees
  warden k8s rotate c1 k8s finish
  warden k8s rotate -format=json c1 k8s status
  warden k8s rotate c1 etcd begin -csr -csr-out etcd-new.csr     # offline root
  warden k8s rotate c1 etcd begin -import etcd-new.crt"""


def _parser(prog: str) -> argparse.ArgumentParser:
    p = new_parser(prog, "Rotate a cluster's CA or service-account key pair without an outage.",
                   usage=f"{prog} [options] CLUSTER CA PHASE", epilog=EPILOG)
    add_args(p, "CLUSTER CA PHASE", "The cluster, the CA (or sa), and the phase.")
    add = p.add_argument
    add_bool_flag(p, "csr", "begin: make a CSR for an offline root instead of a new root CA.")
    add("--csr-out", default="", metavar="FILE", help="begin -csr: write the CSR here (default: stdout).")
    add("--import", dest="import_file", default="", metavar="FILE",
        help="begin: the certificate the offline root signed from the CSR (optionally with its chain).")
    add_bool_flag(p, "reissue", "switch: re-issue every node's tree now, into -out DIR/<node>/.")
    add("--out", default="", metavar="DIR", help="switch -reissue: where the trees go.")
    add("--node", action="append", default=[], metavar="NAME", help="switch -reissue: only this node "
        "(repeatable).")
    add_bool_flag(p, "force", "switch: even though components have not fetched the bundle; finish: even "
                  "though certificates (or sa tokens) of the old key still depend on it.")
    add("--token-lifetime", default="", metavar="DURATION",
        help=f"sa switch: how long a token signed with the old key may live "
             f"({rotate_sa.DEFAULT_TOKEN_LIFETIME}).")
    add_kv_flag(p)
    add_format_flag(p)
    return p


def rotate_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s rotate") -> int:
    args = parse(_parser(prog), argv)
    expect_args(prog, args.args, 3, 3)
    cluster, ca, phase = args.args
    fmt = output_format(args, streams)
    if phase not in PHASES:
        raise UsageError(f"unknown phase {phase!r}: use one of {', '.join(PHASES)}", prog)
    _check_flags(args, ca, phase, prog)
    with make_client(args, streams) as client:
        spec = load_spec(client, cluster, args.kv_mount)
        _check_ca(spec, ca, prog)
        if phase == "plan":
            return _show_plan(streams, spec, ca, fmt)
        env = rotate.Env(client, spec, time.time, _who(client), progress=streams.err)
        with api_errors(f"running {phase} for the {ca} rotation of cluster {cluster}"):
            try:
                return _run(env, streams, args, ca, phase, fmt)
            except RotationError as exc:
                raise CommandError(str(exc)) from None
            except Forbidden as exc:
                what = spec.mount(ca) if ca != "sa" else f"{spec.kv_mount}/{spec.kv_base}/sa"
                raise CommandError(f"Error: permission denied ({exc.message}); rotating needs a token that "
                                   f"may manage {what} and write {spec.kv_mount}/{spec.kv_base}/rotation/"
                                   ) from None


def _check_flags(args: argparse.Namespace, ca: str, phase: str, prog: str) -> None:
    only = {"csr": "begin", "import_file": "begin", "csr_out": "begin", "reissue": "switch",
            "token_lifetime": "switch"}
    for flag, allowed in only.items():
        if getattr(args, flag) and phase != allowed:
            name = flag.replace("_file", "").replace("_", "-")
            raise UsageError(f"-{name} goes with {allowed}, not {phase}", prog)
    if args.force and phase not in ("switch", "finish"):
        raise UsageError(f"-force goes with switch or finish, not {phase}", prog)
    if ca == "sa" and (args.csr or args.import_file or args.reissue):
        raise UsageError("-csr, -import and -reissue are for CAs; sa is a bare key pair", prog)
    if ca != "sa" and args.token_lifetime:
        raise UsageError("-token-lifetime is for sa (service-account tokens)", prog)
    if args.csr and args.import_file:
        raise UsageError("-csr makes the CSR, -import brings back its certificate: one at a time", prog)
    if args.reissue and not args.out:
        raise UsageError("-reissue needs -out DIR: every node's tree is written to DIR/<node>/", prog)
    if (args.out or args.node) and not args.reissue:
        raise UsageError("-out and -node go with -reissue", prog)
    if args.token_lifetime:
        try:
            if parse_duration(args.token_lifetime) <= 0:
                raise SpecError("must be positive")
        except SpecError as exc:
            raise UsageError(f"-token-lifetime: {exc}", prog) from None


def _check_ca(spec: ClusterSpec, ca: str, prog: str) -> None:
    known = [c.key for c in cas_in_use(spec)] + ["sa"]
    if ca not in known:
        raise UsageError(f"cluster {spec.name} has no CA {ca!r}: use one of {', '.join(known)}", prog)


def _who(api: Api) -> str:
    try:
        name = str((data_of(api.read("auth/token/lookup-self")) or {}).get("display_name") or "token")
    except ClientError:
        name = "token"
    return f"{name}@{socket.gethostname()}"


def _show_plan(streams: Streams, spec: ClusterSpec, ca: str, fmt: str) -> int:
    found = rotate_plan.plan(spec, ca)
    streams.out(rotate_plan.text(found) if fmt == "table" else render_data(found.to_json(), fmt))
    return EXIT_OK


def _run(env: rotate.Env, streams: Streams, args: argparse.Namespace, ca: str, phase: str, fmt: str) -> int:
    if phase == "status":
        body = rotate_status.sa_status(env) if ca == "sa" else rotate_status.ca_status(env, ca)
        streams.out(render_data(body, fmt) if fmt != "table" else _status_text(body))
        return EXIT_OK
    outcome = _phase(env, args, ca, phase)
    written = _reissue(env, streams, args) if phase == "switch" and args.reissue else []
    if args.csr and outcome.csr and args.csr_out:
        Path(args.csr_out).write_text(outcome.csr)
    _report(streams, outcome, fmt, args, written)
    return EXIT_OK


def _phase(env: rotate.Env, args: argparse.Namespace, ca: str, phase: str) -> rotate.Outcome:
    if ca == "sa":
        if phase == "begin":
            return rotate_sa.begin(env)
        if phase == "switch":
            return rotate_sa.switch(env, args.token_lifetime)
        return rotate_sa.finish(env, force=args.force)
    if phase == "begin":
        signed = _read_file(args.import_file) if args.import_file else ""
        return rotate_begin.begin(env, ca, csr=args.csr, signed_pem=signed)
    if phase == "switch":
        return rotate.switch(env, ca, force=args.force)
    return rotate.finish(env, ca, force=args.force)


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Error reading {path}: {exc.strerror}") from None


def _reissue(env: rotate.Env, streams: Streams, args: argparse.Namespace) -> list[str]:
    spec = env.spec
    try:
        nodes = [spec.node(n) for n in args.node] if args.node else list(spec.nodes)
    except SpecError as exc:
        raise CommandError(str(exc)) from None
    written = []
    for node in nodes:
        try:
            files = tree.build(env.api, spec, node, progress=lambda _: None)
        except IssueError as exc:
            raise CommandError(f"Error re-issuing the certificates of {node.name}: {exc}") from None
        root = Path(args.out) / node.name
        tree.write(root, files)
        streams.err(f"re-issued {len(files)} files for {node.name} into {root}")
        written.append(str(root))
    return written


def _report(streams: Streams, outcome: rotate.Outcome, fmt: str, args: argparse.Namespace,
            written: list[str]) -> None:
    if fmt != "table":
        body: dict[str, Any] = {"changed": outcome.changed, "message": outcome.message, "next": outcome.next,
                                "state": outcome.state.to_json(), "reissued": written}
        if outcome.csr:
            body["csr"] = outcome.csr
        body["broken"] = [_leaf_line(h, leaf) for h, leaf in outcome.broken]
        body["not_fetched"] = [_leaf_line(h, leaf) for h, leaf in outcome.stale]
        streams.out(render_data(body, fmt))
        return
    for holder, leaf in outcome.broken:
        streams.err(f"WARNING! no longer verifies: {_leaf_line(holder, leaf)}")
    for holder, leaf in outcome.stale:
        streams.err(f"WARNING! has not fetched the bundle: {_leaf_line(holder, leaf)}")
    if outcome.csr and not args.csr_out:
        streams.out(outcome.csr, newline=False)
        streams.err(("Success! " if outcome.changed else "") + outcome.message)
    else:
        streams.err(("Success! " if outcome.changed else "No changes: ") + outcome.message)
    if outcome.next:
        streams.err(f"Next: {outcome.next}")


def _leaf_line(holder: Any, leaf: Any) -> str:
    node = f" on {holder.node}" if holder.node else ""
    return f"{holder.certificate}{node} (CN={leaf.common_name}, serial {leaf.serial_number})"


def _status_text(body: dict[str, Any]) -> str:
    rows = [(k.replace("_", " "), str(body.get(k) or "")) for k in rotate_status.STATE_FIELDS if body.get(k)]
    lines = [f"Rotation of {body['ca']} in cluster {body['cluster']} ({body['where']})", "",
             key_value_table([("phase", body.get("phase") or "(none)"), *rows[1:],
                              ("next", body.get("next") or "")])]
    if body.get("issuers"):
        lines += ["", table(("Issuer", "Role", "Default", "Issuing", "Expires"), [
            [str(i["issuer_id"]), str(i["label"]), _yes(i.get("default")), _yes(i.get("issuing")),
             str(i.get("not_after") or "")[:10]] for i in body["issuers"]])]
    if body.get("leaves"):
        begun = any(r.get("since_begin") is not None for r in body["leaves"])
        header = ("Node", "Certificate", "Issuer", "Issued", "Expires") + (("Since begin",) if begun else ())
        rows_ = []
        for r in body["leaves"]:
            row = [r["node"] or "-", _cert_name(r), r["issuer"], _when(r["issued_at"]), r["expires_at"][:10]]
            if begun:
                row.append("" if r.get("since_begin") is None else _yes(r["since_begin"]))
            rows_.append(row)
        lines += ["", table(header, rows_)]
    return "\n".join(lines)


def _cert_name(row: dict[str, Any]) -> str:
    if row["component"] in ("person", "other"):
        return f"{row['certificate']}: {row['common_name']}"[:40]
    return str(row["certificate"])


def _when(text: str) -> str:
    return text[:16].replace("T", " ") if text else ""


def _yes(value: Any) -> str:
    return "yes" if value else "no"
