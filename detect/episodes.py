"""The episode frame every detector returns: one row per condition on one meter.

Columns: meter_id, kind, severity, started_ms (when the condition began, data time),
raised_ms (when the evidence for it had arrived), ended_ms (when the evidence that it was
over arrived; <NA> while it lasts). Times are epoch milliseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPISODE_COLUMNS = ["meter_id", "kind", "severity", "started_ms", "raised_ms", "ended_ms"]


def make_episodes(
    meter_id, *, kind: str, severity: str, started_ms, raised_ms, ended_ms=None
) -> pd.DataFrame:
    """An episode frame from array-likes; ``ended_ms=None`` marks them all ongoing."""
    meter_id = np.asarray(meter_id, dtype=object)
    n = len(meter_id)
    ended = pd.array([pd.NA] * n if ended_ms is None else np.asarray(ended_ms, dtype="int64"), dtype="Int64")
    return pd.DataFrame(
        {
            "meter_id": objects(meter_id),
            "kind": objects(np.full(n, kind, dtype=object)),
            "severity": objects(np.full(n, severity, dtype=object)),
            "started_ms": np.asarray(started_ms, dtype="int64"),
            "raised_ms": np.asarray(raised_ms, dtype="int64"),
            "ended_ms": ended,
        }
    )


def objects(values, index: pd.Index | None = None) -> pd.Series:
    """``values`` as a Series of Python objects. Given an all-string array, pandas 3 with pyarrow
    stores it in Arrow, where the detectors' many small takes, filters, concatenations and sorts of
    episode frames are slower (10,000 rows: 2.6 to 3.0 ms against 2.0 ms; the tick section of bench/RESULTS.md)."""
    return pd.Series(values, index=index, dtype=object)


def empty_episodes() -> pd.DataFrame:
    return make_episodes([], kind="", severity="", started_ms=[], raised_ms=[])


def concat_episodes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_episodes()
    return pd.concat(frames, ignore_index=True)[EPISODE_COLUMNS]


def meter_index(meters) -> pd.Index:
    """An index of meters for a carry or a lookup, in the meters' own dtype.

    The monitor and the backtest pass meters as int64 codes, which pandas looks up and aligns several
    times faster than Python objects; other ids (strings, from a notebook) stay objects, as they came.
    An object Index also spares a lookup the Arrow strings pandas 3 would first make of an array of
    strings (a 100,000-meter tick's ``get_indexer``: 14 against 47 ms).
    """
    meters = np.asarray(meters)
    return pd.Index(meters, dtype=meters.dtype if meters.dtype.kind in "iu" else object)


def sort_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings in the order a detector consumes them: by meter, then arrival, then data time."""
    if in_order(readings):  # a backtest sorts once; its pieces stay sorted
        return readings.reset_index(drop=True)
    return readings.sort_values(["meter_id", "received_ms", "ts_ms"], kind="stable").reset_index(drop=True)


def in_order(readings: pd.DataFrame) -> bool:
    """Whether integer-coded readings are already in :func:`sort_readings` order (checked in one pass)."""
    meters = readings["meter_id"].to_numpy()
    if len(meters) < 2 or meters.dtype.kind not in "iu":
        return len(meters) < 2
    dm = np.diff(meters)
    dr = np.diff(readings["received_ms"].to_numpy())
    dt = np.diff(readings["ts_ms"].to_numpy())
    return bool(((dm > 0) | ((dm == 0) & ((dr > 0) | ((dr == 0) & (dt >= 0))))).all())


def ffill_within_meters(values: np.ndarray, meters: np.ndarray) -> np.ndarray:
    """Per row, the last non-NaN value up to and including it within its meter (NaN: none yet).
    Rows come grouped by meter (as ``register.consumption_steps`` returns them): one pass, no grouping."""
    n = len(values)
    if not n:
        return values.astype("float64")
    first = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
    meter_start = np.repeat(first, np.diff(np.r_[first, n]))
    last = np.maximum.accumulate(np.where(np.isnan(values), -1, np.arange(n)))
    return np.where(last >= meter_start, values[np.maximum(last, 0)], np.nan)


def next_true_within_meters(flags: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Per row, the index of the first flagged row at or after it of the same meter (-1: none).
    ``block`` numbers the meters of rows grouped by meter."""
    n = len(flags)
    index = np.where(flags, np.arange(n), n)
    following = np.minimum.accumulate(index[::-1])[::-1]
    inside = following < n
    inside[inside] = block[following[inside]] == block[inside]
    return np.where(inside, following, -1)


def row_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The positions in [start, stop) of every pair, one pair after another."""
    lengths = np.maximum(stops - starts, 0)
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype="int64")
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total, dtype="int64") + offsets
