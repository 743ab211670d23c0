"""Local time by quarter hours equals pandas' conversion of every row, across every kind of transition."""

import numpy as np
import pandas as pd
import pytest

from detect.localtime import _QUARTER_MS, local_hour, local_ms


def pandas_local_ms(ms: np.ndarray, tz: str) -> np.ndarray:
    return pd.to_datetime(ms, unit="ms", utc=True).tz_convert(tz).tz_localize(None).as_unit("ms").asi8


def ms_of(text: str) -> int:
    return int(pd.Timestamp(text).value // 1_000_000)


@pytest.mark.parametrize("tz, around", [
    ("Asia/Shanghai", "2025-06-01T00:00Z"),  # no transition
    ("Asia/Shanghai", "1901-01-01T00:00Z"),  # local mean time (+08:05:43) to +08:00, at an odd second
    ("Europe/Rome", "2026-03-29T01:00Z"),  # daylight saving starts
    ("Europe/Rome", "2026-10-25T01:00Z"),  # and ends: an hour of wall-clock time comes twice
    ("Australia/Lord_Howe", "2026-04-04T15:00Z"),  # a half-hour shift
    ("Asia/Kathmandu", "1985-12-31T18:30Z"),  # +05:30 to +05:45
    ("America/St_Johns", "2026-11-01T04:30Z"),  # -02:30 to -03:30
])
def test_local_time_equals_pandas_row_by_row(tz, around):
    rng = np.random.default_rng(0)
    centre = ms_of(around)
    # Dense rows over two days around the transition (the quarter-hour path), some on the exact
    # milliseconds around every quarter hour, and the quarter hour of the transition itself.
    ms = centre + rng.integers(-86_400_000, 86_400_000, 50_000)
    edges = (centre // _QUARTER_MS + np.arange(-8, 9)) * _QUARTER_MS
    ms = np.r_[ms, edges, edges - 1, edges + 1, centre - 1, centre, centre + 1]
    np.testing.assert_array_equal(local_ms(ms, tz), pandas_local_ms(ms, tz))
    np.testing.assert_array_equal(local_hour(ms, tz), pd.to_datetime(ms, unit="ms", utc=True).tz_convert(tz).hour)


def test_sparse_rows_and_no_rows():
    ms = np.array([ms_of("1950-01-01T00:00Z"), ms_of("2030-07-01T12:34:56.789Z")])
    np.testing.assert_array_equal(local_ms(ms, "Europe/Rome"), pandas_local_ms(ms, "Europe/Rome"))
    assert local_ms(np.zeros(0, dtype="int64"), "Europe/Rome").shape == (0,)
