"""The ``certificates.k8s.io/v1beta1`` PodCertificateRequest as a lightkube generic resource.

lightkube-models 1.37 describes the v1.37 shape, where ``spec.stubPKCS10Request`` is
required; a v1.36 apiserver also stores requests of v1.35 kubelets, which carry
``pkixPublicKey`` and ``proofOfPossession`` instead. The typed model refuses those, and one
such object would break the whole list/watch, so requests are read as plain dicts.
"""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import create_namespaced_resource

GROUP, VERSION = "certificates.k8s.io", "v1beta1"
KIND, PLURAL = "PodCertificateRequest", "podcertificaterequests"


def pod_certificate_request() -> Any:
    """The resource class (lightkube registers it once and hands back the same class after)."""
    return create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
