"""``warden k8s bootstrap`` flags over stored settings, and the check table."""

from __future__ import annotations

import argparse
import io

import pytest

from warden.cli.cmd_k8s import _bootstrap_parser, spec_from_args
from warden.cli.cmd_k8s_files import _check_table
from warden.cli.common import Streams, parse
from warden.kube.check import FileReport, Report
from warden.kube.cluster import ClusterSpec, Node, SpecError
from warden.kube.render import kv_args

STORED = ClusterSpec("c1", nodes=(Node("cp1", "10.0.0.10", True),), user_groups=("dev",), key_type="ec")


def args(*argv: str) -> argparse.Namespace:
    return parse(_bootstrap_parser("warden k8s bootstrap"), ["c1", *argv])


def test_first_run_takes_kubeadm_defaults() -> None:
    spec = spec_from_args(args("-control-plane", "cp1=10.0.0.10"), None)
    assert (spec.key_type, spec.bits, spec.cert_ttl, spec.admin_group) == ("rsa", 2048, "8760h",
                                                                          "kubeadm:cluster-admins")


def test_later_runs_keep_the_stored_settings_and_add_nodes() -> None:
    assert spec_from_args(args(), STORED) == STORED
    spec = spec_from_args(args("-worker", "w1=10.0.0.21", "-user-group", "ops", "-cert-ttl", "720h"), STORED)
    assert [n.name for n in spec.nodes] == ["cp1", "w1"]
    assert spec.user_groups == ("dev", "ops") and spec.cert_ttl == "720h" and spec.key_type == "ec"
    moved = spec_from_args(args("-control-plane", "cp1=10.0.0.99"), STORED)
    assert moved.nodes == (Node("cp1", "10.0.0.99", True),)


def test_a_new_key_type_gets_its_default_size() -> None:
    assert spec_from_args(args("-key-type", "rsa"), STORED).bits == 2048
    assert spec_from_args(args("-key-type", "rsa", "-key-bits", "4096"), STORED).bits == 4096


def test_booleans_in_vault_spelling() -> None:
    assert spec_from_args(args("-kubelet-serving-ca"), STORED).kubelet_serving_ca is True
    assert spec_from_args(args("-intermediate=false"), STORED).intermediate is False


def test_bad_flags_raise() -> None:
    with pytest.raises(SpecError):
        spec_from_args(args("-worker", "bad_name"), STORED)


def test_check_table_lists_problems_and_a_summary() -> None:
    ca = FileReport("pki/ca.crt", "ca", "CN=kubernetes", "CN=kubernetes", ("DNS:kubernetes",),
                    ("keyCertSign",), days_left=3650, identity="ok")
    leaf = FileReport("pki/apiserver.crt", "certificate", usages=("digitalSignature", "serverAuth"),
                      problems=("SANs lack DNS:kubernetes",), warnings=("expires in 3 days",))
    text = _check_table(Report("t", (ca, leaf)), wide=True)
    assert text.splitlines()[0].split() == [
        "File", "Subject", "Issuer", "SANs", "Usages", "Days", "Key", "Chain", "Identity"]
    assert "(self)" in text.splitlines()[2] and " CA " in text.splitlines()[2]
    narrow = _check_table(Report("t", (ca, leaf)))
    assert [line.split() for line in narrow.splitlines()[:4]] == [
        ["File", "Subject", "Days", "Result"], ["----", "-------", "----", "------"],
        ["pki/ca.crt", "CN=kubernetes", "3650", "ok"], ["pki/apiserver.crt", "n/a", "n/a", "PROBLEM"]]
    assert "Problems:\n  pki/apiserver.crt: SANs lack DNS:kubernetes" in text
    assert "Warnings:\n  pki/apiserver.crt: expires in 3 days" in text
    assert text.endswith("2 files checked, 1 with problems.")


def test_long_commands_wrap_for_the_shell() -> None:
    text = kv_args({f"key{i}": "x" * 30 for i in range(6)}, width=80)
    assert text.count(" \\\n    ") == 2
    assert all(len(line) <= 84 for line in text.splitlines())


def test_streams_are_injectable() -> None:  # the CLI's contract, used by the commands above
    out = io.StringIO()
    Streams(stdout=out).out("x")
    assert out.getvalue() == "x\n"
