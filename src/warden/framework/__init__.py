"""The backend toolkit: declare paths, fields and handlers; parsing and routing come free."""

from warden.framework.backend import Backend, SecretType
from warden.framework.field_data import FieldData
from warden.framework.fields import Field, FieldType
from warden.framework.path import (
    Handler,
    Path,
    generic_name_regex,
    match_all_regex,
    optional_param_regex,
)

__all__ = [
    "Backend",
    "Field",
    "FieldData",
    "FieldType",
    "Handler",
    "Path",
    "SecretType",
    "generic_name_regex",
    "match_all_regex",
    "optional_param_regex",
]
