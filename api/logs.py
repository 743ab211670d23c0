"""Log output for every command: the classic text line, or one JSON object per line (ANXIN_LOG_FORMAT).

A JSON line has ``ts`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, then every field
passed with ``extra=`` (``meter_id``, ``alert_id``, ...), then ``exc_info`` as text if there was one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; whatever else a record carries came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    >>> record = logging.makeLogRecord({"name": "detect.monitor", "levelname": "INFO", "created": 0.0,
    ...                                 "msg": "raised alert %s", "args": (7,), "alert_id": 7})
    >>> print(JsonFormatter().format(record))
    {"ts": "1970-01-01T00:00:00.000Z", "level": "INFO", "logger": "detect.monitor", "message": "raised alert 7", "alert_id": 7}
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: Literal["text", "json"] = "text", *, level: int = logging.INFO) -> None:
    """Send the root logger's INFO and above to stderr, as text or JSON lines; once, like ``basicConfig``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per InfluxDB request drowns the rest
