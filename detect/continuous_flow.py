"""Continuous flow: water has run for hours without a pause (a tap left running, a running toilet, a burst pipe).

Someone living normally stops using water every now and then; a flow that never stops is a leak or
a tap nobody turned off. What counts as flow is judged against the household's own night-time
background, learned from its past nights, so a drip it has always had does not count.
"""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect import register
from detect.episodes import concat_episodes, make_episodes, meter_index
from detect.localtime import local_ms

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_NO_RUN = -1
_UNIT_NOTES = ("unit_m3_as_l", "unit_l_as_m3")
_BREAK_NOTES = ("impossible", "reset")
_HISTORY_KEY = np.iinfo("int64").min // 2  # below every night: the learned nights of earlier steps
_RUN_COLUMNS = ["since", "raised"]
_NIGHT_COLUMNS = ["night", "night_l", "night_h", "night_peak"]


class ContinuousFlowDetector(BaseEstimator):
    """Raise an alarm when every reading for ``min_hours`` shows water flowing above the household's background.

    Each interval between two readings of a meter is judged on its own. It *flows* if its average
    rate (the litres ``detect.register.consumption_steps`` counts, over its hours) is above the
    household's background plus ``min_excess_l_per_h``. A run of flowing intervals lasting
    ``min_hours`` raises the alarm when the reading that completes it arrives. The episode starts
    at the start of the run's first interval and ends when a reading arrives whose interval does
    not flow.

    A run is also ended by an interval that cannot prove the flow went on: one longer than
    ``max_interval_h`` (a meter that reports daily totals never raises this alarm, and a reporting
    gap during a leak ends the alarm; a new one follows ``min_hours`` after the reports resume),
    and a step the register rules count as ``impossible`` or a ``reset``, which is never flow. A
    reading below the register's baseline (``suspect``) is no evidence either way: as the register
    rules do, the next reading is judged from the baseline, over the longer interval.

    The background is the lowest average rate, over the household's last ``background_nights``
    learned nights, between ``night_start_h`` and ``night_end_h`` local time: with nobody using
    water, what still runs is a drip. A night is learned once it is over, if intervals within it
    cover at least half of it and none of them showed more than ``min_excess_l_per_h`` (none could
    have been flow). So an interval is judged against nights that were over before it began, and
    no night during a run of continuous flow is ever learned: the nights of a leak cannot raise
    the background that proves it. The background never exceeds ``max_background_l_per_h``, so a
    leak can never become normal; in a household with a past, a new drip becomes its background
    only after dripping through ``background_nights`` nights. A drip that never runs faster than
    ``min_excess_l_per_h`` above the background never raises this alarm, not even at first: it is
    not the flow this alarm is for.

    Parameters
    ----------
    min_hours : float, default=8.0
        Hours of flow without a pause that raise the alarm. A day at home has pauses: in simulated
        households read hourly, no stretch of ordinary use flowed for 8 hours (it did for 6 or 7
        hours about once in 13 or 90 household-months), while a 15 L/h leak is still raised
        within 9 hours of data time at readings every 15 minutes or every hour.
    min_excess_l_per_h : float, default=8.0
        Litres per hour above the background an interval must show to count as flow. Read hourly,
        an hour in which someone only flushes the toilet and washes their hands shows 5-10 L, so a
        lower threshold lets an ordinary busy day look like a leak. Readings are whole litres, so a
        15 L/h leak read every 15 minutes shows 3 or 4 L, as little as 12 L/h: the threshold plus
        ``max_background_l_per_h`` must stay below that. A running toilet cistern or a tap left on
        passes 10-500 L/h; a slower drip is left to other rules (it never raises this alarm).
    max_background_l_per_h : float, default=3.0
        The most a household's background may be; a steadier flow is never learned as normal.
    background_nights : int, default=7
        How many learned nights the background is the lowest rate of.
    night_start_h, night_end_h : float, default=1.0, 5.0
        The quiet hours, in local time, from which the background is learned (0 <= start < end <= 24).
    timezone : str, default="Asia/Shanghai"
        The households' time zone (an IANA name).
    max_interval_h : float, default=2.0
        The longest interval between readings that can prove flow went on throughout it.
    max_flow_l_per_h : float, default=3125.0
        The largest plausible flow (``detect.register.MAX_FLOW_L_PER_H``); a faster step is not flow.

    Examples
    --------
    >>> import pandas as pd
    >>> h = 3_600_000
    >>> ts = [i * h for i in range(10)]
    >>> totals = [0.0, 20, 40, 60, 80, 100, 120, 140, 160, 160]  # 20 L/h for eight hours, then nothing
    >>> readings = pd.DataFrame({"meter_id": "m1", "ts_ms": ts, "total_l": totals, "received_ms": ts})
    >>> episodes, carry = ContinuousFlowDetector(min_hours=6).fit().step(readings, None, until_ms=9 * h)
    >>> episodes[["meter_id", "severity", "started_ms", "raised_ms", "ended_ms"]].to_dict("records")
    [{'meter_id': 'm1', 'severity': 'alarm', 'started_ms': 0, 'raised_ms': 21600000, 'ended_ms': 32400000}]
    """

    kind: ClassVar[str] = "continuous_flow"

    def __init__(
        self,
        min_hours: float = 8.0,
        min_excess_l_per_h: float = 8.0,
        max_background_l_per_h: float = 3.0,
        background_nights: int = 7,
        night_start_h: float = 1.0,
        night_end_h: float = 5.0,
        timezone: str = "Asia/Shanghai",
        max_interval_h: float = 2.0,
        max_flow_l_per_h: float = register.MAX_FLOW_L_PER_H,
    ) -> None:
        self.min_hours = min_hours
        self.min_excess_l_per_h = min_excess_l_per_h
        self.max_background_l_per_h = max_background_l_per_h
        self.background_nights = background_nights
        self.night_start_h = night_start_h
        self.night_end_h = night_end_h
        self.timezone = timezone
        self.max_interval_h = max_interval_h
        self.max_flow_l_per_h = max_flow_l_per_h

    def fit(self, readings: pd.DataFrame | None = None, y=None) -> ContinuousFlowDetector:
        """Check the parameters; backgrounds are learned as readings stream through ``step``."""
        if not self.min_hours > 0:
            raise ValueError(f"min_hours must be positive, got {self.min_hours!r}")
        if not self.min_excess_l_per_h >= 0:
            raise ValueError(f"min_excess_l_per_h must be zero or more, got {self.min_excess_l_per_h!r}")
        if not self.max_background_l_per_h >= 0:
            raise ValueError(f"max_background_l_per_h must be zero or more, got {self.max_background_l_per_h!r}")
        if not (isinstance(self.background_nights, int) and self.background_nights >= 1):
            raise ValueError(f"background_nights must be a positive whole number, got {self.background_nights!r}")
        if not 0 <= self.night_start_h < self.night_end_h <= 24:
            raise ValueError(
                f"the night must lie within one day, 0 <= night_start_h < night_end_h <= 24; "
                f"got {self.night_start_h!r} to {self.night_end_h!r}"
            )
        if not self.max_interval_h > 0:
            raise ValueError(f"max_interval_h must be positive, got {self.max_interval_h!r}")
        if not self.max_flow_l_per_h > 0:
            raise ValueError(f"max_flow_l_per_h must be positive, got {self.max_flow_l_per_h!r}")
        try:
            self.tz_ = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}; use an IANA name such as 'Asia/Shanghai'") from exc
        self.min_ms_ = int(self.min_hours * _HOUR_MS)
        self.max_interval_ms_ = int(self.max_interval_h * _HOUR_MS)
        self.night_start_ms_ = int(self.night_start_h * _HOUR_MS)
        self.night_end_ms_ = int(self.night_end_h * _HOUR_MS)
        self.night_cover_h_ = (self.night_end_h - self.night_start_h) / 2
        return self

    def step(
        self, readings: pd.DataFrame, carry: pd.DataFrame | None, *, until_ms: int,
        steps: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Consume readings that arrived since the last step; see InactivityDetector.step (and its ``steps``)."""
        carry = self._empty_carry() if carry is None else carry
        if steps is None:
            steps = register.consumption_steps(readings, carry, max_flow_l_per_h=self.max_flow_l_per_h)
        steps, register_carry = steps
        # A stale reading (duplicate or older than one already seen) cannot move the state.
        rows = steps[steps["note"].to_numpy() != "stale"].reset_index(drop=True)
        if rows.empty:
            return self._ongoing(carry), carry

        intervals = _intervals(rows, carry)
        if intervals.empty:  # only readings below the baseline: no evidence, only the register moved
            new_carry = register_carry.join(carry.drop(columns=register.CARRY_COLUMNS))[self._carry_columns()]
            return self._ongoing(new_carry), new_carry
        meters = intervals["meter_id"].to_numpy()
        start = intervals["start"].to_numpy()
        ts = intervals["ts_ms"].to_numpy()
        hours = (ts - start) / _HOUR_MS
        used = intervals["consumption_l"].to_numpy()
        breaks = intervals["note"].isin(_BREAK_NOTES).to_numpy()
        valid = ~np.isnan(used) & ~breaks & (ts - start > 0) & (ts - start <= self.max_interval_ms_)
        rate = np.where(valid, used / np.where(valid, hours, 1.0), np.nan)

        background, nights = self._background(meters, start, ts, used, hours, rate, valid, carry)
        flow = valid & (rate > background + self.min_excess_l_per_h)
        closed, runs = self._runs(meters, start, ts, intervals["received_ms"].to_numpy(), flow, carry)

        runs = pd.concat([carry[runs.columns].drop(runs.index, errors="ignore"), runs])
        nights = pd.concat([carry[nights.columns].drop(nights.index, errors="ignore"), nights])
        new_carry = register_carry.join(runs).join(nights)  # a meter with no night yet: NaN, no nights learned
        new_carry = new_carry.fillna({"since": _NO_RUN, "raised": _NO_RUN})[self._carry_columns()]
        new_carry = new_carry.astype({"since": "int64", "raised": "int64"})
        return concat_episodes([closed, self._ongoing(new_carry)]), new_carry

    def _background(self, meters, start, ts, used, hours, rate, valid, carry) -> tuple[np.ndarray, pd.DataFrame]:
        """Each interval's background (L/h), and the per-meter night state to carry.

        The background of an interval comes from the nights over before it began.
        """
        local_start = local_ms(start, self.tz_)
        day = local_start // _DAY_MS
        time_of_day = local_start - day * _DAY_MS
        in_night = (
            valid
            & (time_of_day >= self.night_start_ms_)
            & (local_ms(ts, self.tz_) - day * _DAY_MS <= self.night_end_ms_)
        )
        over_before = day + (time_of_day >= self.night_end_ms_)  # nights keyed below this are over

        # Meters as their positions among this step's meters: grouping and searching on integers
        # costs a fraction of doing it on the ids, which are Python objects.
        position, step_meters = pd.factorize(meters)
        prior = carry[[*_NIGHT_COLUMNS, *self._learned_columns()]].reindex(step_meters)
        has_pending = prior["night"].notna().to_numpy()
        pending = prior[has_pending]
        nights = pd.concat(
            [
                pd.DataFrame({"meter": np.flatnonzero(has_pending), "night": pending["night"].to_numpy("int64"),
                              "litres": pending["night_l"].to_numpy(), "hours": pending["night_h"].to_numpy(),
                              "peak": pending["night_peak"].to_numpy()}),
                pd.DataFrame({"meter": position[in_night], "night": day[in_night],
                              "litres": used[in_night], "hours": hours[in_night], "peak": rate[in_night]}),
            ],
            ignore_index=True,
        )
        nights = nights.groupby(["meter", "night"], sort=True, as_index=False).agg(
            litres=("litres", "sum"), hours=("hours", "sum"), peak=("peak", "max")
        )
        nights["rate"] = nights["litres"] / nights["hours"]
        # A night with any interval that might have flowed may belong to a run: it teaches nothing.
        learned = nights[(nights["hours"] >= self.night_cover_h_) & (nights["peak"] <= self.min_excess_l_per_h)]

        # Nights learned in earlier steps come first, then this step's, each meter's in order.
        sequence = _NightSequence(prior[self._learned_columns()].to_numpy("float64"), learned["meter"].to_numpy(),
                                  learned["night"].to_numpy("int64"), learned["rate"].to_numpy("float64"))
        lowest, found = sequence.lowest_before(position, over_before.astype("int64"), self.background_nights)
        background = np.minimum(np.where(found, lowest, 0.0), self.max_background_l_per_h)

        # The latest night stays pending (more of it may come); the learned ones before it are history.
        night_meters = nights["meter"].to_numpy()
        last = np.r_[night_meters[1:] != night_meters[:-1], True] if len(nights) else np.zeros(0, dtype=bool)
        tail = nights[last]  # each meter's nights are in order: its last is its latest
        state = pd.DataFrame(index=meter_index(step_meters[tail["meter"].to_numpy()]))
        state["night"] = tail["night"].to_numpy("float64")
        state["night_l"] = tail["litres"].to_numpy()
        state["night_h"] = tail["hours"].to_numpy()
        state["night_peak"] = tail["peak"].to_numpy()
        kept = sequence.last_before(tail["meter"].to_numpy(), tail["night"].to_numpy("int64"), self.background_nights)
        state[self._learned_columns()] = kept
        return background, state

    def _runs(self, meters, start, ts, received, flow, carry) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Episodes that ended in this step, and the per-meter run state to carry."""
        first = np.r_[True, meters[1:] != meters[:-1]]
        last = np.r_[meters[1:] != meters[:-1], True]
        prior = carry[["since", "raised"]].reindex(meters)
        prior_since = prior["since"].fillna(_NO_RUN).to_numpy("int64")
        prev_flow = np.where(first, prior_since != _NO_RUN, np.r_[False, flow[:-1]])

        # A run is one (meter, since): since is the start of its first flowing interval.
        since = np.where(flow & ~prev_flow, start, np.where(flow, np.nan, _NO_RUN))
        since = pd.Series(since).groupby(meters).ffill().to_numpy()
        since = np.where(np.isnan(since), prior_since, since).astype("int64")
        alarmed = flow & (ts - since >= self.min_ms_)

        runs = pd.DataFrame({"meter_id": meters, "since": since, "received": received})
        raised_now = runs[alarmed].groupby(["meter_id", "since"], sort=False)["received"].first()
        raised_before = carry.loc[carry["raised"] >= 0].set_index("since", append=True)["raised"]
        raised = pd.concat([raised_before, raised_now[~raised_now.index.isin(raised_before.index)]])

        # An interval that does not flow ends the run before it; the end is that reading's arrival.
        prev_since = np.where(first, prior_since, np.r_[_NO_RUN, since[:-1]])
        ends = pd.DataFrame({"meter_id": meters, "since": prev_since, "ended": received})[~flow & prev_flow]
        ended = ends.set_index(["meter_id", "since"])["ended"]
        closed = raised[raised.index.isin(ended.index)]
        closed_episodes = make_episodes(
            closed.index.get_level_values(0), kind=self.kind, severity="alarm",
            started_ms=closed.index.get_level_values(1), raised_ms=closed.to_numpy(),
            ended_ms=ended.reindex(closed.index).to_numpy(),
        )

        # Each meter's last run: raised before this step (the carry's run goes on), or by its first
        # alarmed interval in this step, or not yet.
        block = np.cumsum(first) - 1
        tail_since = since[last]
        prior_raised = prior["raised"].fillna(_NO_RUN).to_numpy("int64")[last]
        tail_raised = np.where((prior_raised >= 0) & (prior_since[last] == tail_since), prior_raised, _NO_RUN)
        in_tail_run = alarmed & (since == tail_since[block])
        rows = np.flatnonzero(in_tail_run)
        first_rows = rows[np.r_[True, block[rows][1:] != block[rows][:-1]]] if len(rows) else rows
        new = tail_raised[block[first_rows]] == _NO_RUN
        tail_raised[block[first_rows][new]] = received[first_rows][new]
        tail = pd.DataFrame({"since": tail_since}, index=meter_index(meters[last]))
        tail["raised"] = np.where(tail_since == _NO_RUN, _NO_RUN, tail_raised).astype("int64")
        return closed_episodes, tail

    def _learned_columns(self) -> list[str]:
        """The carry's last ``background_nights`` learned night rates of a meter, oldest first (NaN: none)."""
        return [f"nights_{i}" for i in range(self.background_nights)]

    def _carry_columns(self) -> list[str]:
        return [*register.CARRY_COLUMNS, *_RUN_COLUMNS, *_NIGHT_COLUMNS, *self._learned_columns()]

    def _empty_carry(self) -> pd.DataFrame:
        return register.empty_carry().assign(
            since=pd.Series([], dtype="int64"),
            raised=pd.Series([], dtype="int64"),
            **{column: pd.Series([], dtype="float64") for column in [*_NIGHT_COLUMNS, *self._learned_columns()]},
        )

    def _ongoing(self, carry: pd.DataFrame) -> pd.DataFrame:
        open_runs = carry[carry["raised"] >= 0]
        return make_episodes(
            open_runs.index, kind=self.kind, severity="alarm",
            started_ms=open_runs["since"], raised_ms=open_runs["raised"],
        )


def _intervals(rows: pd.DataFrame, carry: pd.DataFrame) -> pd.DataFrame:
    """The judged readings (not suspect), each with ``start``: the time its consumption is counted from.

    That is the time of the register's baseline before the reading. Per the register rules, a
    suspect reading, and one in mixed-up units that shows no use, keep the baseline; every other
    reading becomes the baseline. A meter's first reading has no start (NaN).
    """
    meters = rows["meter_id"].to_numpy()
    ts = rows["ts_ms"].to_numpy("int64")
    used = rows["consumption_l"].to_numpy("float64")
    note = rows["note"]
    keeps = (note == "suspect").to_numpy() | (note.isin(_UNIT_NOTES).to_numpy() & (used == 0))
    baseline_after = pd.Series(np.where(keeps, np.nan, ts.astype("float64")))
    start = baseline_after.groupby(meters).ffill().groupby(meters).shift(1).to_numpy()
    prior = carry["base_ts"].reindex(meters).to_numpy("float64")
    start = np.where(np.isnan(start), prior, start)
    judged = rows.assign(start=start)[~keeps].reset_index(drop=True)
    # A first reading gets its own time as start: a zero-length interval that never flows.
    judged["start"] = judged["start"].fillna(judged["ts_ms"]).astype("int64")
    return judged


class _NightSequence:
    """Each meter's learned night rates in order: those remembered from earlier steps (a row per
    meter of a NaN-padded matrix, oldest first, keyed below every night), then this step's (a
    meter's position among the matrix's rows, night and rate each, in order of meter, then night),
    laid out by meter and night, so lookups are searches in NumPy. Meters are positions throughout."""

    def __init__(self, remembered: np.ndarray, meter: np.ndarray, night: np.ndarray, rate: np.ndarray) -> None:
        known = ~np.isnan(remembered)
        old_meter = np.nonzero(known)[0]  # row-major: each meter's nights in order
        old_order = np.nonzero(known)[1]  # the carry's columns keep the order (NaN only on the left)
        meter = np.r_[old_meter, meter].astype("int64")
        night = np.r_[_HISTORY_KEY + old_order, night].astype("int64")
        rate = np.r_[remembered[known], rate]
        # Both parts are in order of meter, then night, and every remembered night is keyed below
        # every learned one: a stable sort by meter alone puts all in order of meter, then night.
        order = np.argsort(meter, kind="stable")
        self.meter, self.night, self.rate = meter[order], night[order], rate[order]
        self.begin = np.searchsorted(self.meter, np.arange(len(remembered)), side="left")  # per meter

    def _count_below(self, meter: np.ndarray, night: np.ndarray) -> np.ndarray:
        """Per query, the position just past the meter's last night below ``night`` (its begin: none)."""
        both = _in_order_from_zero(np.r_[self.night, night])
        span = int(both.max()) + 1 if len(both) else 1
        keys = self.meter * span + both[:len(self.night)]  # sorted, as the sequence is
        return np.searchsorted(keys, meter * span + both[len(self.night):], side="left")

    def lowest_before(self, meter: np.ndarray, over_before: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
        """Per interval, the lowest of the last ``window`` nights of its meter keyed below
        ``over_before``, and whether there was any."""
        # Neighbouring intervals mostly ask the same (meter, night): answer each run of them once.
        if len(meter) > 1:
            repeat = (meter[1:] == meter[:-1]) & (over_before[1:] == over_before[:-1])
            if repeat.any():
                first = np.flatnonzero(np.r_[True, ~repeat])
                lowest, found = self.lowest_before(meter[first], over_before[first], window)
                lengths = np.diff(np.r_[first, len(meter)])
                return np.repeat(lowest, lengths), np.repeat(found, lengths)
        end = self._count_below(meter, over_before)
        begin = self.begin[meter]
        found = end > begin
        lowest = np.full(len(meter), np.inf)
        if found.any():
            index = (end - 1)[:, None] - np.arange(window)[None, :]
            inside = index >= begin[:, None]
            lowest = np.where(inside, self.rate[np.maximum(index, 0)], np.inf).min(axis=1)
        return lowest, found

    def last_before(self, meter: np.ndarray, night: np.ndarray, window: int) -> np.ndarray:
        """Per meter, the rates of its last ``window`` nights keyed below ``night``, oldest first,
        NaN-padded on the left."""
        end = self._count_below(meter, night)
        index = (end - window)[:, None] + np.arange(window)[None, :]
        inside = index >= self.begin[meter][:, None]
        if not inside.any():
            return np.full(index.shape, np.nan)
        return np.where(inside, self.rate[np.maximum(index, 0)], np.nan)


def _in_order_from_zero(values: np.ndarray) -> np.ndarray:
    """Night keys as small non-negative integers in the same order: the remembered nights' keys
    (``_HISTORY_KEY`` and up) first, then the days. Ranking them with ``np.unique`` would sort them."""
    remembered = values < _HISTORY_KEY // 2
    slots = int((values[remembered] - _HISTORY_KEY).max()) + 1 if remembered.any() else 0
    days = values[~remembered]
    low = int(days.min()) if len(days) else 0
    return np.where(remembered, values - _HISTORY_KEY, values - low + slots)
