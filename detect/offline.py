"""Meter offline: no reading has arrived for longer than the meter's own rhythm allows (goes to the property manager).

The rhythm is learned per meter from the gaps between its uploads, so a meter that streams every
15 minutes and one that uploads a daily batch are each judged by their own cadence.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect.episodes import concat_episodes, make_episodes

_HOUR_MS = 3_600_000


class OfflineDetector(BaseEstimator):
    """Flag a meter whose next upload is overdue.

    The allowed gap is ``tolerance`` times the median of the meter's last ``window`` upload gaps,
    but never more than ``max_late_h`` past the upload that is due, and never less than
    ``min_hours``. A meter with no gap yet is assumed to upload every ``default_cadence_h`` hours.

    Parameters
    ----------
    tolerance : float, default=2.5
        Allowed gap as a multiple of the usual gap between uploads.
    min_hours : float, default=1.0
        Never call a meter offline sooner than this.
    max_late_h : float, default=12.0
        An upload this many hours overdue is missing, however long the cadence: a meter that
        uploads a daily batch is offline 36 hours after its last upload, not 60.
    default_cadence_h : float, default=24.0
        Cadence assumed until a meter has uploaded twice.
    window : int, default=8
        How many recent upload gaps the cadence is the median of.

    Examples
    --------
    >>> import pandas as pd
    >>> h = 3_600_000
    >>> arrivals = [0, h, 2 * h, 3 * h]
    >>> readings = pd.DataFrame({"meter_id": ["m1"] * 4, "ts_ms": arrivals,
    ...                          "total_l": [1.0, 2.0, 3.0, 4.0], "received_ms": arrivals})
    >>> episodes, _ = OfflineDetector().fit().step(readings, None, until_ms=10 * h)
    >>> episodes[["meter_id", "started_ms", "raised_ms"]].to_dict("records")
    [{'meter_id': 'm1', 'started_ms': 10800000, 'raised_ms': 19800000}]
    """

    kind: ClassVar[str] = "meter_offline"

    def __init__(
        self, tolerance: float = 2.5, min_hours: float = 1.0, max_late_h: float = 12.0,
        default_cadence_h: float = 24.0, window: int = 8,
    ) -> None:
        self.tolerance = tolerance
        self.min_hours = min_hours
        self.max_late_h = max_late_h
        self.default_cadence_h = default_cadence_h
        self.window = window

    def fit(self, readings: pd.DataFrame | None = None, y=None) -> OfflineDetector:
        """Check the parameters; cadences are learned as readings stream through ``step``."""
        if not self.tolerance > 1:
            raise ValueError(f"tolerance must be above 1, got {self.tolerance!r}")
        if not self.min_hours > 0 or not self.default_cadence_h > 0 or not self.max_late_h > 0:
            raise ValueError("min_hours, max_late_h and default_cadence_h must be positive")
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ValueError(f"window must be a positive whole number, got {self.window!r}")
        self.min_ms_ = int(self.min_hours * _HOUR_MS)
        self.max_late_ms_ = int(self.max_late_h * _HOUR_MS)
        self.default_cadence_ms_ = int(self.default_cadence_h * _HOUR_MS)
        return self

    def allowed_gap_ms(self, cadence_ms: np.ndarray) -> np.ndarray:
        """The longest silence tolerated for meters with the given cadences (NaN: unknown)."""
        cadence = np.where(np.isnan(cadence_ms), self.default_cadence_ms_, cadence_ms)
        allowed = np.minimum(self.tolerance * cadence, cadence + self.max_late_ms_)
        return np.maximum(self.min_ms_, allowed).astype("int64")

    def step(
        self, readings: pd.DataFrame, carry: pd.DataFrame | None, *, until_ms: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Consume readings that arrived since the last step; see InactivityDetector.step."""
        carry = self._empty_carry() if carry is None else carry
        uploads = readings[["meter_id", "received_ms"]].drop_duplicates()
        last_seen = carry["last_arrival"].reindex(uploads["meter_id"]).to_numpy(dtype="float64")
        uploads = uploads[~(uploads["received_ms"].to_numpy() <= last_seen)]
        closed = []
        if not uploads.empty:
            closed, carry = self._consume(uploads, carry)
        open_gap = until_ms - carry["last_arrival"].to_numpy()
        allowed = self.allowed_gap_ms(carry["cadence"].to_numpy(dtype="float64"))
        late = carry[open_gap > allowed]
        ongoing = make_episodes(
            late.index, kind=self.kind, severity="warning",
            started_ms=late["last_arrival"], raised_ms=late["last_arrival"] + allowed[open_gap > allowed],
        )
        return concat_episodes([*closed, ongoing]), carry

    def _consume(self, uploads: pd.DataFrame, carry: pd.DataFrame) -> tuple[list[pd.DataFrame], pd.DataFrame]:
        uploads = uploads.sort_values(["meter_id", "received_ms"], kind="stable")
        meters = uploads["meter_id"].to_numpy()
        arrival = uploads["received_ms"].to_numpy()
        first = np.r_[True, meters[1:] != meters[:-1]]
        prev = np.where(first, carry["last_arrival"].reindex(meters).to_numpy(dtype="float64"),
                        np.r_[np.nan, arrival[:-1]])
        new_gaps = pd.DataFrame({"meter_id": meters, "order": 1, "gap": arrival - prev, "start": prev,
                                 "arrival": arrival})
        # Gaps remembered from earlier steps go first, so the rolling median continues exactly.
        history = self._gap_history(carry, pd.unique(meters))
        gaps = pd.concat([history, new_gaps[~np.isnan(prev)]], ignore_index=True)
        gaps = gaps.sort_values(["meter_id", "order"], kind="stable").reset_index(drop=True)
        gap_meters = gaps["meter_id"].to_numpy()
        starts = np.r_[True, gap_meters[1:] != gap_meters[:-1]] if len(gaps) else np.zeros(0, dtype=bool)
        cadence_after = _rolling_median(gaps["gap"].to_numpy("float64"), starts, self.window)
        gaps["cadence_before"] = np.where(starts, np.nan, np.r_[np.nan, cadence_after[:-1]])
        fresh = gaps[gaps["order"] == 1]
        allowed = self.allowed_gap_ms(fresh["cadence_before"].to_numpy(dtype="float64"))
        over = fresh["gap"].to_numpy() > allowed
        closed = make_episodes(
            fresh["meter_id"][over], kind=self.kind, severity="warning",
            started_ms=fresh["start"][over], raised_ms=fresh["start"][over] + allowed[over],
            ended_ms=fresh["arrival"][over],
        )
        tail = pd.DataFrame(index=pd.Index(pd.unique(meters), dtype=object))
        tail["last_arrival"] = pd.Series(arrival, index=meters).groupby(level=0).max()
        # Per meter (gaps are grouped by meter, in the order of its first upload): its cadence and last gaps.
        ends = np.r_[np.flatnonzero(starts[1:]), len(gaps) - 1] if len(gaps) else np.zeros(0, dtype="int64")
        by_meter = pd.Index(gap_meters[ends], dtype=object)
        tail["cadence"] = pd.Series(cadence_after[ends], index=by_meter).reindex(tail.index)
        values = gaps["gap"].to_numpy("float64")
        begins = np.flatnonzero(starts)
        recent = [tuple(values[max(b, e + 1 - self.window):e + 1].tolist()) for b, e in zip(begins, ends)]
        tail["gaps"] = pd.Series(recent, index=by_meter, dtype=object).reindex(tail.index)
        tail["gaps"] = [g if isinstance(g, tuple) else () for g in tail["gaps"]]
        new_carry = pd.concat([carry.drop(tail.index, errors="ignore"), tail])
        return [closed], new_carry

    @staticmethod
    def _gap_history(carry: pd.DataFrame, meters) -> pd.DataFrame:
        known = carry["gaps"].reindex(meters).dropna()
        known = known[known.map(len) > 0]
        if known.empty:
            return pd.DataFrame(columns=["meter_id", "order", "gap", "start", "arrival"])
        exploded = known.explode()
        return pd.DataFrame({"meter_id": exploded.index.to_numpy(), "order": 0,
                             "gap": exploded.to_numpy(dtype="float64"), "start": np.nan, "arrival": np.nan})

    @staticmethod
    def _empty_carry() -> pd.DataFrame:
        return pd.DataFrame(
            {"last_arrival": pd.Series([], dtype="int64"), "cadence": pd.Series([], dtype="float64"),
             "gaps": pd.Series([], dtype=object)},
            index=pd.Index([], dtype=object),
        )


def _rolling_median(values: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Per row, the median of the last ``window`` values of its run (runs begin where ``starts``)."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    index = np.arange(n)[:, None] - np.arange(window)[None, :]
    inside = index >= run_start[:, None]
    return np.nanmedian(np.where(inside, values[np.maximum(index, 0)], np.nan), axis=1)
