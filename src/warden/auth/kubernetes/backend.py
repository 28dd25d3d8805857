"""The Kubernetes auth method: one table of its API, and the TokenReviewer it was handed."""

from __future__ import annotations

from warden.auth.kubernetes import path_config, path_login, path_role
from warden.auth.kubernetes.review import SERVICE_NAME, TokenReviewer
from warden.framework import Backend
from warden.logical.backend import BackendConfig, BackendType, SpecialPaths, SystemView

HELP = """\
The Kubernetes auth method lets pods log in with their service-account token, checked
with the API server's TokenReview or locally against the cluster's signing keys.
"""


class KubernetesBackend:
    def __init__(self, conf: BackendConfig) -> None:
        self.system: SystemView = conf.system
        # None in a server built without outbound adapters: only pem_keys mode works then.
        self.reviewer: TokenReviewer | None = conf.services.get(SERVICE_NAME)
        self.backend = Backend(
            paths=[*path_login.paths(self), *path_config.paths(), *path_role.paths()],
            backend_type=BackendType.CREDENTIAL,
            special_paths=SpecialPaths(unauthenticated=("login",)),
            help=HELP,
            auth_renew=path_login.renewer(self),
        )

    def now(self) -> float:
        return self.system.clock.time()


def factory(conf: BackendConfig) -> Backend:
    return KubernetesBackend(conf).backend
