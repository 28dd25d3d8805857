"""What the pod certificate signer may do in the cluster: watch the requests, write their
status as the configured signers only, read the pods they name."""

from __future__ import annotations

from warden.controllers.plugin import PolicyRule
from warden.controllers.podcert.resource import GROUP, PLURAL
from warden.controllers.podcert.settings import PodCertSettings


def signer_rules(settings: PodCertSettings) -> list[PolicyRule]:
    return [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["update"]},
        {"apiGroups": [GROUP], "resources": ["signers"], "resourceNames": sorted(settings.signers),
         "verbs": ["sign"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
    ]
