"""``warden k8s certs|kubeconfig|check``: certificate trees and kubeconfigs on disk."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from warden.api import Client, ClientError
from warden.cli.cmd_k8s import add_cluster_arg, add_kv_flag, load_spec
from warden.cli.common import (
    EXIT_ERROR,
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
from warden.cli.output import render_data, table, warnings_text, wrap_column
from warden.kube import people, tree
from warden.kube.check import FileReport, NothingToCheck, Report, check_tree
from warden.kube.check_rules import WARNING_RULE, CheckOptions
from warden.kube.cluster import DEFAULT_CLUSTER_DOMAIN, LEGACY_ADMIN_GROUP, ClusterSpec, Node, SpecError
from warden.kube.files import KEY_MODE, write_atomic
from warden.kube.inventory import SUPER_ADMIN
from warden.kube.issue import IssueError
from warden.kube.state import read_cluster

# -- certs ------------------------------------------------------------------------------------

SUPER_ADMIN_FILE = SUPER_ADMIN.certs[0].path

CERTS_EPILOG = """\
Control-plane nodes get kubeadm's whole tree: pki/ca.crt, apiserver.*, apiserver-kubelet-client.*,
apiserver-etcd-client.*, front-proxy-ca.crt, front-proxy-client.*, etcd/ca.crt, etcd/server.*,
etcd/peer.*, etcd/healthcheck-client.*, kubelet.* (serving), sa.key, sa.pub, and admin.conf,
super-admin.conf, controller-manager.conf, scheduler.conf, kubelet.conf, kube-proxy.conf.
Workers get pki/ca.crt, pki/kubelet.*, kubelet.conf and kube-proxy.conf. CA private keys are
never written: they stay inside warden. Keys and kubeconfigs are 0600, certificates 0644.
Existing files are replaced (this is also how to renew).

admin.conf's group (kubeadm:cluster-admins) gets its rights from a ClusterRoleBinding that a
fresh cluster does not have yet; as kubeadm >= 1.29 does, super-admin.conf (O=system:masters,
which RBAC cannot take away, so valid 1h by default) exists to create it, once:
  kubectl --kubeconfig DIR/super-admin.conf create clusterrolebinding kubeadm:cluster-admins \\
    --clusterrole=cluster-admin --group=kubeadm:cluster-admins
then use admin.conf and delete super-admin.conf. -no-super-admin skips it (clusters that have
the binding, or bootstrapped with -admin-group=system:masters).

The token needs the node's policies (CLUSTER/k8s/<component>[-<node>]) and
CLUSTER/k8s/cluster-info, e.g. one made with 'warden token create -role=k8s-CLUSTER ...'.

Example:
  warden k8s certs c1 -node cp1 -out /etc/kubernetes"""


def certs_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s certs") -> int:
    parser = new_parser(prog, "Issue and write one node's kubeadm-compatible certificate tree.",
                        usage=f"{prog} [options] CLUSTER -out DIR", epilog=CERTS_EPILOG)
    add_cluster_arg(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="The tree's root (/etc/kubernetes).")
    parser.add_argument("--node", default="", metavar="NAME",
                        help="The node (default: the only control plane, if there is one).")
    parser.add_argument("--server", default="", metavar="URL",
                        help="API server URL for every kubeconfig (default: the control-plane endpoint; "
                             "the node's own address for controller-manager and scheduler).")
    add_bool_flag(parser, "super-admin", "Write super-admin.conf on a control plane (default; "
                  "-no-super-admin skips it).", default=True)
    add_kv_flag(parser)
    add_format_flag(parser)
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    root = Path(args.out)
    with make_client(args, streams) as client:
        spec = load_spec(client, args.args[0], args.kv_mount)
        node = _node(spec, args.node, prog)
        if not (spec.control_planes or spec.control_plane_endpoint or args.server):
            raise UsageError(f"cluster {spec.name} has no control-plane node and no -control-plane-endpoint, "
                             "so its kubeconfigs would point nowhere: add one with 'warden k8s bootstrap "
                             f"{spec.name} -control-plane NAME=IP', or pass -server URL", prog)
        with api_errors(f"issuing the certificates of {node.name}"):
            try:
                files = tree.build(client, spec, node, server=args.server, super_admin=args.super_admin,
                                   progress=streams.err)
            except IssueError as exc:
                raise CommandError(f"Error issuing the certificates of {node.name}: {exc}") from None
    tree.write(root, files)
    if fmt != "table":
        streams.out(render_data({"root": str(root), "node": node.name, "files": [
            {"path": f.path, "mode": f"{f.mode:04o}", "what": f.what} for f in files]}, fmt))
        return EXIT_OK
    streams.out(table(("File", "Mode", "What"), [[f.path, f"{f.mode:04o}", f.what] for f in files]))
    streams.out(f"\nSuccess! Wrote {len(files)} files for {node.name} of cluster {spec.name} under {root}")
    if any(f.path == SUPER_ADMIN_FILE for f in files) and spec.admin_group != LEGACY_ADMIN_GROUP:
        streams.out(super_admin_hint(spec, root))
    return EXIT_OK


def super_admin_hint(spec: ClusterSpec, root: Path) -> str:
    """What super-admin.conf is for: the one binding kubeadm init makes with it."""
    group = spec.admin_group
    return (f"\nOn a fresh cluster nothing binds admin.conf's group {group} yet. Create the binding "
            f"once\nwith super-admin.conf (O={LEGACY_ADMIN_GROUP}, valid {spec.super_admin_ttl}), then use "
            f"admin.conf:\n  kubectl --kubeconfig {root / SUPER_ADMIN_FILE} create clusterrolebinding "
            f"{group} --clusterrole=cluster-admin --group={group}")


def _node(spec: ClusterSpec, name: str, prog: str) -> Node:
    if not spec.nodes:
        raise UsageError(f"cluster {spec.name} has no nodes yet: add them with 'warden k8s bootstrap "
                         f"{spec.name} -control-plane NAME=IP' (or -worker NAME=IP)", prog)
    if not name:
        if len(spec.control_planes) == 1 and not spec.workers:
            return spec.control_planes[0]
        known = ", ".join(n.name for n in spec.nodes)
        raise UsageError(f"which node? -node NAME (one of: {known})", prog)
    try:
        return spec.node(name)
    except SpecError as exc:
        raise UsageError(str(exc), prog) from None


# -- kubeconfig -------------------------------------------------------------------------------


def kubeconfig_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s kubeconfig") -> int:
    parser = new_parser(
        prog, "Write a kubeconfig with a short-lived client certificate for a person: CN = -user, "
              "O = -group. Refused unless the token's policies allow the group's role.",
        usage=f"{prog} [options] CLUSTER -user NAME -group GROUP",
        epilog="The group's role and policy (CLUSTER/k8s/user-GROUP) come from 'warden k8s bootstrap "
               "-user-group GROUP'. People are named by e-mail address (with -user-domain set at "
               "bootstrap, a bare name gets that domain).\n\nExample:\n  warden k8s kubeconfig c1 "
               "-user alice@example.com -group dev -ttl 2h -server https://k8s.example.net:6443 "
               "-out alice.conf")
    add_cluster_arg(parser)
    parser.add_argument("--user", required=True, metavar="NAME",
                        help="The person's e-mail address (the certificate's CN).")
    parser.add_argument("--group", required=True, metavar="GROUP", help="Their Kubernetes group (O).")
    parser.add_argument("--ttl", default="1h", metavar="DURATION", help="Lifetime (1h), within the role's.")
    parser.add_argument("--server", default="", metavar="URL",
                        help="API server URL (default: the cluster's control-plane endpoint).")
    parser.add_argument("--out", default="-", metavar="FILE", help="Where to write it ('-': stdout).")
    add_kv_flag(parser)
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    cluster = args.args[0]
    with make_client(args, streams) as client:
        spec = _settings_if_needed(client, cluster, args)
        server = args.server or (spec.server_url() if spec else "")
        request = people.UserRequest(cluster, args.user, args.group, args.ttl, server,
                                     spec.user_domain if spec else "")
        with api_errors(f"issuing a certificate for {args.user}"):
            try:
                made = people.user_kubeconfig(client, request)
            except ValueError as exc:
                raise UsageError(str(exc), prog) from None
            except (people.Refused, people.UnknownGroup) as exc:
                raise CommandError(str(exc)) from None
    if made.warnings:
        streams.err(warnings_text({"warnings": list(made.warnings)}) + "\n")
    if args.out == "-":
        streams.out(made.text, newline=False)
        return EXIT_OK
    write_atomic(Path(args.out), made.text, mode=KEY_MODE)
    until = dt.datetime.fromtimestamp(made.expiration, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    streams.err(f"Success! Wrote {args.out} for {made.user} (group {args.group}), valid until {until}")
    return EXIT_OK


def _settings_if_needed(client: Client, cluster: str, args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster's settings (server URL, user domain); with -server they are optional."""
    if not args.server:
        return load_spec(client, cluster, args.kv_mount)
    try:
        return read_cluster(client, args.kv_mount or "secret", cluster)
    except (LookupError, ClientError, SpecError):
        return None


# -- check ------------------------------------------------------------------------------------


def check_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s check") -> int:
    parser = new_parser(
        prog, "Check a certificate tree (warden's or kubeadm's): subject, issuer, SANs, usages, days "
              "left, key match, chain against the right CA, and whether the identity fits the "
              "component. Exits 2 when there are problems.",
        usage=f"{prog} [options] DIR", http=False,
        epilog="DIR holds pki/ and the kubeconfigs (like /etc/kubernetes), or is pki/ itself.\n\n"
               f"{WARNING_RULE}\n\n"
               "Examples:\n  warden k8s check /etc/kubernetes\n  warden k8s check -format=json ./cp1")
    add_args(parser, "DIR", "The tree to check.")
    parser.add_argument("--cluster-domain", default=DEFAULT_CLUSTER_DOMAIN, metavar="DOMAIN",
                        help="The DNS domain the API server's SANs must name.")
    parser.add_argument("--service-cidr", default="", metavar="CIDR",
                        help="Also require the service CIDR's first IP among the API server's SANs.")
    parser.add_argument("--warn-days", type=int, default=30, metavar="N",
                        help="Warn about certificates expiring within N days (30); see below.")
    add_bool_flag(parser, "wide", "Every column (issuer, SANs, usages, key, chain, identity); wider "
                  "than 100.")
    add_format_flag(parser)
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    opts = CheckOptions(args.cluster_domain, args.service_cidr, args.warn_days)
    try:
        report = check_tree(Path(args.args[0]), opts)
    except NothingToCheck as exc:
        raise CommandError(str(exc)) from None
    if fmt != "table":
        streams.out(render_data(report.to_json(), fmt))
    else:
        streams.out(_check_table(report, wide=args.wide))
    return EXIT_OK if report.ok else EXIT_ERROR


def _usages(usages: tuple[str, ...]) -> str:
    """The table shows what decides a certificate's use: CA, server, client (JSON has all)."""
    shown = ["CA"] if "keyCertSign" in usages else []
    shown += [u.removesuffix("Auth") for u in usages if u.endswith("Auth")]
    return ",".join(shown)


def _days(f: FileReport) -> str:
    return "" if f.days_left is None else str(f.days_left)


def _result(f: FileReport) -> str:
    return "PROBLEM" if f.problems else "warning" if f.warnings else "ok"


def _wide_table(report: Report) -> str:
    rows = [[f.file, f.subject, f.issuer if f.kind != "ca" or f.issuer != f.subject else "(self)",
             ", ".join(s.removeprefix("DNS:") for s in f.sans), _usages(f.usages), _days(f), f.key, f.chain,
             f.identity] for f in report.files]
    return table(("File", "Subject", "Issuer", "SANs", "Usages", "Days", "Key", "Chain", "Identity"), rows)


def _narrow_table(report: Report) -> str:
    """File, subject, days left and the verdict (the reasons follow the table): 100 columns."""
    header = ("File", "Subject", "Days", "Result")
    rows = [[f.file, f.subject, _days(f), _result(f)] for f in report.files]
    return table(header, wrap_column(rows, 1, header))


def _check_table(report: Report, *, wide: bool = False) -> str:
    lines = [_wide_table(report) if wide else _narrow_table(report)]
    problems = [(f.file, p) for f in report.files for p in f.problems]
    warnings = [(f.file, w) for f in report.files for w in f.warnings]
    if problems:
        lines += ["", "Problems:"] + [f"  {file}: {p}" for file, p in problems]
    if warnings:
        lines += ["", "Warnings:"] + [f"  {file}: {w}" for file, w in warnings]
    bad = sum(1 for f in report.files if not f.ok)
    lines += ["", f"{len(report.files)} files checked, {bad} with problems."]
    return "\n".join(lines)
