"""Time at the store's boundary: readings carry epoch milliseconds, records carry aware UTC datetimes.

The conversions are exact (integer arithmetic), so a time survives any number of round trips.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The end of an ISO 8601 time that says its offset: Z, +08:00, +0800, or +08 after a time of day (so
# that a bare date's "-22" is no offset). CSV times must have one. Arrow, pandas and the MQTT payload's
# datetime.fromisoformat read all of these, so each CSV path accepts the same times.
ISO_OFFSET = re.compile(r"(?:Z|z|[+-]\d\d:?\d\d|[Tt ][\d:.,]*\d[+-]\d\d)$")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_ms(ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds.

    >>> from_ms(1_795_323_600_123).isoformat()
    '2026-11-22T05:00:00.123000+00:00'
    """
    return _EPOCH + timedelta(milliseconds=int(ms))


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly.

    >>> to_ms(from_ms(1_714_528_800_123))
    1714528800123
    """
    if when.tzinfo is None:
        raise ValueError("naive datetime: attach a timezone before converting to epoch milliseconds")
    return (when - _EPOCH) // _MS
