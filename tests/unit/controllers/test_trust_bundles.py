"""Publishing trust bundles: configuration, and the reconcile against a fake warden and a fake
apiserver (create once, leave an equal object alone, update in place with its
resourceVersion, take over an unlabelled one); plus the runtime extras it relies on
(initial keys, several controllers per kind, shared metrics, RBAC without duplicates)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx2
import pytest
from lightkube.core.exceptions import ApiError as KubeApiError
from lightkube.resources.certificates_v1beta1 import ClusterTrustBundle
from prometheus_client import generate_latest

from support.controller_context import fake_context
from warden.agent.config_parse import Block, ConfigError
from warden.controllers.config import parse_config
from warden.controllers.context import Context
from warden.controllers.kinds import KINDS
from warden.controllers.loop import ControllerLoop
from warden.controllers.metrics import RuntimeMetrics
from warden.controllers.plugin import DONE, ObjectKey, Result, Watch
from warden.controllers.rbac import manifests
from warden.controllers.trustbundle import publisher
from warden.controllers.trustbundle.settings import BundleSettings, parse

PEM_A, PEM_B = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", \
    "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"


def bundles(label: str, **body: Any) -> dict[str, BundleSettings]:
    block = Block(f'cluster_trust_bundle "{label}"', {"mount": "c1/pki/k8s", **body})
    return dict(parse([(label, block)]).bundles)


def test_names_follow_the_apiservers_rule() -> None:
    assert list(bundles("c1-k8s")) == ["c1-k8s"]
    signed = bundles("v1", signer_name="example.com/serving/x")
    assert list(signed) == ["example.com:serving:x:v1"] and signed["example.com:serving:x:v1"].signer_name


@pytest.mark.parametrize(("label", "body", "message"), [
    ("C1", {}, "DNS subdomain"),
    ("a:b", {}, "DNS subdomain"),
    ("c1", {"signer_name": "nodomain"}, "a signerName is"),
    ("c1", {"labels": {"bad key!": "x"}}, "is not a Kubernetes label"),
    ("c1", {"labels": {"warden.dev/x": "not valid!"}}, "is not a label value"),
    ("c1", {"refresh": "500ms"}, "at least 1s"),
    ("c1", {"mount": ""}, "must not be empty"),
])
def test_bad_bundles_are_refused(label: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        bundles(label, **body)


# -- reconcile against fakes ---------------------------------------------------------------------------

class FakeWarden:
    def __init__(self) -> None:
        self.pems: list[str] = [PEM_A]

    async def read(self, path: str) -> dict[str, Any] | None:
        assert path == "c1/pki/k8s/cert/trust_bundle"
        if not self.pems:
            return None
        ids = [f"i{n}" for n in range(len(self.pems))]
        return {"data": {"trust_bundle": list(self.pems), "issuer_ids": ids}}


def _conflict(code: int) -> Exception:
    request = httpx2.Request("POST", "https://kube/apis")
    status = {"kind": "Status", "code": code, "message": "conflict"}
    response = httpx2.Response(code, json=status, request=request)
    return KubeApiError(request=request, response=response)


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, ClusterTrustBundle] = {}
        self.writes: list[tuple[str, str | None]] = []
        self.version = 0

    def _stored(self, obj: ClusterTrustBundle) -> ClusterTrustBundle:
        self.version += 1
        copy = ClusterTrustBundle.from_dict(obj.to_dict())
        assert copy.metadata is not None
        copy.metadata.resourceVersion = str(self.version)
        self.objects[copy.metadata.name or ""] = copy
        return copy

    async def create(self, obj: ClusterTrustBundle) -> ClusterTrustBundle:
        assert obj.metadata is not None
        if obj.metadata.name in self.objects:
            raise _conflict(409)
        self.writes.append(("create", None))
        return self._stored(obj)

    async def replace(self, obj: ClusterTrustBundle) -> ClusterTrustBundle:
        assert obj.metadata is not None and obj.metadata.name is not None
        current = self.objects[obj.metadata.name]
        assert current.metadata is not None
        if obj.metadata.resourceVersion != current.metadata.resourceVersion:
            raise _conflict(409)
        self.writes.append(("replace", obj.metadata.resourceVersion))
        return self._stored(obj)

    async def get(self, resource: Any, name: str) -> ClusterTrustBundle:
        return self.objects[name]


class Cache:
    def __init__(self, kube: FakeKube, labelled: bool = True) -> None:
        self.kube, self.labelled = kube, labelled

    def get(self, key: ObjectKey) -> Any | None:
        return self.kube.objects.get(key.name) if self.labelled else None

    def list(self) -> list[Any]:
        return list(self.kube.objects.values())


def context(kube: Any, warden: Any) -> Context:
    return fake_context(kube, warden)


async def test_created_once_then_left_alone_then_updated_in_place() -> None:
    kube, warden = FakeKube(), FakeWarden()
    ctx = context(kube, warden)
    bundle = bundles("c1-k8s", labels={"warden.dev/cluster": "c1"}, refresh="7s")["c1-k8s"]
    controller = publisher("cluster-trust-bundles", [bundle], ctx)
    ctx.attach_stores({controller.watch: Cache(kube)})
    assert controller.initial_keys == (ObjectKey("", "c1-k8s"),)
    key = controller.initial_keys[0]
    assert await controller.reconcile(key) == Result(requeue_after=7.0)
    created = kube.objects["c1-k8s"]
    assert created.spec is not None and created.spec.trustBundle == PEM_A + "\n"
    assert created.metadata is not None and created.metadata.labels == {
        "warden.dev/cluster": "c1", "app.kubernetes.io/managed-by": "warden",
        "warden.dev/published-by": "cluster-trust-bundles"}
    assert created.metadata.annotations == {"warden.dev/mount": "c1/pki/k8s", "warden.dev/issuer-ids": "i0"}
    await controller.reconcile(key)
    assert kube.writes == [("create", None)]  # nothing changed: nothing written
    warden.pems = [PEM_A, PEM_B]  # a rotation begins
    await controller.reconcile(key)
    assert kube.writes[-1] == ("replace", "1")
    assert kube.objects["c1-k8s"].spec.trustBundle == PEM_A + "\n" + PEM_B + "\n"  # type: ignore[union-attr]
    warden.pems = [PEM_B]
    await controller.reconcile(key)
    assert kube.writes == [("create", None), ("replace", "1"), ("replace", "2")]
    exposed = generate_latest(ctx.registry).decode()
    assert 'warden_controller_trust_bundle_certificates{bundle="c1-k8s"} 1.0' in exposed
    assert 'warden_controller_trust_bundle_writes_total{bundle="c1-k8s",change="updated"} 2.0' in exposed


async def test_an_object_without_our_labels_is_taken_over_in_place() -> None:
    kube, warden = FakeKube(), FakeWarden()
    ctx = context(kube, warden)
    controller = publisher("cluster-trust-bundles", list(bundles("c1-k8s").values()), ctx)
    ctx.attach_stores({controller.watch: Cache(kube, labelled=False)})
    await kube.create(ClusterTrustBundle.from_dict({"metadata": {"name": "c1-k8s", "labels": {"team": "x"}},
                                                    "spec": {"trustBundle": PEM_B}}))
    await controller.reconcile(ObjectKey("", "c1-k8s"))
    taken = kube.objects["c1-k8s"]
    assert kube.writes[-1] == ("replace", "1")
    assert taken.spec is not None and taken.spec.trustBundle == PEM_A + "\n"
    assert taken.metadata is not None and taken.metadata.labels is not None
    assert taken.metadata.labels["team"] == "x"
    assert taken.metadata.labels["app.kubernetes.io/managed-by"] == "warden"


async def test_a_mount_without_a_ca_publishes_nothing_and_a_foreign_key_is_left_alone() -> None:
    kube, warden = FakeKube(), FakeWarden()
    warden.pems = []
    ctx = context(kube, warden)
    controller = publisher("cluster-trust-bundles", list(bundles("c1-k8s").values()), ctx)
    ctx.attach_stores({controller.watch: Cache(kube)})
    assert await controller.reconcile(ObjectKey("", "c1-k8s")) == Result(requeue_after=30.0)
    assert await controller.reconcile(ObjectKey("", "someone-elses")) == DONE
    assert not kube.writes


async def test_two_publishers_in_one_process_share_their_metrics() -> None:
    ctx = context(FakeKube(), FakeWarden())
    one = publisher("a", list(bundles("c1-k8s").values()), ctx)
    two = publisher("b", list(bundles("c1-fp").values()), ctx)
    assert one.metrics is two.metrics and one.watch != two.watch


# -- runtime extras ------------------------------------------------------------------------------------

class Recorder:
    name, workers = "recorder", 1
    watches: Sequence[Watch] = ()
    initial_keys = (ObjectKey("", "a"), ObjectKey("", "b"))

    def __init__(self) -> None:
        self.seen: list[ObjectKey] = []
        self.done = asyncio.Event()

    async def prepare(self) -> None:
        return None

    async def reconcile(self, key: ObjectKey) -> Result:
        self.seen.append(key)
        if len(self.seen) == 2:
            self.done.set()
        return DONE


async def test_the_loop_reconciles_initial_keys_without_any_object() -> None:
    recorder = Recorder()
    ctx = context(FakeKube(), FakeWarden())
    loop = ControllerLoop(recorder, ctx, RuntimeMetrics(lambda: 0.0))
    task = asyncio.ensure_future(loop.run())
    await asyncio.wait_for(recorder.done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(recorder.seen) == [ObjectKey("", "a"), ObjectKey("", "b")]


def test_one_block_builds_the_signer_and_its_bundle_publisher_and_rbac_has_no_duplicates() -> None:
    from warden.agent.config_source import parse_document

    config = parse_config(parse_document('''
        warden { address = "http://127.0.0.1:8200" }
        auto_auth { method "token_file" { config = { token_file_path = "/t" } } }
        pod_certificate_signer "warden.dev/w" { mount = "c1/pki/w"  role = "w" }
        cluster_trust_bundle "c1-k8s" { mount = "c1/pki/k8s" }
        ''', yaml_format=False), {}, KINDS)
    ctx = context(FakeKube(), FakeWarden())
    built = [x.kind.build(x.settings, ctx) for x in config.controllers]
    names = [c.name for made in built for c in (made if isinstance(made, Sequence) else [made])]
    assert names == ["pod-certificate-signer", "pod-certificate-trust-bundles", "cluster-trust-bundles"]
    rules = manifests(config, service_account="sa", namespace="kube-system")[1]["rules"]
    assert len(rules) == len({repr(r) for r in rules})
    assert {"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "resourceNames": ["warden.dev/w"],
            "verbs": ["attest"]} in rules


def test_rbac_rules_expand_to_the_reviews_that_check_them() -> None:
    from warden.controllers.permissions import attributes, describe

    rules = [{"apiGroups": ["certificates.k8s.io"], "resources": ["podcertificaterequests/status"],
              "verbs": ["update"]},
             {"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "resourceNames": ["a/b", "c/d"],
              "verbs": ["sign", "attest"]},
             {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    assert [describe(a) for a in attributes(rules)] == [
        "update podcertificaterequests/status.certificates.k8s.io",
        "sign signers.certificates.k8s.io a/b", "sign signers.certificates.k8s.io c/d",
        "attest signers.certificates.k8s.io a/b", "attest signers.certificates.k8s.io c/d", "get pods"]
