"""Logs as one JSON object per line, carrying the request id that the response and the audit trail carry."""

from __future__ import annotations

import datetime as dt
import json
import logging

from exoderm.audit import context


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...}``: the extra fields a record
    was logged with (``extra={...}``) are kept, the exception as its formatted traceback."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": context.current().request_id,
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class WarningsOnlyFrom(logging.Filter):
    """Drops the records below WARNING of the named loggers (and their children); passes the rest.

    A handler filter rather than a logger level: the task worker sets its loggers' levels itself
    when it starts (``db_worker --verbosity``), after the logging configuration.
    """

    def __init__(self, loggers: list[str]) -> None:
        super().__init__()
        self.loggers = tuple(loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        quiet = record.name in self.loggers or record.name.startswith(tuple(f"{n}." for n in self.loggers))
        return record.levelno >= logging.WARNING or not quiet
