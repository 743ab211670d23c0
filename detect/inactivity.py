"""Inactivity: the meter keeps reporting but nobody has used water for too long (goes to the cadre).

Silence is proven by the register itself: a cumulative total that has not moved between two
readings means no water was used in between, however many readings went missing. What counts as
movement on a messy register (glitches, resets, rollovers, unit mix-ups) is decided by
``detect.register``.

Two levels. ``alarm`` at the policy ceiling (12 h): the community's rule, for every meter. An
earlier ``warning`` when the silence is longer than this household has been silent at this hour
of the day in its recent history (learned by ``fit``); a meter with too little history has no
warnings, only the rule.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect import register
from detect.episodes import concat_episodes, ffill_within_meters, make_episodes, sort_readings
from detect.localtime import local_hour, local_ms

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_CARRY_COLUMNS = [*register.CARRY_COLUMNS, "since", "raised", "level", "moved"]
_SEVERITY = {1: "warning", 2: "alarm"}
_MAX_RATE_INTERVAL_MS = 2 * _HOUR_MS  # a longer interval says nothing about the night-time flow


class InactivityDetector(BaseEstimator):
    """Raise an alarm when a meter's register has not moved for ``ceiling_h`` hours.

    The alarm is raised when the reading that completes the proof arrives: a silence of 12 hours
    is known only once a reading 12 hours after the last use shows the same total.

    Parameters
    ----------
    ceiling_h : float, default=12.0
        Hours without use after which the alarm is raised.
    min_use_l : float, default=0.0
        Consumption of at most this many litres between two readings is not counted as use.
        Consumption is the register's movement as judged by ``detect.register.consumption_steps``.
    max_flow_l_per_h : float, default=3125.0
        The largest plausible flow (``detect.register.MAX_FLOW_L_PER_H``); a faster step is not use.
    learn : bool, default=True
        Learn each household's background flow and usual silences in ``fit``. False gives the
        fixed rule alone, as communities practise it.
    trickle_l_per_h, trickle_gap_h : float, default=1.0, 3.0
        A dripping tap must not hide a silence. The register *creeps* when it moves at most
        ``trickle_gap_h`` hours after its last movement, at no more than ``trickle_l_per_h`` over
        that time; a creeping step is not use. A drip moves the register steadily, while a person's
        small uses come with longer pauses, so a drip is told from use by its steadiness, not only
        its size. 0 turns this off. Flow at or below the household's learned night-time background
        is not use either.
    usual_quantile : float, default=1.0
        The household's usual silence at an hour of the day is this quantile, over the history's
        days, of the silence under way at that hour (1.0: the longest). Silences that reached the
        ceiling are left out: they raised the alarm anyway.
    warning_margin_h : float, default=3.0
        A warning needs a silence this many hours longer than the usual one.
    min_warning_h : float, default=4.0
        Never warn about a silence shorter than this.
    history_days : float, default=84.0
        How much of the history ``fit`` learns from (the newest days). Twelve weeks: long enough
        that the longest usual silence at each hour is well known, short enough to follow a
        change of season or routine.
    min_history_days : int, default=7
        A meter seen on fewer days has no warnings: the fixed rule alone.
    max_background_l_per_h : float, default=5.0
        The learned background is capped here, so a running leak never becomes "normal".
    timezone : str, default="Asia/Shanghai"
        The households' clock, for "this hour of the day".

    Examples
    --------
    >>> import pandas as pd
    >>> h = 3_600_000
    >>> readings = pd.DataFrame({"meter_id": ["m1"] * 4, "ts_ms": [0, h, 7 * h, 13 * h],
    ...                          "total_l": [10.0, 15.0, 15.0, 15.0], "received_ms": [0, h, 7 * h, 13 * h]})
    >>> episodes, carry = InactivityDetector(ceiling_h=12).fit().step(readings, None, until_ms=13 * h)
    >>> episodes[["meter_id", "severity", "started_ms", "raised_ms"]].to_dict("records")
    [{'meter_id': 'm1', 'severity': 'alarm', 'started_ms': 3600000, 'raised_ms': 46800000}]
    """

    kind: ClassVar[str] = "inactivity"

    learns_from_history: ClassVar[bool] = True

    learns_from_newest_days: ClassVar[bool] = True
    """``fit`` looks only at the readings within ``history_days`` of the newest one it is given."""

    def __init__(
        self,
        ceiling_h: float = 12.0,
        min_use_l: float = 0.0,
        max_flow_l_per_h: float = register.MAX_FLOW_L_PER_H,
        learn: bool = True,
        trickle_l_per_h: float = 1.0,
        usual_quantile: float = 1.0,
        warning_margin_h: float = 3.0,
        min_warning_h: float = 4.0,
        history_days: float = 84.0,
        min_history_days: int = 7,
        max_background_l_per_h: float = 5.0,
        trickle_gap_h: float = 3.0,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.ceiling_h = ceiling_h
        self.min_use_l = min_use_l
        self.max_flow_l_per_h = max_flow_l_per_h
        self.learn = learn
        self.trickle_l_per_h = trickle_l_per_h
        self.usual_quantile = usual_quantile
        self.warning_margin_h = warning_margin_h
        self.min_warning_h = min_warning_h
        self.history_days = history_days
        self.min_history_days = min_history_days
        self.max_background_l_per_h = max_background_l_per_h
        self.trickle_gap_h = trickle_gap_h
        self.timezone = timezone

    def fit(self, readings: pd.DataFrame | None = None, y=None, *, steps: pd.DataFrame | None = None
            ) -> InactivityDetector:
        """Check the parameters and learn, per meter, its background flow and its usual silences.

        Without ``readings`` nothing is learned: the fixed rule, with no warnings. ``steps``, if
        given, are the register steps of ``readings`` already computed, exactly as
        ``register.consumption_steps(readings, None)`` gives them, with ``readings`` all within
        ``history_days`` of the newest (a backtest computes them once for all its refits).
        """
        for name in ("ceiling_h", "max_flow_l_per_h", "history_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("min_use_l", "trickle_l_per_h", "warning_margin_h", "min_warning_h", "max_background_l_per_h",
                     "min_history_days", "trickle_gap_h"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be zero or more, got {getattr(self, name)!r}")
        if not 0 < self.usual_quantile <= 1:
            raise ValueError(f"usual_quantile must be in (0, 1], got {self.usual_quantile!r}")
        self.ceiling_ms_ = int(self.ceiling_h * _HOUR_MS)
        self.background_l_per_h_ = pd.Series(dtype="float64")
        self.warning_h_ = pd.DataFrame(columns=range(24), dtype="float64")
        if self.learn and readings is not None and len(readings):
            self._learn(readings, steps)
        return self

    def _learn(self, readings: pd.DataFrame, steps: pd.DataFrame | None) -> None:
        if steps is None:
            newest = int(readings["ts_ms"].max())
            recent = readings[readings["ts_ms"] >= newest - int(self.history_days * _DAY_MS)]
            steps, _ = register.consumption_steps(sort_readings(recent), None, max_flow_l_per_h=self.max_flow_l_per_h)
        # Plain arrays of the fresh rows: a backtest refits dozens of times on millions of rows.
        fresh = _unless_all(steps["note"].to_numpy() != "stale")
        meters, ts, consumption = (steps[c].to_numpy()[fresh] for c in ("meter_id", "ts_ms", "consumption_l"))
        first = np.r_[True, meters[1:] != meters[:-1]]
        codes = np.cumsum(first) - 1  # rows come grouped by meter: integer keys without hashing
        names = meters[first]
        interval_ms = np.r_[0, np.diff(ts)]
        interval_ms[first] = 0
        local = local_ms(ts, self.timezone)
        hour = local // _HOUR_MS % 24

        rate, night = night_rates(consumption, interval_ms, hour)
        low = self._backgrounds(rate[night], codes[night])
        self.background_l_per_h_ = pd.Series(low.to_numpy(), index=pd.Index(names[low.index.to_numpy()]))
        background = np.zeros(len(names))
        background[low.index.to_numpy()] = low.fillna(0.0).to_numpy()  # no usable night: none, as in step

        _, since, elapsed = self._silences(codes, ts, consumption, interval_ms, background[codes])
        known = _unless_all(~np.isnan(since))
        meter, hour, day, elapsed, since = (a[known] for a in (codes, hour, local // _DAY_MS, elapsed, since))
        enough = _distinct_days(meter, day, len(names)) >= self.min_history_days
        keep = _unless_all(enough[meter])
        usual = self._usual_silences(meter[keep], since[keep].astype("int64"), day[keep], hour[keep], elapsed[keep])
        usual.index = names[usual.index]
        self.warning_h_ = self._warnings(usual)

    def _backgrounds(self, rates: np.ndarray, meters: np.ndarray) -> pd.Series:
        """Per meter, its background: the low end of its night-time flow (L/h), capped. ``rates``
        are the night-time steps' flows, of the meters (any keys) in ``meters``, grouped by meter."""
        return pd.Series(rates).groupby(meters).quantile(0.1).clip(upper=self.max_background_l_per_h)

    def _warnings(self, usual: pd.DataFrame) -> pd.DataFrame:
        """The silence, per meter and hour of the day, that earns a warning, from the usual silences."""
        warning = (usual + self.warning_margin_h).clip(lower=self.min_warning_h)
        return warning.where(warning < self.ceiling_h)  # at or past the ceiling: the rule decides

    def _usual_silences(self, meter: np.ndarray, since: np.ndarray, day: np.ndarray, hour: np.ndarray,
                        elapsed: np.ndarray) -> pd.DataFrame:
        """Per meter code and hour of the day: a high quantile, over the history's days, of the
        longest silence under way at that hour. Per row: its meter code, the start of its silence,
        its local day and hour, and the hours elapsed since the start.

        Silences that reached the ceiling are left out: they raised the alarm anyway, so a warning
        during one costs no extra visit, while counting them (a day out, a night away) would put
        every warning out of reach.
        """
        # The rows are fresh steps grouped by meter in time order, so each silence (meter, since) is a run of rows.
        short = in_short_runs(meter, since, elapsed, self.ceiling_h)
        if not short.all():
            meter, day, hour, elapsed = meter[short], day[short], hour[short], elapsed[short]
        present = np.flatnonzero(np.bincount(meter)) if len(meter) else np.zeros(0, dtype="int64")
        if self.usual_quantile == 1.0:
            # The longest of the daily longest silences is the longest: no need to group by day first.
            table = np.full((int(meter.max()) + 1 if len(meter) else 0, 24), -np.inf)
            np.maximum.at(table, (meter, hour), elapsed)
            values = table[present]
            values[values == -np.inf] = np.nan
        else:
            day = day - (day.min() if len(day) else 0)
            day_span = int(day.max()) + 1 if len(day) else 1
            daily = pd.Series(elapsed).groupby(_joint_key(_joint_key(meter, day, day_span), hour, 24), sort=False).max()
            key = daily.index.to_numpy("int64")
            slot = key // 24 // day_span * 24 + key % 24  # (meter, hour)
            usual = daily.groupby(slot).quantile(self.usual_quantile)
            values = np.full((len(present), 24), np.nan)
            slot = usual.index.to_numpy("int64")
            values[np.searchsorted(present, slot // 24), slot % 24] = usual.to_numpy()
        return usual_from_longest(pd.DataFrame(values, index=pd.Index(present), columns=range(24)))

    def _silences(self, meters: np.ndarray, ts: np.ndarray, consumption: np.ndarray, interval_ms: np.ndarray,
                  background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per step of a history with nothing before it: whether it is use, when its silence began
        (the last use up to it; NaN: none yet) and the hours elapsed since."""
        used, _ = self._used(meters, ts, consumption, interval_ms, background, np.full(len(ts), np.nan))
        since = ffill_within_meters(np.where(used, ts, np.nan), meters)
        return used, since, (ts - since) / _HOUR_MS

    def _used(
        self, meters: np.ndarray, ts: np.ndarray, consumption: np.ndarray, interval_ms: np.ndarray,
        background: np.ndarray, moved_before: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each step is use, and when each meter's register last moved up to each row.

        Use is more than the learned background over the step's interval, unless the register is
        creeping: it moved at most ``trickle_gap_h`` earlier, at no more than ``trickle_l_per_h``
        since. A drip moves a register steadily; a person's small uses come with long pauses.
        ``background`` is each row's meter's learned background (L/h); ``moved_before`` the last
        movement known before each meter's first row (NaN: none).
        """
        allowance = background * interval_ms / _HOUR_MS + self.min_use_l
        # A first-ever reading (unknown consumption) starts a run: nothing before it proves silence.
        above_background = np.isnan(consumption) | (consumption > allowance)
        first = np.r_[True, meters[1:] != meters[:-1]]
        # The last movement up to and including each row, seeded with what came before the step.
        marks = np.where(consumption > 0, ts, np.where(first, moved_before, np.nan))
        moved = ffill_within_meters(marks, meters)
        previous = np.where(first, moved_before, np.r_[np.nan, moved[:-1]])
        gap_h = (ts - previous) / _HOUR_MS
        with np.errstate(invalid="ignore"):
            creeping = (gap_h <= self.trickle_gap_h) & (consumption - self.min_use_l <= self.trickle_l_per_h * gap_h)
        return above_background & ~creeping, moved

    def step(
        self, readings: pd.DataFrame, carry: pd.DataFrame | None, *, until_ms: int, away: pd.DataFrame | None = None,
        steps: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Consume readings that arrived since the last step.

        Returns the episodes that ended in this step plus every ongoing one, and the carry
        (per-meter state) to pass to the next step. Stepping through the readings in any
        number of arrival-ordered pieces gives the same episodes as one step over all of them
        (given the same ``away``).

        ``away`` holds the windows in which a household is registered as away (meter_id, start_ms,
        end_ms). A reading inside one counts as use: nothing is raised, and an alert already open
        ends. A silence that runs past a window's end is measured from the window's end.

        ``steps`` is what ``detect.register.consumption_steps`` returns for these readings and this
        carry (with this detector's ``max_flow_l_per_h``), when the caller has it already: detectors
        stepping on the same readings share one pass of the register rules.
        """
        carry = _empty_carry() if carry is None else carry
        if steps is None:
            steps = register.consumption_steps(readings, carry, max_flow_l_per_h=self.max_flow_l_per_h)
        steps, register_carry = steps
        # A stale reading (duplicate or older than one already seen) cannot move the state.
        fresh = steps["note"].to_numpy() != "stale"
        rows = steps if fresh.all() else steps[fresh].reset_index(drop=True)
        if rows.empty:
            return self._ongoing(carry), carry

        meters = rows["meter_id"].to_numpy()
        first = np.r_[True, meters[1:] != meters[:-1]]
        last = np.r_[meters[1:] != meters[:-1], True]
        ts = rows["ts_ms"].to_numpy()
        received = rows["received_ms"].to_numpy()
        consumption = rows["consumption_l"].to_numpy()
        prior = carry[["since", "last_ts", "raised", "level"]].reindex(meters)
        prior_since = prior["since"].to_numpy()
        prev_ts = np.where(first, prior["last_ts"].to_numpy(dtype="float64"), np.r_[np.nan, ts[:-1]])
        interval_ms = np.nan_to_num(ts - prev_ts, nan=0.0)

        inside, back_ms = _away_marks(meters, ts, away)
        moved_before = carry["moved"].reindex(meters).to_numpy("float64")
        background = self.background_l_per_h_.reindex(meters).fillna(0.0).to_numpy()
        used, moved = self._used(meters, ts, consumption, interval_ms, background, moved_before)
        used |= inside
        since = ffill_within_meters(np.where(used, ts, np.nan), meters)
        since = np.fmax(np.where(np.isnan(since), prior_since, since), back_ms).astype("int64")
        level = self._levels(meters, ts, since)
        level[used] = 0

        # Each run is one (meter, since); it raises at the arrival of its first warned or alarmed
        # row, or kept the raise it had before this step. Its level is the highest it reached.
        runs = pd.DataFrame({"meter_id": meters, "since": since, "received": received, "level": level})
        flagged = runs[level > 0].groupby(["meter_id", "since"], sort=False)
        raised_now, level_now = flagged["received"].first(), flagged["level"].max()
        before = carry.loc[carry["raised"] >= 0].set_index("since", append=True)
        raised_before = before["raised"]
        raised = pd.concat([raised_before, raised_now[~raised_now.index.isin(raised_before.index)]])
        run_level = pd.concat([before["level"], level_now]).groupby(level=[0, 1]).max()

        # A used row ends the run before it (same meter); the end is that row's arrival.
        prev_since = np.where(first, prior_since, np.r_[0, since[:-1]])
        ends = pd.DataFrame({"meter_id": meters, "since": prev_since, "ended": received})[used & ~np.isnan(consumption)]
        ended = ends.set_index(["meter_id", "since"])["ended"]
        closed = raised[raised.index.isin(ended.index)]
        closed_ends = ended.reindex(closed.index)

        tail = pd.DataFrame({"since": since[last]}, index=pd.Index(meters[last]))
        tail["raised"], tail["level"] = _last_run(since, level, received, first, last, prior)
        tail["moved"] = moved[last]
        runs_carry = pd.concat([carry[["since", "raised", "level", "moved"]].drop(tail.index, errors="ignore"), tail])
        new_carry = register_carry.join(runs_carry)[_CARRY_COLUMNS]

        closed_episodes = make_episodes(
            closed.index.get_level_values(0),
            kind=self.kind,
            severity=[_SEVERITY[v] for v in run_level.reindex(closed.index).to_numpy()],
            started_ms=closed.index.get_level_values(1),
            raised_ms=closed.to_numpy(),
            ended_ms=closed_ends.to_numpy(),
        )
        return concat_episodes([closed_episodes, self._ongoing(new_carry)]), new_carry

    def _levels(self, meters: np.ndarray, ts: np.ndarray, since: np.ndarray) -> np.ndarray:
        """0 (nothing), 1 (warning: unusual for this household at this hour) or 2 (alarm: the ceiling)."""
        elapsed_ms = ts - since
        level = np.where(elapsed_ms >= self.ceiling_ms_, 2, 0)
        warning_h = getattr(self, "warning_h_", None)
        if warning_h is not None and not warning_h.empty:
            hour = local_hour(ts, self.timezone)
            limits = warning_h.reindex(meters).to_numpy()[np.arange(len(meters)), hour]
            with np.errstate(invalid="ignore"):
                warned = elapsed_ms >= limits * _HOUR_MS  # NaN (no history) never warns
            level = np.where((level == 0) & warned, 1, level)
        return level

    def refits_on_history(self, steps: pd.DataFrame):
        """Refits of this detector on windows of one history (a backtest's walk-forward), each what
        ``fit`` learns from the window's register steps alone, for a fraction of the work; None when
        ``usual_quantile`` is below 1 (``fit`` on each window then). ``steps``: the history's register
        steps with no carry, in ``sort_readings`` order."""
        from detect.inactivity_refits import InactivityRefits  # it builds on this module

        return InactivityRefits(self, steps) if self.usual_quantile == 1.0 else None

    def _ongoing(self, carry: pd.DataFrame) -> pd.DataFrame:
        open_runs = carry[carry["raised"] >= 0]
        return make_episodes(
            open_runs.index, kind=self.kind, severity=[_SEVERITY[v] for v in open_runs["level"].to_numpy()],
            started_ms=open_runs["since"], raised_ms=open_runs["raised"],
        )


def night_rates(consumption: np.ndarray, interval_ms: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each step's flow (L/h), and whether it tells the night-time flow (01:00-05:00, a short interval)."""
    rate = consumption / np.maximum(interval_ms, 1) * _HOUR_MS
    night = (hour >= 1) & (hour < 5) & (interval_ms > 0) & (interval_ms <= _MAX_RATE_INTERVAL_MS)
    return rate, night


def usual_from_longest(longest: pd.DataFrame) -> pd.DataFrame:
    """The usual silences (meters by 24 hours) from the longest seen at each hour (NaN: none seen)."""
    # An hour with no samples (a gap in the uploads) borrows the larger of its neighbours.
    filled = longest.T.ffill().bfill().T
    return pd.DataFrame(_max_with_neighbours(filled.to_numpy()), index=filled.index, columns=filled.columns)


def _joint_key(a: np.ndarray, b: np.ndarray, span: int | None = None) -> np.ndarray:
    """One int64 per pair (a, b) of integers, a non-negative: equal exactly when both are equal, and
    ordered as the pairs. ``b`` lies in [0, span), or by default is taken from its minimum over its range."""
    if span is not None:
        return a * span + b
    low = int(b.min()) if len(b) else 0
    return a * (int(b.max()) - low + 1 if len(b) else 1) + (b - low)


def _unless_all(mask: np.ndarray) -> np.ndarray | slice:
    """``mask``, or a slice of everything when it keeps every row: indexing with it then copies nothing."""
    return slice(None) if mask.all() else mask


def in_short_runs(meter: np.ndarray, since: np.ndarray, elapsed: np.ndarray, limit: float) -> np.ndarray:
    """Per row, whether its run of rows of equal (meter, since) stays below ``limit`` hours elapsed throughout."""
    if not len(meter):
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, (meter[1:] != meter[:-1]) | (since[1:] != since[:-1])])
    return np.repeat(np.maximum.reduceat(elapsed, starts) < limit, np.diff(np.r_[starts, len(meter)]))


def _distinct_days(meters: np.ndarray, days: np.ndarray, count: int) -> np.ndarray:
    """How many distinct days each of ``count`` meters (integer codes) has; one pass when (meter, day) only grows."""
    key = _joint_key(meters, days)
    if len(key) and (np.diff(key) >= 0).all():
        new = np.r_[True, key[1:] != key[:-1]]
        return np.bincount(meters[new], minlength=count)
    distinct = pd.Series(days).groupby(meters).nunique()
    per_meter = np.zeros(count, dtype="int64")
    per_meter[distinct.index.to_numpy()] = distinct.to_numpy()
    return per_meter


def _max_with_neighbours(values: np.ndarray) -> np.ndarray:
    """Each hour of the day (a column) and the hours before and after it, round the clock: the largest."""
    return np.fmax(np.fmax(values, np.roll(values, 1, axis=1)), np.roll(values, -1, axis=1))


def _away_marks(meters: np.ndarray, ts: np.ndarray, away: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether it falls inside an away window of its meter, and the latest such window's end
    at or before it (NaN: none)."""
    inside = np.zeros(len(ts), dtype=bool)
    back_ms = np.full(len(ts), np.nan)
    if away is None or away.empty:
        return inside, back_ms
    for window in away[away["meter_id"].isin(np.unique(meters))].itertuples(index=False):
        mine = meters == window.meter_id
        inside |= mine & (ts >= window.start_ms) & (ts < window.end_ms)
        after = mine & (ts >= window.end_ms)
        back_ms[after] = np.fmax(back_ms[after], window.end_ms)
    return inside, back_ms


def _last_run(since, level, received, first, last, prior) -> tuple[np.ndarray, np.ndarray]:
    """Per meter, its last run's raise (-1: none) and level, as ``step`` keeps them by (meter, since):
    the carry's raise and level if that run goes on (it had raised), the arrival of its first warned
    or alarmed row in this step, and the highest level of its rows."""
    block = np.cumsum(first) - 1
    tail_since = since[last]
    prior_since = prior["since"].to_numpy("float64")[last]
    prior_raised = prior["raised"].fillna(-1).to_numpy("float64")[last]
    goes_on = (prior_raised >= 0) & (prior_since == tail_since)
    raised = np.where(goes_on, prior_raised, -1).astype("int64")
    run_level = np.where(goes_on, prior["level"].fillna(0).to_numpy("float64")[last], 0).astype("int64")
    flagged = np.flatnonzero((level > 0) & (since == tail_since[block]))
    np.maximum.at(run_level, block[flagged], level[flagged])
    first_flagged = flagged[np.r_[True, block[flagged][1:] != block[flagged][:-1]]] if len(flagged) else flagged
    new = raised[block[first_flagged]] < 0
    raised[block[first_flagged][new]] = received[first_flagged][new]
    return raised, run_level


def _empty_carry() -> pd.DataFrame:
    return register.empty_carry().assign(
        since=pd.Series([], dtype="int64"), raised=pd.Series([], dtype="int64"), level=pd.Series([], dtype="int64"),
        moved=pd.Series([], dtype="float64"),
    )
