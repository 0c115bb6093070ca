"""Logs on stderr for a program that configured none: `run` and ``python -m slither_actors run``.

A library leaves logging to its application, so the package's logger has only a
``NullHandler``, and a crash report, a restart or a worker's last words go nowhere unless
the application configured logging. The two entry points that *are* the application's
start set it up when nobody did: the library's logger (``slither_actors``) writes INFO and
above to stderr, as text or as one JSON object per line (``log_format="json"``), and the
setup is undone when the run ends.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, Literal

__all__ = ["LOG_FORMATS", "JsonFormatter", "LogFormat", "check_log_format", "logging_to_stderr"]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The attributes every LogRecord has: what is left on a record is what `extra=` put there.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, every field given with ``extra=`` (a worker's ``worker_id``, say), and
    ``traceback`` when the record carries an exception. Values JSON cannot hold are
    written as their ``repr``."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=repr)


def check_log_format(value: Any) -> LogFormat | None:
    """``value`` as a log format: ``"text"``, ``"json"`` or None (set nothing up); raises
    `ValueError` naming ``log_format`` otherwise."""
    if value is None or (type(value) is str and value in LOG_FORMATS):
        return value
    raise ValueError(f"log_format must be 'text', 'json' or None, not {value!r}")


@contextlib.contextmanager
def logging_to_stderr(log_format: LogFormat | None) -> Iterator[bool]:
    """While inside, the library logs INFO and above to stderr in ``log_format``, unless
    the application configured logging (the root logger has a handler) or ``log_format``
    is None. Yields whether it set anything up."""
    root = logging.getLogger()
    if log_format is None or root.handlers:
        yield False
        return
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    # Steps aside if the program configures logging after all (say, in its main): its
    # handlers then print these records, and no record is printed twice.
    handler.addFilter(lambda record: not root.handlers)
    logger = logging.getLogger("slither_actors")
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield True
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
