"""``warden k8s bootstrap -kubelet-signer`` and ``-print-rbac``: the warden side of
``warden k8s controller``'s kubelet signers, and what the cluster must change."""

from __future__ import annotations

import argparse

import yaml  # type: ignore[import-untyped,unused-ignore]

from warden.agent.config_source import parse_document
from warden.cli.common import EXIT_OK, Streams, add_bool_flag
from warden.controllers.config import parse_config
from warden.controllers.kinds import KINDS
from warden.controllers.rbac import manifests
from warden.kube import kubelet_signer
from warden.kube.cluster import ClusterSpec
from warden.kube.state import Api


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_bool_flag(parser, "kubelet-signer", "Roles, a policy and a Kubernetes-auth role for "
                  "'warden k8s controller' to sign the kubelet signerNames.", default=None)
    add_bool_flag(parser, "print-rbac", "Print the controller's RBAC manifests (ServiceAccount, "
                  "ClusterRole/Binding, Lease Role/Binding) and exit; changes nothing.")


def controller_config(spec: ClusterSpec, address: str) -> str:
    return kubelet_signer.controller_config(spec, address)


def print_rbac(spec: ClusterSpec, address: str, streams: Streams) -> int:
    config = parse_config(parse_document(controller_config(spec, address), yaml_format=False), {}, KINDS)
    docs = manifests(config, service_account=kubelet_signer.SERVICE_ACCOUNT,
                     namespace=kubelet_signer.NAMESPACE, name=f"warden-csr-controller-{spec.name}")
    streams.out(yaml.safe_dump_all(docs, sort_keys=False), newline=False)
    return EXIT_OK


def after_bootstrap(api: Api, spec: ClusterSpec, address: str, streams: Streams,
                    table: bool) -> dict[str, object]:
    """Ensure the auth role; print (table) or return (json) what the cluster must change."""
    auth = kubelet_signer.ensure_auth_role(api, spec)
    settings = kubelet_signer.cluster_settings(spec) if spec.kubelet_signer else []
    config = controller_config(spec, address)
    if table:
        streams.out(f"Controller login: {auth}.")
        if settings:
            streams.out("Cluster settings for warden as the kubelet signer:")
        for line in settings:
            streams.out(f"  {line}")
        streams.out("Controller configuration ('warden k8s controller -config FILE'):")
        streams.out("".join(f"  {line}\n" for line in config.splitlines()), newline=False)
    return {"auth_role": auth, "cluster_settings": settings, "controller_config": config}
