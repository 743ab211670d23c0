"""Meter offline: no reading has arrived for longer than the meter's own rhythm allows (goes to the property manager).

The rhythm is learned per meter from the gaps between its uploads, so a meter that streams every
15 minutes and one that uploads a daily batch are each judged by their own cadence.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect.episodes import concat_episodes, in_order, make_episodes, meter_index

_HOUR_MS = 3_600_000
_CHUNK = 1 << 14  # queries per pass of _median_of_last


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
        ordered = in_order(readings)  # as the monitor and a backtest hand them: no need to hash or sort
        uploads = _uploads(readings, ordered)
        last_seen = carry["last_arrival"].reindex(uploads["meter_id"]).to_numpy(dtype="float64")
        uploads = uploads[~(uploads["received_ms"].to_numpy() <= last_seen)]
        closed = []
        if not uploads.empty:
            closed, carry = self._consume(uploads, carry, ordered=ordered)
        open_gap = until_ms - carry["last_arrival"].to_numpy()
        allowed = self.allowed_gap_ms(carry["cadence"].to_numpy(dtype="float64"))
        late = carry[open_gap > allowed]
        ongoing = make_episodes(
            late.index, kind=self.kind, severity="warning",
            started_ms=late["last_arrival"], raised_ms=late["last_arrival"] + allowed[open_gap > allowed],
        )
        return concat_episodes([*closed, ongoing]), carry

    def _consume(self, uploads: pd.DataFrame, carry: pd.DataFrame, *, ordered: bool
                 ) -> tuple[list[pd.DataFrame], pd.DataFrame]:
        if not ordered:
            uploads = uploads.sort_values(["meter_id", "received_ms"], kind="stable")
        meters = uploads["meter_id"].to_numpy()
        arrival = uploads["received_ms"].to_numpy()
        first = np.r_[True, meters[1:] != meters[:-1]]
        step_meters = meter_index(meters[first])
        block = np.cumsum(first) - 1
        prior = carry.reindex(step_meters)
        prev = np.where(first, prior["last_arrival"].to_numpy(dtype="float64")[block], np.r_[np.nan, arrival[:-1]])
        new = ~np.isnan(prev)
        # Per meter of the step, its remembered gaps (oldest first), then this step's: the rolling
        # median continues exactly, and is taken only where a new gap is judged and at each meter's end.
        remembered = prior[self._gap_columns()].to_numpy(dtype="float64")
        sequence = _GapSequence(remembered, block[new], (arrival - prev)[new])
        cadence_before = sequence.median_before_new(self.window)
        allowed = self.allowed_gap_ms(cadence_before)
        gap, start, end = (arrival - prev)[new], prev[new], arrival[new]
        over = gap > allowed
        closed = make_episodes(
            meters[new][over], kind=self.kind, severity="warning",
            started_ms=start[over], raised_ms=start[over] + allowed[over], ended_ms=end[over],
        )
        tail = pd.DataFrame(index=step_meters)
        tail["last_arrival"] = arrival[np.r_[first[1:], True]]  # sorted by arrival within each meter
        tail["cadence"] = sequence.median_at_ends(self.window)
        tail[self._gap_columns()] = sequence.last(self.window)
        new_carry = pd.concat([carry.drop(tail.index, errors="ignore"), tail])
        return [closed], new_carry

    def _gap_columns(self) -> list[str]:
        """The carry's last ``window`` upload gaps of a meter, oldest first (NaN: none yet)."""
        return [f"gap_{i}" for i in range(self.window)]

    def _empty_carry(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"last_arrival": pd.Series([], dtype="int64"), "cadence": pd.Series([], dtype="float64"),
             **{column: pd.Series([], dtype="float64") for column in self._gap_columns()}},
            index=pd.Index([], dtype=object),
        )


def _uploads(readings: pd.DataFrame, ordered: bool) -> pd.DataFrame:
    """One row (meter_id, received_ms) per upload: the readings that arrived together are one upload."""
    uploads = readings[["meter_id", "received_ms"]]
    if len(uploads) < 2:
        return uploads
    if not ordered:
        return uploads.drop_duplicates()
    meters, received = uploads["meter_id"].to_numpy(), uploads["received_ms"].to_numpy()
    # In order, an upload's readings are neighbours: keep the first of each run, as drop_duplicates does.
    new = np.r_[True, (meters[1:] != meters[:-1]) | (received[1:] != received[:-1])]
    return uploads[new]


class _GapSequence:
    """Each meter's upload gaps in order: the remembered ones (rows of a NaN-padded matrix, oldest
    first), then the new ones (``new_block``: the meter's row; in order within each meter)."""

    def __init__(self, remembered: np.ndarray, new_block: np.ndarray, new_gaps: np.ndarray) -> None:
        known = ~np.isnan(remembered)
        old_count = known.sum(axis=1)
        new_count = np.bincount(new_block, minlength=len(remembered))
        self.begin = np.r_[0, np.cumsum(old_count + new_count)[:-1]].astype("int64")  # per meter
        self.end = self.begin + old_count + new_count  # one past the meter's last gap
        self.values = np.empty(int(self.end[-1]) if len(self.end) else 0)
        old_rows = np.nonzero(known)[0]  # row-major: each meter's gaps in order
        old_rank = np.arange(len(old_rows)) - np.r_[0, np.cumsum(old_count)[:-1]][old_rows]
        self.values[self.begin[old_rows] + old_rank] = remembered[known]
        rank_new = np.arange(len(new_block)) - np.r_[0, np.cumsum(new_count)[:-1]][new_block]
        self.new_at = self.begin[new_block] + old_count[new_block] + rank_new
        self.values[self.new_at] = new_gaps
        self.new_begin = self.begin[new_block]

    def median_before_new(self, window: int) -> np.ndarray:
        """Per new gap, the median of the last ``window`` gaps before it (NaN: none)."""
        return _median_of_last(self.values, self.new_at - 1, self.new_begin, window)

    def median_at_ends(self, window: int) -> np.ndarray:
        """Per meter, the median of its last ``window`` gaps (NaN: none)."""
        return _median_of_last(self.values, self.end - 1, self.begin, window)

    def last(self, window: int) -> np.ndarray:
        """Per meter, its last ``window`` gaps, oldest first, NaN-padded on the left."""
        index = (self.end - window)[:, None] + np.arange(window)[None, :]
        inside = index >= self.begin[:, None]
        if not inside.any():
            return np.full(index.shape, np.nan)
        return np.where(inside, self.values[np.maximum(index, 0)], np.nan)


def _median_of_last(values: np.ndarray, at: np.ndarray, begin: np.ndarray, window: int) -> np.ndarray:
    """Per position ``at`` (-1 or before ``begin``: nothing), the median of the ``window`` values
    ending there and starting no earlier than ``begin``. In chunks: a backtest asks for millions,
    and its tables of ``window`` columns would otherwise outgrow the CPU's caches many times over."""
    if len(at) <= _CHUNK:
        return _median_of_last_chunk(values, at, begin, window)
    return np.concatenate([_median_of_last_chunk(values, at[i:i + _CHUNK], begin[i:i + _CHUNK], window)
                           for i in range(0, len(at), _CHUNK)])


def _median_of_last_chunk(values: np.ndarray, at: np.ndarray, begin: np.ndarray, window: int) -> np.ndarray:
    if len(at) == 0:
        return np.zeros(0)
    index = at[:, None] - np.arange(window)[None, :]
    inside = index >= begin[:, None]
    if not inside.any():
        return np.full(len(at), np.nan)
    return _nanmedian_rows(np.where(inside, values[np.maximum(index, 0)], np.nan))


def _nanmedian_rows(table: np.ndarray) -> np.ndarray:
    """``np.nanmedian(table, axis=1)`` for narrow rows, by sorting them (NaN last): numpy's own takes
    a masked-array path for short rows that costs many times more (it was most of a backtest's offline)."""
    ordered = np.sort(table, axis=1)
    count = (~np.isnan(table)).sum(axis=1)
    rows = np.arange(len(table))
    low, high = ordered[rows, np.maximum(count - 1, 0) // 2], ordered[rows, count // 2]  # the middle one(s)
    return np.where(count > 0, (low + high) / 2, np.nan)

