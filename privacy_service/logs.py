"""Structured JSON logs that never carry an email address or a query string in clear."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_EMAIL = re.compile(r"[^\s@/?&=\"']+@[^\s@/?&=\"']+")
_QUERY = re.compile(r"\?[^\s\"]*")


def redact(text: str) -> str:
    return _QUERY.sub("?[redacted]", _EMAIL.sub("[email]", text))


class RedactPersonalData(logging.Filter):
    """Safety net for third-party log lines (werkzeug's access log prints query strings)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = ()
        return True


def _redact_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactPersonalData())
    root = logging.getLogger()
    if not any(isinstance(f, RedactPersonalData) for h in root.handlers for f in h.filters):
        root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler says "Running job ..." and "executed successfully" at INFO for every run of
    # every interval job: a line every few seconds that drowns what matters. Its warnings
    # (missed runs) and errors still show; LOG_LEVEL=DEBUG brings the chatter back.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("apscheduler").setLevel(quiet)
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        for existing in logging.getLogger(name).handlers:
            existing.addFilter(RedactPersonalData())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
