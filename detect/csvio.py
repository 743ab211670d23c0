"""Readings and alerts as CSV files: the public contract of ``anxin simulate`` and ``anxin backtest``.

Readings CSV: ``meter_id,ts,total_l`` and optionally ``received_at`` (when the reading reached
anxin; without it a reading is taken to arrive when it was taken). Alerts CSV:
``meter_id,kind,severity,started_at,raised_at,ended_at``. Times are ISO 8601 with an offset.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from store.errors import CsvFormatError
from store.readings import READINGS_CSV_COLUMNS

__all__ = ["ALERTS_CSV_COLUMNS", "READINGS_CSV_COLUMNS", "CsvFormatError", "read_readings_csv", "write_readings_csv"]

ALERTS_CSV_COLUMNS = ["meter_id", "kind", "severity", "started_at", "raised_at", "ended_at"]


def to_iso(ms: pd.Series | np.ndarray, timezone: str) -> pd.Series:
    """Epoch milliseconds as ISO 8601 strings with the offset of ``timezone``; missing stays empty.

    Milliseconds are written only when there are some.

    >>> to_iso(np.array([0, 1_500, np.nan]), "Asia/Shanghai").tolist()
    ['1970-01-01T08:00:00+08:00', '1970-01-01T08:00:01.500+08:00', '']
    >>> to_iso(np.array([]), "UTC").tolist()
    []
    """
    values = pd.Series(np.asarray(ms, dtype="float64"))
    if values.empty:
        return pd.Series([], dtype=object)
    missing = values.isna().to_numpy()
    whole = values.fillna(0).round().astype("int64")
    utc = pd.to_datetime(whole, unit="ms", utc=True)
    local = utc.dt.tz_convert(ZoneInfo(timezone)).dt.tz_localize(None)
    offset_min = ((local - utc.dt.tz_localize(None)).dt.total_seconds() // 60).astype("int64")
    offset = offset_min.map({m: _offset_text(m) for m in offset_min.unique()})  # few distinct values
    frac = (whole % 1000).to_numpy()
    millis = np.where(frac != 0, np.char.add(".", np.char.zfill(frac.astype(str), 3)), "")
    seconds = np.datetime_as_string(local.to_numpy().astype("datetime64[s]"), unit="s")
    text = pd.Series(np.char.add(np.char.add(seconds, millis), offset.to_numpy(dtype=str)))
    return text.where(~missing, "")


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_times_ms(values: pd.Series, column: str) -> np.ndarray:
    """ISO 8601 strings with an offset (or epoch seconds) as int64 epoch milliseconds."""
    if pd.api.types.is_numeric_dtype(values):
        return (values.astype("float64") * 1000).round().astype("int64").to_numpy()
    try:
        times = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise CsvFormatError(f"column {column!r} must hold ISO 8601 times with an offset: {exc}") from exc
    if times.isna().any():
        raise CsvFormatError(f"column {column!r} has {int(times.isna().sum())} empty or unreadable times")
    return times.astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def read_readings_csv(path: str | Path) -> pd.DataFrame:
    """A readings CSV as a frame with meter_id, ts_ms, total_l and received_ms."""
    raw = pd.read_csv(path, dtype={"meter_id": str})
    missing = [c for c in READINGS_CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise CsvFormatError(f"{path}: missing column(s) {missing}; a readings CSV has meter_id,ts,total_l")
    ts_ms = parse_times_ms(raw["ts"], "ts")
    received = parse_times_ms(raw["received_at"], "received_at") if "received_at" in raw.columns else ts_ms
    total = pd.to_numeric(raw["total_l"], errors="coerce")
    if total.isna().any():
        raise CsvFormatError(f"{path}: total_l must be a number on every row")
    return pd.DataFrame(
        {"meter_id": raw["meter_id"].astype(object), "ts_ms": ts_ms, "total_l": total.astype("float64"),
         "received_ms": received}
    )


def write_readings_csv(readings: pd.DataFrame, path: str | Path, timezone: str) -> None:
    """Write a readings frame (meter_id, ts_ms, total_l, received_ms) in the readings-CSV format."""
    pd.DataFrame(
        {
            "meter_id": readings["meter_id"].to_numpy(),
            "ts": to_iso(readings["ts_ms"].to_numpy(), timezone).to_numpy(),
            "total_l": readings["total_l"].to_numpy(),
            "received_at": to_iso(readings["received_ms"].to_numpy(), timezone).to_numpy(),
        }
    ).to_csv(path, index=False)
