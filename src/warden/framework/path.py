"""Path: one pattern of a backend's API, its field schema and its operation handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from warden.framework.field_data import FieldData
from warden.framework.fields import Field
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

Handler = Callable[[Request, FieldData], Awaitable[Response | None]]
ExistenceCheck = Callable[[Request, FieldData], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Path:
    """A regex ``pattern`` (anchored by the backend) with named groups that are fields."""

    pattern: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    operations: Mapping[Operation, Handler] = field(default_factory=dict)
    existence_check: ExistenceCheck | None = None
    help_synopsis: str = ""
    help_description: str = ""


def generic_name_regex(name: str) -> str:
    """A name of word characters, '-' and '.', not starting or ending with '-' or '.'."""
    return rf"(?P<{name}>\w(?:(?:[\w.-]+)?\w)?)"


def optional_param_regex(name: str) -> str:
    return rf"(?:/(?P<{name}>.+))?"


def match_all_regex(name: str) -> str:
    return rf"(?P<{name}>.*)"
