"""Small helpers to build readings frames in detector tests."""

from __future__ import annotations

import pandas as pd

H = 3_600_000  # one hour in ms


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (meter_id, ts_h, total_l[, received_h]) with times in hours, as a readings frame."""
    records = []
    for row in rows:
        meter, ts_h, total = row[:3]
        received_h = row[3] if len(row) > 3 else ts_h
        records.append((meter, int(ts_h * H), float(total), int(received_h * H)))
    return pd.DataFrame(records, columns=["meter_id", "ts_ms", "total_l", "received_ms"])


def hourly(meter: str, totals: list[float], start_h: float = 0) -> list[tuple]:
    return [(meter, start_h + i, total) for i, total in enumerate(totals)]
