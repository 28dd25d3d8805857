"""``warden k8s install-crds``: install (or update) warden's custom resource definitions,
WardenSecret and WardenCertificate (warden.dev/v1alpha1), by server-side apply."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx2

from warden.cli.common import EXIT_OK, CommandError, Streams, add_bool_flag, new_parser, parse
from warden.controllers import crds
from warden.controllers.kubeclient import KubernetesSettings, KubeSetupError, describe, make_client

PROG = "warden k8s install-crds"
DESCRIPTION = """\
Install or update warden's custom resource definitions (WardenSecret, WardenCertificate;
group warden.dev, version v1alpha1) with server-side apply, then wait until the apiserver
serves them. Safe to run again: it only changes what differs. The manifests are also in
the repository's deploy/crds/ (and printed by -print) for GitOps tools.

Needs permission to apply customresourcedefinitions (a cluster admin). The cluster comes
from -kubeconfig (default: $KUBECONFIG, else ~/.kube/config), or the in-cluster account."""


def install_crds_cmd(argv: list[str], streams: Streams, prog: str = PROG) -> int:
    parser = new_parser(prog, DESCRIPTION, usage=f"{prog} [options]", http=False)
    parser.add_argument(
        "--kubeconfig", metavar="FILE", help="The kubeconfig (default: $KUBECONFIG, ~/.kube/config)."
    )
    parser.add_argument(
        "--context", metavar="NAME", default="", help="The kubeconfig context (default: current)."
    )
    add_bool_flag(parser, "print", "Print the manifests (YAML) and exit; apply nothing.")
    add_bool_flag(parser, "dry-run", "Ask the apiserver to check the apply without storing it.")
    args = parse(parser, argv)
    if args.print:
        streams.out(crds.manifests_text(), newline=False)
        return EXIT_OK
    settings = KubernetesSettings(kubeconfig=_kubeconfig(args.kubeconfig, streams), context=args.context)
    try:
        installed = asyncio.run(_install(settings, bool(args.dry_run)))
    except KubeSetupError as exc:
        raise CommandError(f"{exc}; give -kubeconfig=FILE") from None
    for item in installed:
        state = (
            "checked (dry run)"
            if args.dry_run
            else ("established" if item.established else "not yet established")
        )
        streams.out(f"{item.name}: applied, {state}")
    if not args.dry_run and not all(i.established for i in installed):
        raise CommandError("the apiserver does not serve every CRD yet; run 'kubectl get crd' to see why")
    return EXIT_OK


def _kubeconfig(flag: str | None, streams: Streams) -> Path | None:
    if flag:
        return Path(flag)
    env = streams.env.get("KUBECONFIG", "")
    if env:
        return Path(env.split(os.pathsep)[0])
    default = Path.home() / ".kube" / "config"
    return default if default.exists() else None


async def _install(settings: KubernetesSettings, dry_run: bool) -> list[crds.Installed]:
    kube = make_client(settings)
    try:
        return await crds.install(kube, dry_run=dry_run)
    except Exception as exc:
        if kube_failure(exc):
            raise CommandError(f"cannot install the CRDs: {describe(exc)}") from None
        raise
    finally:
        await kube.close()


def kube_failure(exc: BaseException) -> bool:
    return isinstance(exc, httpx2.HTTPError | OSError)
