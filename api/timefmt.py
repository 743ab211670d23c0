"""Times at the API's edge: every time the API returns carries the offset of ``settings.timezone``.

Services work in UTC; epoch-millisecond conversions are ``store.times``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo




def local(when: datetime | None, tz: ZoneInfo) -> datetime | None:
    """``when`` in the site's timezone, for display; None stays None.

    >>> from datetime import UTC
    >>> local(datetime(2026, 11, 22, 5, tzinfo=UTC), ZoneInfo("Asia/Shanghai")).isoformat()
    '2026-11-22T13:00:00+08:00'
    """
    return None if when is None else when.astimezone(tz)
