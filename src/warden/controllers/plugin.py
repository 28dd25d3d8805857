"""The contract between the controller runtime and each controller (the plug-in API).

A controller module exports one ``ControllerKind``: the configuration block it owns, a
``parse`` function for every block of that type, the RBAC its settings need, and a
``build`` function that turns the settings and the runtime's ``Context`` into a
``Controller``. The runtime does everything else: it logs in to warden, holds the Lease,
lists and watches what ``Controller.watches`` names (resuming from the resourceVersion,
relisting on 410 Gone, backing off on errors), keeps a cache per watch, and calls
``Controller.reconcile(key)`` from a work queue that hands one key to one worker at a time.

Two optional extras: ``build`` may return several controllers (a kind that needs two
loops, e.g. a signer and the publisher of its trust bundle), and a controller may name
``initial_keys``, reconciled once its caches are filled, for objects it creates itself and
no watch reports until they exist (with ``Result.requeue_after`` they are looked at again
periodically, e.g. to follow a state that lives in warden, not in the cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from warden.agent.config_parse import Block

if TYPE_CHECKING:
    from warden.controllers.context import Context

S = TypeVar("S")


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """Which object to reconcile: ``namespace`` is "" for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def of(cls, obj: Any) -> ObjectKey:
        meta = obj.metadata
        return cls(meta.namespace or "", meta.name or "")


KeyMapper = Callable[[Any], Iterable[ObjectKey]]


def owner_keys(api_version: str, kind: str) -> KeyMapper:
    """For a secondary watch on owned objects (the Secrets a custom resource writes): map
    an object to the key of its controlling owner of that kind, in the same namespace."""

    def keys(obj: Any) -> Iterable[ObjectKey]:
        meta = obj.metadata
        for ref in meta.ownerReferences or ():
            if ref.controller and ref.kind == kind and ref.apiVersion == api_version:
                yield ObjectKey(meta.namespace or "", ref.name)

    return keys


@dataclass(frozen=True, slots=True)
class Watch:
    """One list+watch the runtime runs for a controller.

    ``resource`` is a lightkube resource class (``lightkube.resources.*`` or one made with
    ``lightkube.generic_resource.create_*_resource`` for a custom resource). ``keys`` maps a
    changed object to the keys to reconcile; by default the object's own key (a secondary
    watch, e.g. Secrets owned by a custom resource, maps to the owner's key instead).
    """

    resource: type[Any]
    namespace: str | None = None  # namespaced resources: one namespace; None: all namespaces
    labels: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    keys: KeyMapper | None = None

    def keys_of(self, obj: Any) -> Iterable[ObjectKey]:
        return self.keys(obj) if self.keys is not None else (ObjectKey.of(obj),)

    @property
    def label_selector(self) -> dict[str, Any] | None:
        return dict(self.labels) or None

    @property
    def field_selector(self) -> dict[str, Any] | None:
        return dict(self.fields) or None

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.resource.__name__}{where}"


@dataclass(frozen=True, slots=True)
class Result:
    """What ``reconcile`` asks for next: nothing, or another look after ``requeue_after``
    seconds (a certificate to renew, a pod not ready yet). An exception means "failed":
    the key comes back with capped exponential backoff and jitter."""

    requeue_after: float | None = None


DONE = Result()


def initial_keys(controller: Controller) -> Sequence[ObjectKey]:
    """The controller's ``initial_keys``, or none."""
    keys: Sequence[ObjectKey] = getattr(controller, "initial_keys", ())
    return keys


class Store(Protocol):
    """The cache of one watch: the latest object seen per key."""

    def get(self, key: ObjectKey) -> Any | None: ...

    def list(self) -> list[Any]: ...


class Controller(Protocol):
    """What the runtime drives. ``prepare`` runs each time this process becomes the leader,
    before the watches start (check settings against warden, e.g. that a role exists); an
    exception there is logged and the process gives up leadership and retries later.

    Optional: ``initial_keys`` (a sequence of ``ObjectKey``), queued each time the watches
    have synced, whether or not an object with that key exists."""

    name: str
    watches: Sequence[Watch]
    workers: int

    async def prepare(self) -> None: ...

    async def reconcile(self, key: ObjectKey) -> Result: ...


LabeledBlock = tuple[str, Block]  # ("kubernetes.io/kubelet-serving", the block's settings)
PolicyRule = Mapping[str, Any]  # an RBAC rule: {"apiGroups": [...], "resources": [...], "verbs": [...]}


@dataclass(frozen=True, slots=True)
class ControllerKind(Generic[S]):
    """A controller type: how its configuration blocks become a running controller.

    ``parse`` gets every block of type ``block`` in the file (at least one) and returns the
    settings, raising ``ConfigError`` with the block and key named; ``build`` gets those
    settings and the runtime's ``Context``. ``rbac`` lists the cluster-wide RBAC rules the
    settings need (``warden k8s controller -print-rbac`` and ``bootstrap -print-rbac``
    print them with the Lease rules the runtime adds). ``build`` may return a sequence of
    controllers; each runs its own watches and queue under the same Lease. ``policy`` is the
    warden policy (HCL) the controller's own token needs for these settings, nothing more
    (``warden k8s controller -print-policy`` prints every configured controller's, to
    ``warden policy write``); "" when the kind needs none of its own (e.g. it acts per namespace).
    """

    block: str
    summary: str
    parse: Callable[[Sequence[LabeledBlock]], S]
    build: Callable[[S, Context], Controller | Sequence[Controller]]  # one controller or several
    rbac: Callable[[S], Sequence[PolicyRule]] = field(default=lambda _settings: ())
    policy: Callable[[S], str] = field(default=lambda _settings: "")
    # For a kind whose block takes no label (``secret_sync { ... }``): its keys, so that the
    # parser tells them (and nested blocks such as ``namespace_auth {}``) from labels.
    fields: frozenset[str] = frozenset()
