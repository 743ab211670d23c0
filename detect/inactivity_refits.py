"""The inactivity detector refitted on windows of one history, without fitting each window anew.

A backtest refits the detector every week on the newest twelve weeks that had arrived, so each
reading used to be fitted a dozen times. What ``fit`` learns of a meter from a window is what the
whole history shows inside it, but at the window's two edges:

- the window's first reading has no step (the register's baseline) and counts as use, and until the
  register first moves in the window the creep of a dripping tap cannot be told, so the silences
  start otherwise until the first use that the history sees as use too (the *head*);
- the window's last silence is cut short by its end (the *tail*).

In between, every silence is the history's, whole. So the longest silence per hour of the day is
the larger of the history's, taken from a table per meter and day worked out once (the whole days
in between), and of the window's own rows at its edges, worked out again. The background flow is
the low end of the night-time flow of the window's own steps, a quantile over a few rows.

A meter is fitted on its own steps instead (as ``fit`` does, exactly) when its window is not a plain
run of the history (a stale or late reading, a register fault at its start) or when it has a
background flow: its silences then depend on the window's background, not the history's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from detect import register
from detect.episodes import next_true_within_meters, row_ranges
from detect.inactivity import InactivityDetector, in_short_runs, night_rates, usual_from_longest
from detect.localtime import local_ms

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


class InactivityRefits:
    """Fits of ``detector`` on windows of one history: ``fit(rows)`` learns what ``fit`` learns from
    the register steps, on their own, of the history's readings at ``rows``.

    ``steps``: the register steps of the whole history with no carry, in ``sort_readings`` order,
    with the readings' columns. Only for ``usual_quantile`` 1.0 (the longest silence; a quantile of
    days is not a maximum, which a table per day cannot give).
    """

    def __init__(self, detector: InactivityDetector, steps: pd.DataFrame):
        if detector.usual_quantile != 1.0:
            raise ValueError("refits from the history take the longest silence (usual_quantile=1.0)")
        self.detector = clone(detector).fit()
        self.steps = steps
        note = steps["note"].to_numpy(dtype=object)
        fresh = note != "stale"
        self.position = np.cumsum(fresh) - 1  # each row's position among the history's fresh rows
        self.stale_before = np.r_[0, np.cumsum(~fresh)]
        self.note = note
        self.meter_of_row = steps["meter_id"].to_numpy()
        rows = steps[fresh]
        meters = rows["meter_id"].to_numpy()
        first = np.r_[True, meters[1:] != meters[:-1]] if len(meters) else np.zeros(0, dtype=bool)
        self.block = np.cumsum(first) - 1
        self.meter_ids = meters[first]
        self.ts = rows["ts_ms"].to_numpy("int64")
        self.consumption = rows["consumption_l"].to_numpy("float64")
        self.interval_ms = np.r_[0, np.diff(self.ts)] if len(self.ts) else np.zeros(0, dtype="int64")
        self.interval_ms[first] = 0
        local = local_ms(self.ts, self.detector.timezone)
        self.hour, self.day = local // _HOUR_MS % 24, local // _DAY_MS
        rate, night = night_rates(self.consumption, self.interval_ms, self.hour)
        self.night_rows, self.night_rate = np.flatnonzero(night), rate[night]
        self._silences_with_no_background(first)
        self._days(first)

    def _silences_with_no_background(self, first: np.ndarray) -> None:
        """Per fresh row, its silence as ``fit`` sees it on the whole history of a meter with no background."""
        used, self.since, self.elapsed = self.detector._silences(self.block, self.ts, self.consumption,
                                                                 self.interval_ms, np.zeros(len(self.ts)))
        starts = np.flatnonzero(first | (self.since != np.r_[np.nan, self.since[:-1]]))
        self.run_start = np.repeat(starts, np.diff(np.r_[starts, len(self.ts)]))
        self.short = in_short_runs(self.block, self.since, self.elapsed, self.detector.ceiling_h)
        self.next_move = next_true_within_meters(self.consumption > 0, self.block)
        self.next_use = next_true_within_meters(used, self.block)

    def _days(self, first: np.ndarray) -> None:
        """Where each local day of each meter starts, and the longest short silence per meter, day and hour."""
        n = len(self.ts)
        new_day = first | (self.day != np.r_[-1, self.day[:-1]])
        self.day_start = np.maximum.accumulate(np.where(new_day, np.arange(n), 0))
        # The row before the next day's first row of the same meter, and so that first row.
        following = next_true_within_meters(np.r_[new_day[1:] & ~first[1:], False], self.block)
        self.next_day = np.where(following >= 0, following + 1, -1)
        self.days_so_far = np.cumsum(new_day)
        # One row per meter and day from its first day to its last, empty days too, and an empty one last.
        meter_first = np.flatnonzero(first)
        first_day = self.day[meter_first]
        span = self.day[np.r_[meter_first[1:], n] - 1] - first_day + 1 if n else np.zeros(0, dtype="int64")
        self.day_row = (np.r_[0, np.cumsum(span)[:-1]][self.block] + self.day - first_day[self.block]).astype("int64")
        # Hours by meter-days, so that a meter's run of days is contiguous within each hour.
        self.longest_by_day = np.full((24, int(span.sum()) + 1), -np.inf)
        short = np.flatnonzero(self.short)
        np.maximum.at(self.longest_by_day, (self.hour[short], self.day_row[short]), self.elapsed[short])

    def fit(self, rows: np.ndarray) -> InactivityDetector:
        """The detector fitted on the register steps, on their own, of the history's readings at ``rows``
        (positions in the history, in its order): what ``fit(steps, steps=steps)`` learns from them."""
        fitted = clone(self.detector).fit()
        if not len(rows):
            return fitted
        meters = self.meter_of_row[rows]
        starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        window_meters = pd.Index(meters[starts])
        plain = ((rows[ends - 1] - rows[starts] == ends - 1 - starts)
                 & (self.stale_before[rows[ends - 1] + 1] == self.stale_before[rows[starts]])
                 & ~pd.Series(self.note[rows[starts]], dtype=object).isin(register.BASELINE_ELSEWHERE).to_numpy())
        # The plain meters' fresh rows [a, b) of the history.
        a, b = self.position[rows[starts]][plain], self.position[rows[ends - 1]][plain] + 1
        background = self._backgrounds(a, b)
        still = np.asarray(background.reindex(self.meter_ids[self.block[a]]).fillna(0.0).to_numpy() == 0)
        warnings = [self._warnings(a[still], b[still])]
        alone = np.ones(len(starts), dtype=bool)
        alone[np.flatnonzero(plain)[still]] = False
        if alone.any():
            other = self._fit_alone(rows[row_ranges(starts[alone], ends[alone])])
            background = pd.concat([background.drop(other.background_l_per_h_.index, errors="ignore"),
                                    other.background_l_per_h_])
            warnings.append(other.warning_h_)
        fitted.background_l_per_h_ = _in_order(background, window_meters)
        fitted.warning_h_ = _in_order(pd.concat([w for w in warnings if len(w)] or warnings[:1]), window_meters)
        return fitted

    def _fit_alone(self, rows: np.ndarray) -> InactivityDetector:
        """The detector fitted on the register steps, worked out again on their own, of the readings at ``rows``."""
        readings = self.steps.take(rows)[self.steps.columns.drop(["consumption_l", "note"])].reset_index(drop=True)
        steps, _ = register.consumption_steps(readings, None, max_flow_l_per_h=self.detector.max_flow_l_per_h)
        return clone(self.detector).fit(steps, steps=steps)

    def _backgrounds(self, a: np.ndarray, b: np.ndarray) -> pd.Series:
        """Per meter of fresh rows [a, b), its background: from the night-time steps after its first row
        (in the window, the first row has no step)."""
        night = row_ranges(np.searchsorted(self.night_rows, a + 1), np.searchsorted(self.night_rows, b))
        low = self.detector._backgrounds(self.night_rate[night], self.block[self.night_rows[night]])
        return pd.Series(low.to_numpy(), index=pd.Index(self.meter_ids[low.index.to_numpy("int64")]))

    def _warnings(self, a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        """The warning silences of meters with no background, from their fresh rows [a, b)."""
        detector = self.detector
        enough = self.days_so_far[b - 1] - self.days_so_far[a] + 1 >= detector.min_history_days
        a, b = a[enough], b[enough]
        # The head ends at the first use after the register first moves in the window (else at b).
        moves = np.where(a + 1 < b, self.next_move[np.minimum(a + 1, len(self.ts) - 1)], -1)
        moves = np.where((moves >= 0) & (moves < b), moves, b)
        use = np.where(moves + 1 < b, self.next_use[np.minimum(moves + 1, len(self.ts) - 1)], -1)
        use = np.where((use >= 0) & (use < b), use, b)
        # The whole days between the head's last day and the tail's first are the history's.
        tail = np.where(use < b, self.run_start[np.maximum(b - 1, 0)], b)
        after_head = np.where(use < b, self.next_day[np.minimum(use, len(self.ts) - 1)], -1)
        after_head = np.where(after_head >= 0, after_head, b)
        tail_day = np.where(use < b, self.day_start[np.minimum(tail, len(self.ts) - 1)], b)
        between = after_head < tail_day
        longest = np.full((len(a), 24), -np.inf)
        if between.any():
            pairs = np.c_[self.day_row[after_head[between]], self.day_row[tail_day[between]]].ravel()
            longest[between] = np.maximum.reduceat(self.longest_by_day, pairs, axis=1)[:, ::2].T
        edge_end = np.where(between, after_head, b)
        edge_start = np.where(between, tail_day, b)
        self._edges(longest, a, use, edge_end, edge_start, tail, b)
        found = (longest > -np.inf).any(axis=1)
        longest = longest[found]
        longest[longest == -np.inf] = np.nan
        index = pd.Index(self.meter_ids[self.block[a[found]]])
        return detector._warnings(usual_from_longest(pd.DataFrame(longest, index=index, columns=range(24))))

    def _edges(self, longest, a, use, edge_end, edge_start, tail, b) -> None:
        """Fold into ``longest`` (per meter, by hour) the silences of each meter's rows [a, edge_end)
        and [edge_start, b): the head [a, use) as the window alone sees it, the tail [tail, b) cut at b,
        the rest the history's."""
        detector, slot = self.detector, np.arange(len(a))
        head = row_ranges(a, use)
        owner = np.repeat(slot, use - a)
        consumption = self.consumption[head]
        interval = self.interval_ms[head]
        at_start = np.r_[True, owner[1:] != owner[:-1]] if len(head) else np.zeros(0, dtype=bool)
        consumption[at_start], interval[at_start] = np.nan, 0  # the window's first reading: no step
        _, head_since, head_elapsed = detector._silences(owner, self.ts[head], consumption, interval,
                                                         np.zeros(len(head)))
        head_short = in_short_runs(owner, head_since, head_elapsed, detector.ceiling_h)

        rest = np.r_[row_ranges(use, edge_end), row_ranges(np.maximum(edge_start, use), b)]
        rest_owner = np.r_[np.repeat(slot, np.maximum(edge_end - use, 0)),
                           np.repeat(slot, np.maximum(b - np.maximum(edge_start, use), 0))]
        in_tail = rest >= tail[rest_owner]
        # The tail's silence goes on past the window: it is as long as its last row shows.
        tail_short = self.elapsed[np.maximum(b - 1, 0)] < detector.ceiling_h
        rest_short = np.where(in_tail, tail_short[rest_owner], self.short[rest])
        keep = np.r_[head_short, rest_short]
        rows, owners = np.r_[head, rest][keep], np.r_[owner, rest_owner][keep]
        elapsed = np.r_[head_elapsed, self.elapsed[rest]][keep]
        np.maximum.at(longest, (owners, self.hour[rows]), elapsed)


def _in_order(frame, meters: pd.Index):
    """``frame`` (rows indexed by meter) in the order of ``meters``."""
    return frame.reindex(meters[meters.isin(frame.index)])

