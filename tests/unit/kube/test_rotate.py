"""Rotation's pure parts: which leaves still depend on a CA, who holds what, the plan's order,
the state's codec and the next command."""

from __future__ import annotations

from warden.kube.cluster import ClusterSpec, parse_node
from warden.kube.rotate import command, next_command
from warden.kube.rotate_leaves import Leaf, current_leaves, holders, live_leaves_of, stale_since
from warden.kube.rotate_plan import plan, text
from warden.kube.rotation_state import RotationState

SPEC = ClusterSpec("c1", (parse_node("cp1=10.0.0.1", control_plane=True),
                          parse_node("cp2=10.0.0.2", control_plane=True),
                          parse_node("w1=10.0.0.3", control_plane=False)))


def leaf(serial: str, role: str, issuer: str, issued: int, *, cn: str = "x", revoked: bool = False,
         expires: int = 10_000, sans: tuple[str, ...] = ()) -> Leaf:
    return Leaf(serial, role, cn, issuer, issued, expires, revoked, sans)


def test_a_newer_leaf_of_the_same_identity_supersedes_the_old_one() -> None:
    leaves = [leaf("1", "scheduler", "old", 100), leaf("2", "scheduler", "new", 200),
              leaf("3", "apiserver", "old", 100, sans=("cp1",)),
              leaf("4", "apiserver", "new", 200, sans=("cp2",)),
              leaf("5", "admin", "old", 100), leaf("6", "admin", "new", 200, revoked=True),
              leaf("7", "kube-proxy", "old", 100, expires=50)]
    current = current_leaves(leaves)
    assert current[("scheduler", "x", ())].serial_number == "2"
    assert current[("admin", "x", ())].serial_number == "5"  # the revoked newer one does not count
    live = live_leaves_of(leaves, "old", now=60)
    # cp1's apiserver still serves the old CA although cp2's is new: the SANs tell them apart.
    assert [x.serial_number for x in live] == ["5", "3"]
    assert live_leaves_of(leaves, "old", now=60) == live_leaves_of(leaves[::-1], "old", now=60)


def test_holders_are_per_node_where_the_certificate_names_its_node() -> None:
    found = {(h.certificate, h.node) for h in holders(SPEC, "c1/pki/k8s")}
    assert {("apiserver", "cp1"), ("apiserver", "cp2"), ("kubelet-client", "w1")} <= found
    assert ("scheduler", "(all)") in found and ("kube-proxy", "(all)") in found
    assert not any(c.startswith("etcd") for c, _ in found)
    etcd = {(h.certificate, h.node) for h in holders(SPEC, "c1/pki/etcd")}
    assert {("etcd-server", "cp1"), ("etcd-peer", "cp2"), ("apiserver-etcd-client", "(all)")} <= etcd


def test_components_whose_leaf_predates_begin_have_not_fetched_the_bundle() -> None:
    spec_holders = holders(SPEC, "c1/pki/k8s")
    leaves = [leaf("1", "scheduler", "old", 100, cn="system:kube-scheduler"),
              leaf("2", "kubelet-client-w1", "old", 1000, cn="system:node:w1"),
              leaf("3", "user-dev", "old", 100, cn="alice@example.com")]
    stale = stale_since(leaves, since=500, now=600, spec_holders=spec_holders)
    assert [(h.certificate, lf.serial_number) for h, lf in stale] == [("scheduler", "1")]  # people are not


def test_the_plan_follows_the_manual_procedure() -> None:
    k8s = plan(SPEC, "k8s")
    begin, switch, finish = k8s.phases
    assert [r.component for r in begin.restarts][:3] == ["kube-controller-manager", "kube-apiserver",
                                                        "kube-scheduler"]
    assert switch.restarts[0].component == "kube-apiserver"  # servers present new leaves first
    assert dict(begin.files)["w1 (worker)"] == ("pki/ca.crt", "kubelet.conf", "kube-proxy.conf")
    assert "pki/apiserver.crt" in dict(switch.files)["cp1 (control plane)"]
    assert "refuses finish" in switch.waits_for and "switch is refused" in begin.waits_for
    assert finish.restarts == begin.restarts
    etcd = plan(SPEC, "etcd")
    assert [r.component for r in etcd.phases[0].restarts] == ["etcd", "kube-apiserver", "etcdctl"]
    assert "w1 (worker)" not in dict(etcd.phases[0].files)
    sa = plan(SPEC, "sa")
    assert [n for n, _ in sa.phases[0].files] == ["cp1 (control plane)", "cp2 (control plane)"]
    assert [r.component for r in sa.phases[1].restarts] == ["kube-apiserver", "kube-controller-manager"]
    kubelet = plan(ClusterSpec("c1", SPEC.nodes, kubelet_serving_ca=True), "kubelet")
    assert [r.component for r in kubelet.phases[1].restarts] == ["kubelet"]
    assert all(len(line) <= 100 for line in text(k8s).splitlines())


def test_state_codec_and_next_command() -> None:
    state = RotationState("k8s", "c1/pki/k8s", "begun", "a", "b", begun_at="2026-01-01T00:00:00Z")
    again = RotationState.from_json("k8s", {**state.to_json(), "unknown": 1}, version=3)
    assert again == state.replace(version=3) and "version" not in state.to_json()
    assert next_command(SPEC, state) == "warden k8s rotate c1 k8s switch"
    assert next_command(SPEC, state.replace(phase="switched")) == "warden k8s rotate c1 k8s finish"
    assert next_command(SPEC, state.replace(phase="finished")) == ""
    waiting = state.replace(phase="", pending="signed-certificate")
    assert next_command(SPEC, waiting).endswith("-import SIGNED.crt")
    other = ClusterSpec("c1", SPEC.nodes, kv_mount="kv")
    assert command(other, "sa", "begin") == "warden k8s rotate -kv-mount kv c1 sa begin"


def test_issue_times_count_whole_seconds_of_the_server_after_the_30s_backdate() -> None:
    from warden.kube.rotate_leaves import issued_before

    fetched = leaf("1", "scheduler", "old", 970)  # issued during second 1000
    assert issued_before(fetched, 1001) and not issued_before(fetched, 1000)
