"""Structured logging for services: one JSON object per line on stdout, secrets redacted."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretBytes, SecretStr
from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
SECRET_KEY_PARTS = ("password", "secret", "token", "api_key", "apikey", "authorization", "cookie")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


def is_secret_key(key: str) -> bool:
    """True when a field name suggests its value is a credential."""
    lowered = key.lower().replace("-", "_")
    return any(part in lowered for part in SECRET_KEY_PARTS)


class RedactSecrets(logging.Filter):
    """Replace ``extra`` fields that look secret, and pydantic secret values, by a marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD_RECORD_ATTRIBUTES:
                continue
            if is_secret_key(key) or isinstance(value, SecretStr | SecretBytes):
                setattr(record, key, REDACTED)
        return True


def configure_logging(service_name: str, level: str | int = "INFO", json: bool = True) -> None:
    """Send every log record to stdout, as JSON lines (or plain text when ``json`` is False)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RedactSecrets())
    formatter: logging.Formatter
    if json:
        formatter = JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service_name},
            timestamp=True,
        )
    else:
        formatter = logging.Formatter(
            f"%(asctime)s %(levelname)s {service_name} %(name)s: %(message)s"
        )
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Library loggers propagate to the root handler instead of printing on their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
