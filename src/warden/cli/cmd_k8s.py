"""``warden k8s``: a Kubernetes cluster's PKI (bootstrap, import-signed, certs, kubeconfig,
explain, check). The work is in ``warden.kube``; this module parses flags and prints."""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from pathlib import Path
from typing import Any

from warden.api import ClientError, Forbidden
from warden.cli import cmd_k8s_podcert, cmd_k8s_signer
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
    read_text_file,
)
from warden.cli.dispatch import Entry, Group
from warden.cli.output import TABLE_WIDTH, render_data, table
from warden.kube import bootstrap, explain, render
from warden.kube.cluster import (
    DEFAULT_ADMIN_GROUP,
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_SERVICE_CIDR,
    LEGACY_ADMIN_GROUP,
    ClusterSpec,
    Node,
    SpecError,
    parse_node,
    validate,
)
from warden.kube.plan import Plan
from warden.kube.state import Api, read_cluster

GROUP = Group(
    prog="warden k8s",
    description="A Kubernetes cluster's PKI, kubeadm-compatible: CAs per cluster (etcd, Kubernetes, "
                "front-proxy), roles that pin each component's identity, one policy per component, "
                "a periodic token role, the service-account key, certificate trees and kubeconfigs.",
    entries=(
        Entry("bootstrap", "warden.cli.cmd_k8s:bootstrap_cmd", "Create (idempotently) a cluster's PKI"),
        Entry("import-signed", "warden.cli.cmd_k8s:import_signed_cmd",
              "Import intermediate CA certificates signed by an offline root"),
        Entry("certs", "warden.cli.cmd_k8s_files:certs_cmd",
              "Write a node's certificate tree and kubeconfigs"),
        Entry("kubeconfig", "warden.cli.cmd_k8s_files:kubeconfig_cmd",
              "A kubeconfig with a short-lived certificate for a person"),
        Entry("explain", "warden.cli.cmd_k8s:explain_cmd",
              "Which file and which CA stand behind every certificate flag"),
        Entry("check", "warden.cli.cmd_k8s_files:check_cmd",
              "Check a certificate tree: chains, keys, SANs, identities, expiry"),
        Entry("rotate", "warden.cli.cmd_k8s_rotate:rotate_cmd",
              "Rotate a CA or the service-account key pair, staged and resumable"),
        Entry("controller", "warden.cli.cmd_k8s_controller:controller_cmd",
              "Run the in-cluster controllers (CSR and pod certificate signers, trust bundles, sync)"),
        Entry("install-crds", "warden.cli.cmd_k8s_crds:install_crds_cmd",
              "Install the WardenSecret and WardenCertificate custom resource definitions"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def add_cluster_arg(parser: argparse.ArgumentParser) -> None:
    add_args(parser, "CLUSTER", "The cluster's id: mounts live under CLUSTER/pki/.")


def add_kv_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kv-mount", default=None, metavar="PATH",
                        help="KV mount holding the service-account key and the cluster's settings "
                             "(default: secret).")


def load_spec(api: Api, cluster: str, kv_mount: str | None) -> ClusterSpec:
    with api_errors(f"reading the settings of cluster {cluster}"):
        try:
            return read_cluster(api, kv_mount or "secret", cluster)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        except Forbidden:
            path = f"{kv_mount or 'secret'}/{cluster}/k8s/cluster"
            raise CommandError(f"Error reading the settings of cluster {cluster} ({path}): permission "
                               f"denied; the token needs the policy {cluster}/k8s/cluster-info") from None


# -- bootstrap --------------------------------------------------------------------------------

BOOTSTRAP_EPILOG = f"""\
Creates, under CLUSTER/pki/: etcd, k8s and front-proxy PKI mounts (and kubelet with
-kubelet-serving-ca), each with a root CA (or, with -intermediate, a CSR for an offline
root; finish with 'warden k8s import-signed'); a role per certificate that pins its CN,
O, SANs and usages (per node for etcd and kubelets); a policy per component
(CLUSTER/k8s/<component>[-<node>]) allowing only its own issue paths (and reading the
service-account key for kube-apiserver and kube-controller-manager); the periodic orphan
token role k8s-CLUSTER; the service-account key pair in KV; the cluster's settings in KV.

Nodes are optional: without any, bootstrap makes everything that does not name a machine
(CAs, cluster-wide roles and policies, the token role, the service-account key); nodes
given on a later run (-control-plane, -worker) are added to the stored settings with their
own roles and policies. A second run changes nothing and says so; a CA or the
service-account key is never made again. -dry-run prints the equivalent generic commands.

Defaults follow kubeadm: RSA-2048, CAs 10 years, leaves 1 year, service CIDR
{DEFAULT_SERVICE_CIDR}, domain {DEFAULT_CLUSTER_DOMAIN}. The admin certificate is short-lived
(24h) and in the group {DEFAULT_ADMIN_GROUP} (kubeadm >= 1.29, bound to cluster-admin and
revocable through RBAC); -admin-group={LEGACY_ADMIN_GROUP} for older clusters. As kubeadm
>= 1.29 does, a super-admin certificate (O={LEGACY_ADMIN_GROUP}, 1h) exists only to create
that binding once on a fresh cluster (see 'warden k8s certs -help').

Examples:
  warden k8s bootstrap c1 -control-plane cp1=10.0.0.10 -worker w1=10.0.0.21
  warden k8s bootstrap c1 -dry-run > c1.sh
  warden k8s bootstrap c1 -control-plane cp1=10.0.0.10 -intermediate -csr-dir ./csr
  warden token create -role=k8s-c1 -policy=c1/k8s/etcd-cp1 -policy=c1/k8s/cluster-info"""


def _bootstrap_parser(prog: str) -> argparse.ArgumentParser:
    p = new_parser(prog, "Create a cluster's PKI in warden, idempotently.",
                   usage=f"{prog} [options] CLUSTER", epilog=BOOTSTRAP_EPILOG)
    add_cluster_arg(p)
    add = p.add_argument
    add("--control-plane", action="append", default=[], metavar="NAME=IP",
        help="A control-plane node (runs etcd) and its advertise address (repeatable).")
    add("--worker", action="append", default=[], metavar="NAME[=IP]", help="A worker node (repeatable).")
    add("--service-cidr", default=None, metavar="CIDR", help=f"Service CIDR ({DEFAULT_SERVICE_CIDR}).")
    add("--cluster-domain", default=None, metavar="DOMAIN", help=f"DNS domain ({DEFAULT_CLUSTER_DOMAIN}).")
    add("--control-plane-endpoint", default=None, metavar="HOST[:PORT]",
        help="The API server's load-balanced address (an apiserver SAN; kubeconfigs use it).")
    add("--apiserver-san", action="append", default=[], metavar="NAME|IP",
        help="An extra SAN of the API server's certificate (repeatable).")
    add("--key-type", default=None, choices=("rsa", "ec"), help="Key type of CAs and leaves (rsa).")
    add("--key-bits", type=int, default=None, metavar="N", help="Key size (rsa 2048, ec 256).")
    add("--ca-ttl", default=None, metavar="DURATION", help="CA lifetime and mounts' max TTL (87600h).")
    add("--cert-ttl", default=None, metavar="DURATION", help="Leaf lifetime (8760h).")
    add("--admin-ttl", default=None, metavar="DURATION", help="admin.conf's certificate lifetime (24h).")
    add("--super-admin-ttl", default=None, metavar="DURATION",
        help="super-admin.conf's certificate lifetime (1h): O=system:masters, which RBAC cannot revoke.")
    add("--user-ttl", default=None, metavar="DURATION", help="Maximum lifetime of people's certs (8h).")
    add("--token-period", default=None, metavar="DURATION", help="Period of the token role (720h).")
    add("--admin-group", default=None, metavar="GROUP", help=f"O of admin certs ({DEFAULT_ADMIN_GROUP}).")
    add("--user-group", action="append", default=[], metavar="GROUP",
        help="A group people get kubeconfigs for: role user-GROUP, policy CLUSTER/k8s/user-GROUP.")
    add("--user-domain", default=None, metavar="DOMAIN",
        help="People are e-mail addresses in DOMAIN (alice -> alice@DOMAIN); their roles then refuse "
             "any other name, e.g. a component's (recommended).")
    add_bool_flag(p, "kubelet-serving-ca", "A separate CA (CLUSTER/pki/kubelet) for kubelet serving certs.",
                  default=None)
    add_bool_flag(p, "intermediate", "Make intermediate CSRs for an offline root instead of roots.",
                  default=None)
    add("--csr-dir", default=".", metavar="DIR", help="Where -intermediate writes CSRs (default .).")
    cmd_k8s_signer.add_flags(p)
    cmd_k8s_podcert.add_flags(p)
    add_kv_flag(p)
    add_bool_flag(p, "dry-run", "Print the equivalent generic warden commands; change nothing.")
    add_format_flag(p)
    return p


_OPTION_FIELDS = ("service_cidr", "cluster_domain", "control_plane_endpoint", "key_type", "key_bits",
                  "ca_ttl", "cert_ttl", "admin_ttl", "super_admin_ttl", "user_ttl", "token_period",
                  "admin_group", "kubelet_serving_ca", "intermediate", "kv_mount", "user_domain",
                  "kubelet_signer", "pod_certificates", "trust_domain")


def _merge_nodes(stored: tuple[Node, ...], given: list[Node]) -> tuple[Node, ...]:
    by_name = {n.name: n for n in stored}
    by_name.update({n.name: n for n in given})
    return tuple(by_name.values())


def spec_from_args(args: argparse.Namespace, stored: ClusterSpec | None) -> ClusterSpec:
    """Flags given override the stored settings (or kubeadm's defaults); nodes are added."""
    base = stored or ClusterSpec(args.args[0])
    nodes = [parse_node(n, control_plane=True) for n in args.control_plane]
    nodes += [parse_node(n, control_plane=False) for n in args.worker]
    values: dict[str, Any] = {k: getattr(args, k) for k in _OPTION_FIELDS if getattr(args, k) is not None}
    if args.key_type and args.key_bits is None and stored and args.key_type != stored.key_type:
        values["key_bits"] = 0
    values["nodes"] = _merge_nodes(base.nodes, nodes)
    if args.apiserver_san:
        values["apiserver_sans"] = tuple(dict.fromkeys([*base.apiserver_sans, *args.apiserver_san]))
    if args.user_group:
        values["user_groups"] = tuple(dict.fromkeys([*base.user_groups, *args.user_group]))
    return validate(dataclasses.replace(base, **values))


def _stored(api: Api, args: argparse.Namespace) -> ClusterSpec | None:
    try:
        return read_cluster(api, args.kv_mount or "secret", args.args[0])
    except (LookupError, ClientError, SpecError):
        return None


def bootstrap_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s bootstrap") -> int:
    args = parse(_bootstrap_parser(prog), argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    if args.print_rbac:
        spec = ClusterSpec(args.args[0], kubelet_serving_ca=bool(args.kubelet_serving_ca),
                           kubelet_signer=bool(args.kubelet_signer or not args.pod_certificates),
                           pod_certificates=bool(args.pod_certificates))
        return cmd_k8s_signer.print_rbac(spec, args.address or "https://127.0.0.1:8200", streams)
    with make_client(args, streams) as client:
        stored = _stored(client, args)
        try:
            spec = spec_from_args(args, stored)
        except SpecError as exc:
            raise UsageError(str(exc), prog) from None
        csr_dir = Path(args.csr_dir) if spec.intermediate else None
        with api_errors(f"reading the state of cluster {spec.name}"):
            try:
                _, plan = bootstrap.prepare(client, spec, csr_dir)
            except SpecError as exc:
                raise CommandError(str(exc)) from None
        if args.dry_run:
            streams.out(render.script(plan), newline=False)
            return EXIT_OK
        if fmt == "table":
            _report_existing(streams, plan)
        with api_errors(f"bootstrapping cluster {spec.name}"):
            bootstrap.apply(client, plan, streams.err if fmt != "table" else streams.out)
        _report_bootstrap(streams, plan, fmt, args.csr_dir)
        if spec.kubelet_signer or spec.pod_certificates:
            with api_errors("setting up the controller's login"):
                signer = cmd_k8s_signer.after_bootstrap(client, spec, client.address, streams, fmt == "table")
            pods = (cmd_k8s_podcert.after_bootstrap(spec, streams, fmt == "table")
                    if spec.pod_certificates else {})
            if fmt != "table":
                streams.out(render_data({"kubelet_signer" if spec.kubelet_signer else "controller": signer,
                                         **({"pod_certificates": pods} if pods else {})}, fmt))
    return EXIT_OK


def _report_existing(streams: Streams, plan: Plan) -> None:
    """Before anything changes: what exists that bootstrap did not make, and what it does with it."""
    lines = [*plan.existing, *plan.notes]
    if lines:
        streams.out(f"Cluster {plan.cluster}: found what 'warden k8s bootstrap' did not make. Bootstrap")
        streams.out("\n".join(f"  - {line}" for line in lines))


def _report_bootstrap(streams: Streams, plan: Plan, fmt: str, csr_dir: str) -> None:
    if fmt != "table":
        streams.out(render_data({
            "cluster": plan.cluster, "changed": not plan.empty,
            "changes": [{"kind": s.kind.value, "method": s.method, "path": s.path, "summary": s.summary}
                        for s in plan.steps],
            "unchanged": list(plan.unchanged), "pending_cas": list(plan.pending_cas),
            "existing": list(plan.existing), "notes": list(plan.notes)}, fmt))
        return
    if plan.empty:
        streams.out(f"No changes: cluster {plan.cluster} is already bootstrapped as requested "
                    f"({len(plan.unchanged)} items checked).")
    else:
        streams.out(f"Success! Cluster {plan.cluster}: {len(plan.steps)} change(s) applied, "
                    f"{len(plan.unchanged)} already in place.")
    if plan.pending_cas:
        streams.out(f"Waiting for signed certificates: {', '.join(plan.pending_cas)}. Sign the CSRs in "
                    f"{csr_dir} with the offline root, then run 'warden k8s import-signed {plan.cluster} "
                    f"-csr-dir {csr_dir}'.")


# -- import-signed ----------------------------------------------------------------------------


def import_signed_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s import-signed") -> int:
    parser = new_parser(
        prog, "Finish intermediate CAs: import each certificate signed by the offline root "
              "(intermediate/set-signed). The key never left warden.",
        usage=f"{prog} [options] CLUSTER",
        epilog="For each CA still waiting, the certificate is -cert CA=FILE, else\n"
               "<csr-dir>/<cluster>-<ca>.crt (or .pem) next to the CSR (CA: etcd, k8s, front-proxy, "
               "kubelet).\n\nExample:\n  openssl x509 -req -in c1-etcd.csr -CA root.crt -CAkey root.key "
               "... -out c1-etcd.crt\n  warden k8s import-signed c1 -csr-dir . -root root.crt")
    add_cluster_arg(parser)
    parser.add_argument("--csr-dir", default=".", metavar="DIR", help="Where the CSRs and signed certs are.")
    parser.add_argument("--cert", action="append", default=[], metavar="CA=FILE",
                        help="The signed certificate of one CA (repeatable).")
    parser.add_argument("--root", default="", metavar="FILE",
                        help="The offline root's certificate, imported too so ca_chain is complete.")
    add_kv_flag(parser)
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    explicit = {}
    for item in args.cert:
        key, sep, path = item.partition("=")
        if not sep:
            raise UsageError(f"-cert takes CA=FILE, got {item!r}", prog)
        explicit[key] = Path(path)
    root_pem = read_text_file(args.root, "the root certificate") if args.root else ""
    with make_client(args, streams) as client:
        spec = load_spec(client, args.args[0], args.kv_mount)
        with api_errors("importing the signed certificates"):
            try:
                done = bootstrap.import_signed(client, spec, Path(args.csr_dir), explicit, root_pem,
                                               streams.out)
            except OSError as exc:
                raise CommandError(str(exc)) from None
    streams.out(f"Success! Imported {len(done)} CA certificate(s) for cluster {spec.name}.")
    return EXIT_OK


# -- explain ----------------------------------------------------------------------------------


def explain_cmd(argv: list[str], streams: Streams, prog: str = "warden k8s explain") -> int:
    parser = new_parser(
        prog, "For each component, every certificate-related flag, the file it points to in the tree "
              "'warden k8s certs' writes, and the warden CA (mount) or secret behind it. Works offline.",
        usage=f"{prog} [options] [CLUSTER]", http=False,
        epilog="Examples:\n  warden k8s explain c1\n  warden k8s explain -format=json c1 | jq '.[] | "
               "select(.component==\"kube-apiserver\")'")
    add_args(parser, "CLUSTER", "The cluster's id (shown in mount paths).")
    parser.add_argument("--dir", default="/etc/kubernetes", metavar="DIR", help="The tree's root.")
    add_bool_flag(parser, "kubelet-serving-ca", "The cluster has a separate kubelet-serving CA.")
    parser.add_argument("--kv-mount", default="secret", metavar="PATH", help="The KV mount (secret).")
    parser.add_argument("--admin-group", default=DEFAULT_ADMIN_GROUP, metavar="GROUP", help="Admin O.")
    add_format_flag(parser)
    add_bool_flag(parser, "wide", "One table with every column (full paths, identities): wider than 100.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 0, 1)
    fmt = output_format(args, streams)
    opts = explain.Options(args.args[0] if args.args else "<cluster>", args.dir, args.kubelet_serving_ca,
                           args.kv_mount, args.admin_group)
    found = explain.rows(opts)
    if fmt != "table":
        streams.out(render_data([r.to_json() for r in found], fmt))
    elif args.wide:
        rows = [[_component(r), r.flag, r.file or "(unset)", r.backed_by, r.identity] for r in found]
        streams.out(table(("Component", "Flag", "File", "Backed by", "Identity"), rows))
    else:
        streams.out(_explain_sections(found, opts))
    return EXIT_OK


def _component(row: explain.Row) -> str:
    return row.component if row.program == row.component else f"{row.program} ({row.component})"


def _explain_sections(found: list[explain.Row], opts: explain.Options) -> str:
    """One short table per component, paths relative to the tree and the cluster's mounts, so
    the whole fits 100 columns; the legend says what the short forms stand for."""
    root = opts.root.rstrip("/")
    legend = (f"Cluster {opts.cluster}. Files: under {root}/pki/ (certificates and keys) or {root}/ "
              f"(kubeconfigs). From: '<ca> CA' is the CA certificate of the mount {opts.cluster}/pki/<ca>; "
              f"'<ca>/<role>' is issued by {opts.cluster}/pki/<ca>/issue/<role> ('+ CA': with that CA); "
              f"'KV <field>' is a field of {opts.kv_mount}/{opts.cluster}/k8s/sa. -wide shows full paths "
              "and each certificate's identity; -format=json everything.")
    out = [textwrap.fill(legend, width=TABLE_WIDTH)]
    for name in dict.fromkeys(_component(r) for r in found):
        rows = [[r.flag, _relative(r.file, root) or "(unset)", r.source]
                for r in found if _component(r) == name]
        out += ["", name, table(("Flag", "File", "From"), rows)]
    return "\n".join(out)


def _relative(file: str, root: str) -> str:
    for prefix in (f"{root}/pki/", f"{root}/"):
        if file.startswith(prefix):
            return file.removeprefix(prefix)
    return file
