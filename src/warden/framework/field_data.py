"""FieldData: a request's raw input checked against a path's schema, once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warden.framework.fields import Field, coerce, default_of
from warden.logical.errors import InvalidRequest


class FieldData:
    """Typed access to request input. The URL captures win over body keys.

    A JSON ``null`` counts as "not given", as in Vault: clients such as hvac send
    null for every optional argument they were not passed.
    """

    __slots__ = ("_values", "raw", "schema")

    def __init__(self, raw: Mapping[str, Any], schema: Mapping[str, Field]) -> None:
        self.raw = raw
        self.schema = schema
        self._values: dict[str, Any] = {}

    def validate(self, *, check_required: bool = True) -> None:
        """Coerce every supplied field; a failure names the field but never echoes its value.

        ``required`` is enforced only when ``check_required`` (writes): a path that is
        both read and written may mark fields required for its writes.
        """
        for name, value in self.raw.items():
            field = self.schema.get(name)
            if field is None or value is None:
                continue
            try:
                self._values[name] = coerce(field, value)
            except (ValueError, TypeError) as exc:
                raise InvalidRequest(
                    f'Field validation failed: error converting input for field "{name}": {exc}'
                ) from None
        if not check_required:
            return
        for name, field in self.schema.items():
            if field.required and name not in self._values:
                raise InvalidRequest(f'Field validation failed: missing required field "{name}"')

    def get(self, name: str) -> Any:
        """The supplied value, else the default, else the type's zero value."""
        value, _ = self.get_ok(name)
        return value

    def get_ok(self, name: str) -> tuple[Any, bool]:
        field = self.schema.get(name)
        if field is None:
            raise KeyError(f"field {name!r} is not in the path's schema")
        if name in self._values:
            return self._values[name], True
        if self.raw.get(name) is not None:
            self._values[name] = coerce(field, self.raw[name])
            return self._values[name], True
        return default_of(field), False

    def supplied(self, name: str) -> bool:
        return self.raw.get(name) is not None and name in self.schema

    def unknown_fields(self) -> list[str]:
        return sorted(k for k, v in self.raw.items() if k not in self.schema and v is not None)
