"""Reading a configuration file into a plain mapping: YAML by suffix, else HCL (or JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from warden.agent.config_parse import ConfigError
from warden.hclconf import load_hcl

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})


class _YamlLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """YAML whose leading-zero numbers (``mode: 0640``) stay strings, to be read as octal
    the same way whatever the source format."""


def _int_or_octal_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if isinstance(text, str) and len(text) > 1 and text.startswith("0") and text.isdigit():
        return text
    return loader.construct_yaml_int(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _int_or_octal_text)


def read_document(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read the configuration file {path}: it is not UTF-8 text") from None
    return parse_document(text, yaml_format=path.suffix.lower() in _YAML_SUFFIXES, name=str(path))


def parse_document(text: str, *, yaml_format: bool, name: str = "configuration") -> Mapping[str, Any]:
    try:
        document = yaml.load(text, Loader=_YamlLoader) if yaml_format else load_hcl(text)  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from None
    except Exception as exc:  # pyhcl raises ValueError and ply's own errors
        raise ConfigError(f"{name}: not valid HCL or JSON: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{name}: the configuration must be a mapping of blocks")
    return document
