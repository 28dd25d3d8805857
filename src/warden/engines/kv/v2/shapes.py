"""Pure transformations of secret data: JSON merge patch (RFC 7386) and subkeys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Objects merge key by key, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def subkeys(data: Mapping[str, Any], depth: int = 0, level: int = 1) -> dict[str, Any]:
    """The key structure of ``data`` with every leaf ``None``; ``depth`` > 0 stops descending there."""
    return {
        key: subkeys(value, depth, level + 1) if _descends(value, depth, level) else None
        for key, value in data.items()
    }


def _descends(value: Any, depth: int, level: int) -> bool:
    return isinstance(value, Mapping) and bool(value) and (depth == 0 or level < depth)
