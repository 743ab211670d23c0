"""Backtests: replay readings through the live detectors in data time, without look-ahead.

A backtest is one ``step`` over the whole history. Each detector is causal by construction: an
episode's ``raised_ms`` is the arrival of the last reading it depends on. A detector that learns
from history (``learns_from_history``) walks forward as the live monitor does: every
``refit_days`` it is refitted on what had arrived by then, and steps on what arrives next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from detect.csvio import ALERTS_CSV_COLUMNS, to_iso
from detect.episodes import concat_episodes


_DAY_MS = 86_400_000


def learns(detector) -> bool:
    """Whether a detector is refitted on history (by the monitor, and by a backtest as it goes)."""
    return getattr(detector, "learns_from_history", False) and getattr(detector, "learn", True)


def backtest(
    readings: pd.DataFrame, detectors: Sequence, *, until_ms: int | None = None, refit_days: float = 7.0
) -> pd.DataFrame:
    """Every episode the detectors raise on ``readings`` (meter_id, ts_ms, total_l, received_ms).

    ``until_ms`` is the data time the replay stops at (default: the last arrival), which decides
    whether a silence still running at the end is reported as ongoing.
    """
    if until_ms is None:
        until_ms = int(readings["received_ms"].max()) if len(readings) else 0
    readings = readings[readings["received_ms"] <= until_ms]
    frames = [
        _walk_forward(readings, detector, until_ms, int(refit_days * _DAY_MS)) if learns(detector)
        else detector.step(readings, None, until_ms=until_ms)[0]
        for detector in detectors
    ]
    episodes = concat_episodes(frames)
    return episodes.sort_values(["raised_ms", "meter_id", "kind"], kind="stable").reset_index(drop=True)


def _walk_forward(readings: pd.DataFrame, detector, until_ms: int, refit_ms: int) -> pd.DataFrame:
    """Refit on what had arrived at each refit time, then step through what arrives until the next."""
    if readings.empty:
        return detector.step(readings, None, until_ms=until_ms)[0]
    received = readings["received_ms"].to_numpy()
    start = int(received.min()) // _DAY_MS * _DAY_MS
    carry, closed, episodes = None, [], None
    for begin in range(start, until_ms + 1, refit_ms):
        end = min(begin + refit_ms, until_ms + 1)
        fitted = clone(detector).fit(readings[received < begin])
        episodes, carry = fitted.step(readings[(received >= begin) & (received < end)], carry, until_ms=end - 1)
        closed.append(episodes[episodes["ended_ms"].notna()])
    return concat_episodes([*closed, episodes[episodes["ended_ms"].isna()]])


def write_alerts_csv(episodes: pd.DataFrame, path: str | Path, timezone: str) -> None:
    """Episodes in the alerts-CSV format: meter_id,kind,severity,started_at,raised_at,ended_at."""
    ended = episodes["ended_ms"].astype("float64")  # <NA> becomes NaN, written as an empty field
    pd.DataFrame(
        {
            "meter_id": episodes["meter_id"].to_numpy(),
            "kind": episodes["kind"].to_numpy(),
            "severity": episodes["severity"].to_numpy(),
            "started_at": to_iso(episodes["started_ms"].to_numpy(), timezone).to_numpy(),
            "raised_at": to_iso(episodes["raised_ms"].to_numpy(), timezone).to_numpy(),
            "ended_at": to_iso(ended.to_numpy(), timezone).to_numpy(),
        },
        columns=ALERTS_CSV_COLUMNS,
    ).to_csv(path, index=False)
