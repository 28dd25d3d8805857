"""``warden k8s controller``: in-cluster controllers in one process, on one runtime.

The runtime (this package) does what every controller needs, once:

- configuration (``config.py``): the agent's language and its ``warden {}``,
  ``auto_auth {}`` and ``listener "tcp" {}`` blocks (parsed by the agent's own code),
  plus ``kubernetes {}``, ``leader_election {}`` and one block type per controller kind;
- warden (``session.py``): the agent's auto-auth methods and token keeper (log in, renew,
  log in again after a 403), refusing root tokens and tokens with the ``root`` policy;
- Kubernetes (``kubeclient.py``): lightkube's async client from a kubeconfig or the pod's
  service account;
- one leader election per process (``leader.py``) on a ``coordination.k8s.io/v1`` Lease:
  controllers run only while this process leads, and are stopped when the Lease is lost;
  on SIGTERM they finish the reconciles under way, then the Lease is released;
- list+watch per watched resource (``informer.py``): resume from the last
  resourceVersion, relist on 410 Gone, backoff with jitter on errors, a cache per watch;
- a work queue per controller (``workqueue.py``): one key at a time per worker, dedup,
  requeue-after, backoff with jitter after a failure (``loop.py``);
- ``/healthz``, ``/readyz`` and Prometheus ``/metrics`` (``metrics.py``) on the listener;
  one log line per decision (``Context.decisions``).

Adding a controller (e.g. ``WardenSecret`` sync, pod credential delivery, a
PodCertificateRequest signer) is a new module or subpackage, and one line in ``kinds.py``:

1. Settings: parse every block of your type, ``myblock "label" { ... }``. ``parse`` gets
   ``[(label, Block), ...]`` (``Block`` has typed getters that name the block and key in
   errors; call ``finish()`` to refuse unknown keys) and returns frozen settings or raises
   ``ConfigError``.
2. RBAC: ``rbac(settings)`` lists the ClusterRole rules your controller needs;
   ``warden k8s controller -print-rbac`` prints them with the Lease rules.
3. Controller: an object with ``name``, ``workers``, ``watches`` (``plugin.Watch``: a
   lightkube resource class, typed or from ``lightkube.generic_resource`` for a CRD,
   optional namespace and selectors, and ``keys`` mapping a changed object to the keys to
   reconcile, e.g. a Secret to its owner), ``async prepare()`` (run on each leadership
   term, before the watches start: check your roles and permissions, fail with a message
   that says what to fix) and ``async reconcile(key) -> Result`` (read the object from
   ``ctx.store(watch).get(key)``; ``None`` means deleted; return ``Result(requeue_after=s)``
   to look again later; raise to retry with backoff).
4. ``ControllerKind(block=..., summary=..., parse=..., build=..., rbac=...)``, where
   ``build(settings, ctx)`` returns your controller; add it to ``kinds.KINDS``.

What the ``Context`` gives a controller: ``kube`` (lightkube ``AsyncClient``: ``get``,
``list``, ``create``, ``replace`` with the resourceVersion for optimistic writes, ``apply``
for server-side apply with field manager ``warden-controller``), ``warden`` (warden's HTTP
client, always carrying the live token; call ``report_denied()`` after a 403),
``ensure_leading()`` (raises ``NotLeading`` unless the Lease is safely held: call it right
before a side effect), ``decisions(name)`` (the one-line decision log), ``registry`` (add
your Prometheus metrics there), ``clock`` and ``uniform`` (injected time and randomness).

Extras (``plugin.py``): ``build`` may return several controllers (``podcert/`` runs the
signer and the publisher of its trust bundles); ``initial_keys`` are reconciled once the
caches are filled, for objects a controller creates itself (``trustbundle/``);
``ctx.shared(key, make)`` holds what several controllers of one type share (their metrics);
``permissions.check_rules(kube, rules)`` checks a kind's own RBAC rules in ``prepare``.

The CSR signer (``csr/``) is the first controller built this way; read it as the example.
"""
