"""A Kubernetes cluster's PKI on top of warden, as kubeadm lays it out.

``inventory`` is the one table (CAs, components, their certificates, files and flags);
everything else derives from it: the bootstrap plan (``desired``, ``state``, ``plan``,
``render``, ``bootstrap``), the certificate tree and kubeconfigs (``issue``, ``tree``,
``kubeconfig``), ``explain`` and ``check``. This package is a client: it reaches the
server only through ``warden.api`` over HTTP.
"""

from __future__ import annotations
