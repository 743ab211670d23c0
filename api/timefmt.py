"""Times at the API's edge: every time the API returns carries the offset of ``settings.timezone``.

Services work in UTC; epoch-millisecond conversions are ``store.times``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic_core import PydanticCustomError


def require_offset(value: datetime | None) -> datetime | None:
    """A pydantic validator: a time given without its UTC offset is ambiguous, so refuse it."""
    if value is not None and value.tzinfo is None:
        raise PydanticCustomError(
            "naive_datetime",
            "give the time with its UTC offset, e.g. 2026-11-22T13:00:00+08:00 or 2026-11-22T05:00:00Z",
        )
    return value


def local(when: datetime | None, tz: ZoneInfo) -> datetime | None:
    """``when`` in the site's timezone, for display; None stays None.

    >>> from datetime import UTC
    >>> local(datetime(2026, 11, 22, 5, tzinfo=UTC), ZoneInfo("Asia/Shanghai")).isoformat()
    '2026-11-22T13:00:00+08:00'
    """
    return None if when is None else when.astimezone(tz)
