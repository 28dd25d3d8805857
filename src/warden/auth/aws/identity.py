"""The EC2 instance identity document: the signed JSON that says which instance this is."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any


class IdentityDocumentError(ValueError):
    """The signed content is not a usable identity document; the message says why."""


@dataclass(frozen=True, slots=True)
class IdentityDocument:
    instance_id: str
    region: str
    account_id: str
    ami_id: str
    pending_time: str  # as AWS wrote it (RFC 3339)

    @property
    def pending(self) -> dt.datetime:
        return parse_time(self.pending_time)

    @classmethod
    def parse(cls, content: bytes) -> IdentityDocument:
        try:
            raw: Any = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise IdentityDocumentError("the signed content is not a JSON identity document") from None
        if not isinstance(raw, dict):
            raise IdentityDocumentError("the signed content is not a JSON identity document")
        doc = cls(
            instance_id=_field(raw, "instanceId"),
            region=_field(raw, "region"),
            account_id=_field(raw, "accountId"),
            ami_id=_field(raw, "imageId"),
            pending_time=_field(raw, "pendingTime"),
        )
        doc.pending  # noqa: B018 - fails early on an unreadable pendingTime
        return doc


def _field(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise IdentityDocumentError(f'the identity document has no "{name}"')
    return value


def parse_time(text: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IdentityDocumentError(f'the identity document\'s pendingTime "{text}" is not a time') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
