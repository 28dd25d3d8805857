"""Structured logs: a message plus key=value fields, as text or JSON (hclog's shape).

Callers pass fields as keywords; the formatter never prints a field whose name says it is
a credential, so a token, secret-id, JWT or private key cannot reach the log by accident.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import Any, TextIO

LOGGER_NAME = "warden.agent"
_SENSITIVE = ("token", "secret", "jwt", "private_key", "password", "pkcs7", "nonce")
_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
           "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR}


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE) and not lowered.endswith(
        ("_file", "_path", "_ttl", "accessor"))


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if is_sensitive(k) else v) for k, v in fields.items()}


class AgentLog:
    """A thin wrapper over ``logging`` that carries structured fields."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def _log(self, level: int, message: str, fields: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(level, message, extra={"fields": _clean(fields)})

    def debug(self, message: str, **fields: Any) -> None:
        self._log(logging.DEBUG, message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._log(logging.ERROR, message, fields)


def _timestamp(record: logging.LogRecord) -> str:
    moment = _dt.datetime.fromtimestamp(record.created, _dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        line = f"{_timestamp(record)} [{record.levelname}] {record.getMessage()}"
        return f"{line}: {pairs}" if pairs else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        entry = {"@timestamp": _timestamp(record), "@level": record.levelname.lower(),
                 "@module": record.name.rpartition(".")[2], "@message": record.getMessage(), **fields}
        return json.dumps(entry, default=str, separators=(",", ":"))


def parse_level(name: str) -> int:
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r} (use trace, debug, info, warn or error)") from None


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None,
              *, name: str = LOGGER_NAME) -> AgentLog:
    """Send the logs of logger ``name`` (the agent's, or ``warden.controller``) to ``stream``
    (stderr) in the chosen format."""
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(parse_level(level))
    logger.propagate = False
    return AgentLog(logger)
