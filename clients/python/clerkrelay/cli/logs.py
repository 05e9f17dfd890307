"""The command line's logging: level and format (`--log-level`, `--log-format`).

Logs go to stderr, in one of two formats:

- `text` (the default): `2026-12-02 14:05:01,234 INFO clerk_relay.gateway webhook_id=msg_…
  outcome=stored …`, a prefix then the message, whose fields are logfmt.
- `json`: one object per line, for a log pipeline: `time` (UTC, RFC 3339 with
  milliseconds), `level`, `logger`, `message`, and `exception` when there is
  one. The `key=value` fields that end a message (`outcome=stored
  sequence=42`) are also keys of their own, as numbers when they are whole or
  decimal numbers, so `outcome` can be filtered on without parsing the message;
  a field never replaces one of the five keys above.

Uvicorn's and third-party libraries' lines go through the same handler, so
they share the format. Third-party loggers that log every request at info
(httpx, httpcore) print only warnings, unless at debug.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from clerkrelay.cli.settings import Setting

__all__ = [
    "LOG_FORMAT",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "log_format",
    "logfmt_fields",
]

_QUIET_LOGGERS = ("httpx", "httpcore")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_VALUE = r'(?:"(?:[^"\\]|\\.)*"|[^\s"]*)'
_PAIR = re.compile(rf"([A-Za-z_][\w.]*)=({_VALUE})")
_TAIL = re.compile(rf"(?:^|\s)[A-Za-z_][\w.]*={_VALUE}(?:\s+[A-Za-z_][\w.]*={_VALUE})*\s*$")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d{0,17})(?:\.\d+)?")
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})


def log_format(value: str) -> str:
    """A log format: text or json (any case)."""
    chosen = value.strip().lower()
    if chosen not in ("text", "json"):
        raise ValueError(f"not a log format: {value!r} (use text or json)")
    return chosen


LOG_FORMAT = Setting(
    "log_format",
    ("--log-format",),
    "CLERK_RELAY_LOG_FORMAT",
    log_format,
    "text",
    "text (a prefix, then logfmt fields) or json (one object per line, fields as keys)",
    shown_default="text",
    metavar="FORMAT",
)


def logfmt_fields(message: str) -> dict[str, Any]:
    """The `key=value` fields that end `message` (none when it does not end with one).

    Quoted values are unquoted (they are JSON strings, see `gateway.logfmt`);
    whole and decimal numbers become numbers.
    """
    tail = _TAIL.search(message)
    if tail is None:
        return {}
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(tail.group()):
        fields[key] = _value(raw)
    return fields


def _value(raw: str) -> Any:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if _NUMBER.fullmatch(raw):
        return float(raw) if "." in raw else int(raw)
    return raw


class TextFormatter(logging.Formatter):
    """The text format; the time's date and seconds are formatted once a second.

    `logging.Formatter` formats the whole time of every record (`localtime`
    and `strftime`), and the relay logs a line per webhook.
    """

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)
        self._second = -1  # the second whose formatted text `_stamp` holds
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """`2026-12-02 14:05:01,234`, as `logging.Formatter` writes it."""
        second = int(record.created)
        if second != self._second:  # handlers format under their lock: one thread at a time
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON."""
        message = record.getMessage()
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in logfmt_fields(message).items():
            if key not in _RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, format_name: str = "text") -> None:
    """Sends every log line to stderr at `level` (a name: INFO…), as text or JSON.

    Records leave out what neither format shows (the calling file, line and
    function, the thread and the process): at info the relay logs a line
    per webhook, and finding the caller alone is a fifth of a line's cost.
    With `TextFormatter`, a webhook's line took 10–18 µs instead of 16–28
    (one thread, back to back, three alternating pairs).
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (the logging HOWTO's "Optimization")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format_name == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    number: int = logging.getLevelName(level)
    quiet = number if number <= logging.DEBUG else max(number, logging.WARNING)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
