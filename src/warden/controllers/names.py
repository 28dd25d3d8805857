"""Names the controllers' configuration checks: Kubernetes signerNames, warden role names,
the labelled blocks (one per signerName) the signer kinds are configured with, and the
single unlabelled block of the other kinds."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from warden.agent.config_parse import Block, ConfigError
from warden.controllers.plugin import LabeledBlock

_SIGNER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[^\s]+$")
_ROLE = re.compile(r"^\w[\w.-]*$")


def is_signer_name(name: str) -> bool:
    """``<domain>/<path>``, as certificates.k8s.io requires of a signerName."""
    return bool(_SIGNER_NAME.match(name))


def is_role_name(name: str) -> bool:
    return bool(_ROLE.match(name))


def signer_blocks(blocks: Sequence[LabeledBlock], kind: str, example: str) -> Iterator[tuple[str, Block]]:
    """Each ``kind "<signerName>" { ... }`` block with its label, refusing a block without
    one and a signerName configured twice."""
    seen: set[str] = set()
    for label, b in blocks:
        if not label:
            raise ConfigError(f"{kind}: give the signerName as the block's label: "
                              f"{kind} \"{example}\" {{ ... }}")
        if label in seen:
            raise ConfigError(f"{b.where}: this signerName is configured twice")
        seen.add(label)
        yield label, b


def single_block(blocks: Sequence[LabeledBlock], what: str) -> Block:
    """The one unlabelled block of a kind configured once (``what`` names it in errors)."""
    if len(blocks) > 1:
        raise ConfigError(f"{blocks[1][1].where}: configure {what} once")
    label, b = blocks[0]
    if label:
        raise ConfigError(f"{b.where}: this block takes no label")
    return b
