"""Time conversions at the API's edge: epoch milliseconds from the readings store, and local display.

Every time the API returns carries the offset of ``settings.timezone``; services work in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds.

    >>> from_ms(1_795_323_600_000).isoformat()
    '2026-11-22T05:00:00+00:00'
    """
    return _EPOCH + timedelta(milliseconds=int(ms))


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact, no float rounding).

    >>> to_ms(datetime(2026, 11, 22, 13, tzinfo=ZoneInfo("Asia/Shanghai")))
    1795323600000
    """
    if when.tzinfo is None:
        raise ValueError("naive datetime: attach a timezone before converting to epoch milliseconds")
    return (when - _EPOCH) // _MS


def local(when: datetime | None, tz: ZoneInfo) -> datetime | None:
    """``when`` in the site's timezone, for display; None stays None.

    >>> local(from_ms(1_795_323_600_000), ZoneInfo("Asia/Shanghai")).isoformat()
    '2026-11-22T13:00:00+08:00'
    """
    return None if when is None else when.astimezone(tz)
