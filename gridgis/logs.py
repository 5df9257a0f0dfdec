"""Structured logs: one JSON object per line, with the request id, and no secrets.

- :class:`JSONFormatter` writes ``{"time", "level", "logger", "message", "request_id", …}``; a
  message that is itself a JSON object (the access log) is merged in.
- :data:`request_id` holds the id of the request being served (set by
  :class:`gridgis.api.middleware.AccessLogMiddleware` from ``X-Request-ID`` or generated), so
  every line logged while serving it, in any thread of the request, carries it.
- :func:`redact` removes bearer and basic credentials, gridgis tokens, passwords in database
  URLs and connection strings, and Open311 ``api_key`` values, from every message and traceback.
- :func:`uvicorn_log_config` is the ``log_config`` of ``gridgis serve`` (applied in every worker).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

#: the id of the request being served ("" outside a request)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("gridgis_request_id", default="")

_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"ggt_[0-9A-Za-z]+\.[A-Za-z0-9_-]+"), "ggt_[redacted]"),
    (re.compile(r"(://[^:/@\s\"']*:)[^@\s\"']+@"), r"\1***@"),
    (
        re.compile(r"(?i)\b(password|passwd|pwd|api_key|token|secret)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;)]+)"),
        r"\1\2***",
    ),
]


def redact(text: str) -> str:
    """``text`` without credentials (see the module docstring).

    >>> redact("postgresql+psycopg://app:s3cret@db:5432/g Authorization: Bearer ggt_ab12.xyz")
    'postgresql+psycopg://app:***@db:5432/g Authorization: Bearer [redacted]'
    """
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JSONFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        payload: dict[str, Any] = {}
        if message.startswith("{"):
            try:
                loaded = json.loads(message)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                payload.update(loaded)
        if not payload:
            payload["message"] = message
        payload.setdefault("time", datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"))
        payload.setdefault("level", record.levelname)
        payload.setdefault("logger", record.name)
        payload.setdefault("pid", record.process)
        rid = request_id.get()
        if rid:
            payload.setdefault("request_id", rid)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` settings for ``gridgis serve``: JSON for gridgis and uvicorn.

    uvicorn's own access log is off: ``gridgis.access`` writes one line per request instead
    (path without the query string, status, duration, request id).
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "gridgis.logs.JSONFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "gridgis": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
