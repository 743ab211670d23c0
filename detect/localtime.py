"""Local wall-clock time of epoch milliseconds, for the detectors' hours of the day and nights.

pandas converts each timestamp through the zone's transitions, about 20 ns a row. A backtest asks
for the local time of the same few hundred million rows again and again (every refit of every
detector), so this converts the quarter hours the rows fall in instead, and adds each one's UTC
offset to its rows. Every zone's offset changes at most once within a quarter hour, and where it
changes inside one (not at its start), that quarter's rows are converted one by one as before.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_QUARTER_MS = 900_000
_HOUR_MS = 3_600_000


def local_ms(ms: np.ndarray, tz: ZoneInfo | str) -> np.ndarray:
    """Epoch ms as local wall-clock ms (the epoch ms of the same wall-clock time in UTC), int64.

    >>> local_ms(np.array([0, 1_700_000_000_000]), "Asia/Shanghai") - np.array([0, 1_700_000_000_000])
    array([28800000, 28800000])
    """
    ms = np.asarray(ms, dtype="int64")
    quarter = ms // _QUARTER_MS
    low = int(quarter.min()) if len(ms) else 0
    span = int(quarter.max()) - low + 1 if len(ms) else 0
    if span > len(ms):  # few rows over a long time: the quarter hours would outnumber them
        return _each(ms, tz)
    starts = (low + np.arange(span, dtype="int64")) * _QUARTER_MS
    offset_at_start = _each(starts, tz) - starts
    lasts = starts + _QUARTER_MS - 1
    changes_inside = _each(lasts, tz) - lasts != offset_at_start
    local = ms + offset_at_start[quarter - low]
    if changes_inside.any():
        odd = changes_inside[quarter - low]
        local[odd] = _each(ms[odd], tz)
    return local


def local_hour(ms: np.ndarray, tz: ZoneInfo | str) -> np.ndarray:
    """The local hour of the day (0-23) of each epoch ms."""
    return local_ms(ms, tz) // _HOUR_MS % 24


def _each(ms: np.ndarray, tz: ZoneInfo | str) -> np.ndarray:
    """pandas' conversion, row by row."""
    utc = pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True))
    return utc.tz_convert(tz).tz_localize(None).as_unit("ms").asi8
