"""``warden k8s controller``: run the in-cluster controllers (the CSR signer and approvers,
and the others registered in ``warden.controllers.kinds``) from a configuration file."""

from __future__ import annotations

import asyncio

import yaml  # type: ignore[import-untyped,unused-ignore]

from warden.agent.config_parse import ConfigError
from warden.agent.logs import configure, parse_level
from warden.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Streams,
    UsageError,
    add_bool_flag,
    new_parser,
    parse,
)
from warden.controllers.config import ControllerConfig, load_config
from warden.controllers.kinds import KINDS
from warden.controllers.rbac import controller_policy, manifests
from warden.controllers.runtime import ControllerProcess, Dependencies

PROG = "warden k8s controller"
LOGGER = "warden.controller"

DESCRIPTION = """\
Run warden's Kubernetes controllers in one process: it logs in to warden (auto_auth, as the
agent; never with a root token), keeps its token alive, takes a coordination.k8s.io Lease so
that only one replica acts, and while it leads, watches the cluster and reconciles. It serves
/healthz, /readyz and Prometheus /metrics on the listener, logs one line per decision, and on
SIGTERM stops its controllers and releases the Lease.

The CSR signer signs the CertificateSigningRequests of each configured signerName through
warden's PKI (<mount>/sign/<role>), so every certificate is in warden's index, audit log, CRL
and OCSP; approvers approve kubelet requests (node-client, node-addresses).

secret_sync and certificate_sync keep WardenSecret and WardenCertificate resources
(warden k8s install-crds) in Kubernetes Secrets, each namespace logging in to warden with
its own service account (namespace_auth), never with the controller's token.
pod_credentials pushes response-wrapped AppRole secret-ids to the init containers of pods
annotated warden.dev/approle (seed 003; see 'warden agent -receive-secret-id -help').

The pod certificate signer answers the PodCertificateRequests (certificates.k8s.io/v1beta1)
of each configured signerName with a certificate for the pod's identity (a SPIFFE URI from
its namespace and service account, optional DNS names), or Denied with a reason; each
signer's trust bundle, and each cluster_trust_bundle's, is kept as a ClusterTrustBundle
that follows the mount's CA rotations in place.

Exit codes: 0 stopped by a signal, 1 bad flags or configuration, 2 could not go on."""

CONFIG_HELP = """\
Configuration (HCL, JSON or YAML; the agent's warden {} and auto_auth {} blocks):

  warden { address = "https://warden:8200"  ca_cert = "/etc/warden/ca.pem" }
  auto_auth { method "kubernetes" { config = { role = "c1-csr-controller" } } }
  kubernetes { kubeconfig = "/etc/warden/controller.kubeconfig" }  # absent: in-cluster account
  leader_election {                      # defaults shown
    namespace = "kube-system"  name = "warden-controller"
    lease_duration = "15s"  renew_deadline = "10s"  retry_period = "2s"
  }
  listener "tcp" { address = "0.0.0.0:9102" }   # /healthz, /readyz, /metrics
  signer "kubernetes.io/kubelet-serving" {
    mount = "c1/pki/kubelet"  role = "kubelet-serving"  approve = "node-addresses"
  }
  signer "kubernetes.io/kube-apiserver-client-kubelet" {
    mount = "c1/pki/k8s"  role = "kubelet-client"  approve = "node-client"
  }
  signer "example.com/apps" {            # no approve: a human (kubectl certificate approve)
    mount = "c1/pki/apps"  role = "apps"  method = "sign"   # or "sign-verbatim"
  }
  secret_sync {                          # WardenSecrets; certificate_sync {} alike
    namespaces = ["team-a"]              # absent: all namespaces
    namespace_auth {                     # per namespace N: a TokenRequest for this account
      service_account = "warden-sync"    #   in N, logged in at mount with role (defaults)
      role = "{namespace}"  mount = "auth/kubernetes"  token_ttl = "10m"
    }
  }
  pod_credentials {
    roles = ["web"]  wrap_ttl = "60s"  ca_mount = "c1/pki/pods"   # or ca_file
    port = 8201  init_container = "warden-init"  approle_mount = "auth/approle"
  }
  pod_certificate_signer "warden.dev/c1-workloads" {
    mount = "c1/pki/workloads"  role = "workloads"
    trust_domain = "c1.cluster.local"    # spiffe://<trust_domain>/ns/<namespace>/sa/<name>
    allowed_namespaces = ["*"]  allowed_service_accounts = ["*/*"]   # globs; <ns>/<name>
    dns_names = ["{{pod}}.{{namespace}}.pod.cluster.local"]          # optional
    bundle_labels = { "warden.dev/cluster" = "c1" }   # on warden.dev:c1-workloads:trust-bundle
  }
  cluster_trust_bundle "c1-k8s" { mount = "c1/pki/k8s"  refresh = "30s" }

With -print-rbac, prints the ServiceAccount, ClusterRole/Binding and Lease Role/Binding the
configuration needs, and exits; with -print-policy, the warden policy its token needs."""


def _load(path: str, streams: Streams) -> ControllerConfig:
    try:
        return load_config(path, streams.env, KINDS)
    except ConfigError as exc:
        raise CommandError(f"Error loading configuration from {path}: {exc}", EXIT_USAGE) from None


def controller_cmd(argv: list[str], streams: Streams, prog: str = PROG) -> int:
    parser = new_parser(prog, DESCRIPTION, usage=f"{prog} -config=FILE [options]", epilog=CONFIG_HELP,
                        http=False)
    parser.add_argument("--config", metavar="FILE", help="The controller's configuration file (required).")
    parser.add_argument("--log-level", metavar="LEVEL", default="info",
                        help="trace, debug, info, warn or error (default: info).")
    parser.add_argument("--log-format", metavar="FORMAT", choices=("text", "json"), default="text",
                        help="text (key=value) or json (default: text).")
    add_bool_flag(parser, "print-rbac", "Print the RBAC manifests the configuration needs, then exit.")
    add_bool_flag(parser, "print-policy", "Print the warden policy (HCL) the controller's own token "
                  "needs for the configured controllers (for 'warden policy write'), then exit.")
    parser.add_argument("--namespace", default="kube-system", metavar="NS",
                        help="With -print-rbac: the ServiceAccount's namespace (kube-system).")
    parser.add_argument("--service-account", default="warden-controller", metavar="NAME",
                        help="With -print-rbac: the ServiceAccount's name (warden-controller).")
    args = parse(parser, argv)
    if not args.config:
        raise UsageError("a configuration file is required: -config=FILE", prog)
    try:
        parse_level(args.log_level)
    except ValueError as exc:
        raise UsageError(str(exc), prog) from None
    config = _load(args.config, streams)
    if args.print_policy:
        streams.out(controller_policy(config), newline=False)
        return EXIT_OK
    if args.print_rbac:
        docs = manifests(config, service_account=args.service_account, namespace=args.namespace)
        streams.out(yaml.safe_dump_all(docs, sort_keys=False), newline=False)
        return EXIT_OK
    log = configure(args.log_level, args.log_format, streams.stderr, name=LOGGER)
    process = ControllerProcess(config, Dependencies(log=log))
    code = asyncio.run(process.run())
    if code and process.failure:
        streams.err(f"Error: {process.failure}")
    return code
