"""Unusual pattern: the day's routine drifts from the household's own baseline while water is still used.

A heads-up to the cadre, not an emergency: the first use of the morning much later than usual,
the day's volume collapsing, use at night. Each household's usual day is learned from its recent
history; a day with no use at all, or touched by a silence as long as a trip away, is the
inactivity detector's business and is never judged here, nor is a day with missing data.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest

from detect import register
from detect.episodes import (concat_episodes, ffill_within_meters, make_episodes, meter_index,
                             next_true_within_meters, sort_readings)
from detect.localtime import local_ms

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_NO_EPISODE = -1
_METHODS = ("rule", "elliptic_envelope", "isolation_forest")
FEATURES = ("first_use_h", "daily_l", "night_l", "active_hours")
"""A day's routine: its first use from the end of the night on (local hour), its litres, its
litres at night, and how many clock hours had any use."""
_BAD_NOTES = ("impossible", "reset", "suspect")  # the register cannot say how much was used then
# The smallest spread of each feature (first use in hours, daily litres on a log scale, night
# litres, active hours): a household as regular as clockwork must not be alarmed by a wobble.
_MIN_SPREAD = np.array([0.5, 0.15, 4.0, 1.0])
_WORRYING = np.array([1.0, -1.0, 1.0, -1.0])  # later, fewer litres, more at night, fewer active hours
# Added to the learned covariance (in spreads squared): a feature that never varied in the history
# (a household up at 07:00 sharp) must make a deviation more unusual, not invisible to the model.
_RIDGE = 0.05
_DAY_COLUMNS = ["day", "day_l", "night_l", "active", "first_h", "longest_ms", "clean", "seen_morning", "flagged"]
_WAITING_COLUMNS = ["waiting_day", "waiting_first_h", "waiting_l", "waiting_night_l", "waiting_active",
                    "waiting_flagged"]
_CARRY_COLUMNS = [*register.CARRY_COLUMNS, "last_use_ms", "last_active_hour", *_DAY_COLUMNS, *_WAITING_COLUMNS,
                  "since", "raised"]


class UnusualPatternDetector(BaseEstimator):
    """Flag days whose routine is unusual for this household (severity ``info``).

    ``fit`` learns, per meter, the usual day from the newest ``history_days`` of readings: the
    median and spread (scaled median absolute deviation) of each of :data:`FEATURES`, in local
    time. Only *complete* days count, in history and live alike: readings no more than
    ``max_interval_h`` apart from the day's start to its end, no register anomaly
    (``impossible``, ``reset``, ``suspect`` in ``detect.register``), some use from the end of the
    night on, and no silence of ``max_silence_h`` or more touching the day. So a reporting gap
    never looks like a changed routine, and neither does a day away or a resident who stopped
    using water: no use at all is the inactivity detector's case, not a drift.

    A feature's deviation is the number of spreads it lies beyond the household's median, counted
    in the worrying direction: a later first use, fewer litres, more litres at night, fewer active
    hours. ``method`` turns the deviations into a verdict. ``"rule"`` calls a day unusual when the
    deviation of any of ``rule_features`` exceeds ``z_threshold``. The learned methods fit one
    scikit-learn model on the deviations (both directions) of every household's history days,
    pooled, so that a household with a month of history still has a model:
    ``"elliptic_envelope"`` (a robust covariance: days that deviate together, such as a day out
    with fewer litres *and* fewer active hours, are less unusual than either alone) and
    ``"isolation_forest"``. They call a day unusual when it scores beyond all but
    ``unusual_share`` of the history days and, so that an early or busy day is never a worry,
    some of ``rule_features`` deviates by at least ``gate_z`` in the worrying direction.
    ``python -m bench.pattern`` compares them: the rule finds more drifts for fewer false alerts,
    so it is the default.

    A day is judged as soon as the evidence exists, each time with what is known so far (a
    feature not yet known counts as usual): when the night is over (the first reading after
    ``night_end_h``: night use), at the first use of the morning (a late morning), and once the
    day is over and the silence running at midnight has ended (volume, active hours, the whole
    day). The first unusual verdict raises an episode, at the arrival of the reading that
    completed its evidence; the episode starts at the local midnight of its first unusual day,
    carries over the days that follow while they are unusual or cannot be judged, and ends at
    the arrival of the reading that shows a whole day judged usual again. A meter with fewer
    than ``min_history_days`` complete days in its history is not judged.

    Parameters
    ----------
    method : {"rule", "elliptic_envelope", "isolation_forest"}, default="rule"
        How deviations become a verdict (see above).
    z_threshold : float, default=4.0
        ``"rule"``: how many spreads beyond the household's median make a feature unusual.
    rule_features : tuple of str, default=("first_use_h", "daily_l", "night_l")
        The features the rule (and the learned methods' gate) looks at, among :data:`FEATURES`.
        Active hours are left out by default: a day out has few of them, and such days are common.
    unusual_share : float, default=0.01
        Learned methods: the share of the history's days the model would call unusual.
    gate_z : float, default=1.5
        Learned methods: the deviation one of ``rule_features`` needs for a day to be unusual.
    n_estimators : int, default=100
        ``"isolation_forest"``: the number of trees.
    history_days : float, default=28.0
        How much of the history ``fit`` learns from (the newest days).
    min_history_days : int, default=7
        A meter with fewer complete days in its history is not judged.
    night_start_h, night_end_h : float, default=0.0, 5.0
        The night, in local hours (0 <= start < end <= 24). Use in it is night use; the first use
        of the morning is the first one from ``night_end_h`` on.
    max_silence_h : float, default=18.0
        A day touched by a silence at least this long is not judged: longer than a late morning
        after an early night, shorter than a day away or a still resident's silence.
    max_interval_h : float, default=2.0
        Readings further apart than this are a reporting gap: the days they span are not judged.
    min_use_l : float, default=0.0
        Consumption of at most this many litres between two readings is not use.
    learn : bool, default=True
        Learn the households' usual days in ``fit``. False learns nothing: no day is judged.
    timezone : str, default="Asia/Shanghai"
        The households' clock (an IANA name).
    max_flow_l_per_h : float, default=3125.0
        The largest plausible flow (``detect.register.MAX_FLOW_L_PER_H``); a faster step is not use.
    random_state : int, default=0
        Seed of the learned models.

    Examples
    --------
    Four weeks of a routine (up at 07:00, 3 L every waking hour until 22:00), then a morning
    that starts at 11:00. Learned from the four weeks, the late morning is raised when the reading
    that shows the first use arrives, at 11:00 on day 28; the episode starts at that day's midnight.

    >>> import numpy as np, pandas as pd
    >>> h, t0 = 3_600_000, 1_699_977_600_000  # t0: a midnight in Asia/Shanghai
    >>> hours = np.arange(29 * 24 + 1)
    >>> late = (hours >= 28 * 24 + 7) & (hours < 28 * 24 + 11)
    >>> use = np.where((hours % 24 >= 7) & (hours % 24 < 22) & ~late, 3.0, 0.0)
    >>> ts = t0 + hours * h
    >>> readings = pd.DataFrame({"meter_id": "m1", "ts_ms": ts, "total_l": 1000 + np.cumsum(use), "received_ms": ts})
    >>> detector = UnusualPatternDetector().fit(readings[ts < t0 + 28 * 24 * h])
    >>> episodes, carry = detector.step(readings, None, until_ms=int(ts[-1]))
    >>> [((e.started_ms - t0) / (24 * h), (e.raised_ms - e.started_ms) / h) for e in episodes.itertuples()]
    [(28.0, 11.0)]
    """

    kind: ClassVar[str] = "unusual_pattern"

    learns_from_history: ClassVar[bool] = True

    learns_from_newest_days: ClassVar[bool] = True
    """``fit`` looks only at the readings within ``history_days`` of the newest one it is given."""

    @property
    def learns_across_meters(self) -> bool:
        """The learned methods fit one model to every household's days; the rule judges each on its own."""
        return self.method != "rule"

    def __init__(
        self,
        method: str = "rule",
        z_threshold: float = 4.0,
        rule_features: tuple[str, ...] = ("first_use_h", "daily_l", "night_l"),
        unusual_share: float = 0.01,
        gate_z: float = 1.5,
        n_estimators: int = 100,
        history_days: float = 28.0,
        min_history_days: int = 7,
        night_start_h: float = 0.0,
        night_end_h: float = 5.0,
        max_silence_h: float = 18.0,
        max_interval_h: float = 2.0,
        min_use_l: float = 0.0,
        learn: bool = True,
        timezone: str = "Asia/Shanghai",
        max_flow_l_per_h: float = register.MAX_FLOW_L_PER_H,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.z_threshold = z_threshold
        self.rule_features = rule_features
        self.unusual_share = unusual_share
        self.gate_z = gate_z
        self.n_estimators = n_estimators
        self.history_days = history_days
        self.min_history_days = min_history_days
        self.night_start_h = night_start_h
        self.night_end_h = night_end_h
        self.max_silence_h = max_silence_h
        self.max_interval_h = max_interval_h
        self.min_use_l = min_use_l
        self.learn = learn
        self.timezone = timezone
        self.max_flow_l_per_h = max_flow_l_per_h
        self.random_state = random_state

    def fit(self, readings: pd.DataFrame | None = None, y=None, *, steps: pd.DataFrame | None = None,
            days: pd.DataFrame | None = None) -> UnusualPatternDetector:
        """Check the parameters and learn, per meter, its usual day; without readings nothing is judged.

        ``steps``, if given, are the register steps of ``readings`` already computed, exactly as
        ``register.consumption_steps(readings, None)`` gives them, with ``readings`` all within
        ``history_days`` of the newest (a backtest computes them once for all its refits).
        ``days``, if given, are the whole days judged in them (meter_id and :data:`FEATURES`, in
        order), exactly as ``fit`` would judge them: a backtest takes each refit's from
        :meth:`judge_history`, which judges every day of the history once.
        """
        self._check_params()
        self.tz_ = ZoneInfo(self.timezone)
        self.night_start_ms_ = int(self.night_start_h * _HOUR_MS)
        self.night_end_ms_ = int(self.night_end_h * _HOUR_MS)
        self.max_silence_ms_ = int(self.max_silence_h * _HOUR_MS)
        self.max_interval_ms_ = int(self.max_interval_h * _HOUR_MS)
        self.median_ = pd.DataFrame(columns=list(FEATURES), dtype="float64")
        self.spread_ = pd.DataFrame(columns=list(FEATURES), dtype="float64")
        self.rule_columns_ = np.array([FEATURES.index(name) for name in self.rule_features])
        self.model_ = None
        if self.learn and readings is not None and len(readings):
            self._learn(readings, steps, days)
        return self

    def judge_history(self, steps: pd.DataFrame) -> JudgedHistory:
        """The whole days of a history's register steps judged once, from which :meth:`fit` on any
        window of the history takes the days it learns from (``fit(..., days=judged.window(...))``)."""
        return JudgedHistory(self, steps)

    def _check_params(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        for name in ("z_threshold", "history_days", "max_silence_h", "max_interval_h", "max_flow_l_per_h"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        unknown = [name for name in np.atleast_1d(self.rule_features) if name not in FEATURES]
        if unknown or not len(self.rule_features):
            raise ValueError(f"rule_features must be some of {FEATURES}, got {self.rule_features!r}")
        if not self.gate_z >= 0:
            raise ValueError(f"gate_z must be zero or more, got {self.gate_z!r}")
        if not 0 < self.unusual_share < 0.5:
            raise ValueError(f"unusual_share must be between 0 and 0.5, got {self.unusual_share!r}")
        if not (isinstance(self.n_estimators, int) and self.n_estimators >= 1):
            raise ValueError(f"n_estimators must be a positive whole number, got {self.n_estimators!r}")
        if not (isinstance(self.min_history_days, int) and self.min_history_days >= 1):
            raise ValueError(f"min_history_days must be a positive whole number, got {self.min_history_days!r}")
        if not self.min_use_l >= 0:
            raise ValueError(f"min_use_l must be zero or more, got {self.min_use_l!r}")
        if not 0 <= self.night_start_h < self.night_end_h <= 24:
            raise ValueError(f"the night must lie within one day, 0 <= night_start_h < night_end_h <= 24; "
                             f"got {self.night_start_h!r} to {self.night_end_h!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}; use an IANA name such as 'Asia/Shanghai'") from exc

    def _learn(self, readings: pd.DataFrame, steps: pd.DataFrame | None, days: pd.DataFrame | None) -> None:
        if days is None:
            if steps is None:
                newest = int(readings["ts_ms"].max())
                recent = sort_readings(readings[readings["ts_ms"] >= newest - int(self.history_days * _DAY_MS)])
                steps, _ = register.consumption_steps(recent, None, max_flow_l_per_h=self.max_flow_l_per_h)
            carry = _no_carry().copy()
            days = self._whole_days(self._rows(steps, carry), carry)
        features = days.set_index("meter_id")[list(FEATURES)]
        counts = features.groupby(level=0).size()
        features = features[features.index.isin(counts[counts >= self.min_history_days].index)]
        if features.empty:
            return
        scaled = features.assign(daily_l=np.log1p(features["daily_l"]))
        self.median_ = scaled.groupby(level=0).median()
        mad = (scaled - self.median_.reindex(scaled.index)).abs().groupby(level=0).median()
        self.spread_ = np.maximum(1.4826 * mad, _MIN_SPREAD)
        if self.method != "rule":
            deviations = self._deviations(features.index.to_numpy(), features.to_numpy())
            if self.method == "elliptic_envelope":
                self.model_ = EllipticEnvelope(random_state=self.random_state)
            else:
                self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
            with warnings.catch_warnings():  # a household that never uses water at night has no spread there
                warnings.simplefilter("ignore", UserWarning)
                self.model_.fit(deviations)
            if self.method == "elliptic_envelope":
                self.precision_ = np.linalg.inv(self.model_.covariance_ + _RIDGE * np.eye(len(FEATURES)))
            self.model_threshold_ = float(np.quantile(self._model_score(deviations), 1 - self.unusual_share))

    def _whole_days(self, rows: dict, carry: pd.DataFrame) -> pd.DataFrame:
        """The whole days judged in ``rows`` of steps with no carry (the days ``fit`` learns from), with
        the row that completed each (``completed_by``) and the row that settled it (``row``)."""
        days, _ = self._completed_days(rows, carry)
        return self._resolve(rows, days.assign(flagged=False), carry)[0]

    def _ends_silence(self, rows: dict) -> np.ndarray:
        """Rows that end the silence running before them: use, a register fault, or proof it was long."""
        return rows["used"] | rows["bad"] | (rows["silence_ms"] >= self.max_silence_ms_)

    def _deviations(self, meters: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Spreads beyond the household's median, positive in the worrying direction; unknown counts as usual."""
        scaled = features.copy()
        scaled[:, 1] = np.log1p(scaled[:, 1])
        deviation = (scaled - self.median_.reindex(meters).to_numpy()) / self.spread_.reindex(meters).to_numpy()
        return np.nan_to_num(deviation * _WORRYING, nan=0.0)

    def _model_score(self, deviations: np.ndarray) -> np.ndarray:
        """How unusual the learned model finds each day (higher: more)."""
        if self.method == "elliptic_envelope":
            centred = deviations - self.model_.location_
            return np.einsum("ij,jk,ik->i", centred, self.precision_, centred)
        return -self.model_.score_samples(deviations)

    def _unusual(self, meters: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Whether each day (partly known: NaN features) is unusual for its household."""
        if len(meters) == 0:
            return np.zeros(0, dtype=bool)
        deviations = self._deviations(meters, features)
        worst = deviations[:, self.rule_columns_].max(axis=1)
        if self.method == "rule":
            return worst > self.z_threshold
        return (worst >= self.gate_z) & (self._model_score(deviations) > self.model_threshold_)

    def step(
        self, readings: pd.DataFrame, carry: pd.DataFrame | None, *, until_ms: int,
        steps: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Consume readings that arrived since the last step; see InactivityDetector.step (and its ``steps``)."""
        carry = _empty_carry() if carry is None else carry
        if steps is None:
            steps = register.consumption_steps(readings, carry, max_flow_l_per_h=self.max_flow_l_per_h)
        steps, register_carry = steps
        rows = self._rows(steps, carry)
        if rows["meter_id"].size == 0:
            return self._ongoing(carry), carry

        partial = self._partial_checkpoints(rows)
        known = partial["meter_id"].isin(self.median_.index).to_numpy()
        partial = partial[known].assign(unusual=self._unusual(partial["meter_id"].to_numpy()[known],
                                                               partial[list(FEATURES)].to_numpy()[known]))
        flagged = partial[partial["unusual"]]
        flagged_days = pd.MultiIndex.from_arrays([flagged["meter_id"], flagged["day"].astype("float64")])
        days, today = self._completed_days(rows, carry)
        days["flagged"] |= _isin(days["meter_id"], days["day"], flagged_days)
        today["flagged"] |= _isin(today.index, today["day"], flagged_days)
        full, pending = self._resolve(rows, days, carry)
        full = full[full["meter_id"].isin(self.median_.index)]
        verdict = self._unusual(full["meter_id"].to_numpy(), full[list(FEATURES)].to_numpy())
        full = full.assign(unusual=verdict | full["flagged"].to_numpy(dtype=bool))

        events = pd.concat([full.assign(order=0), partial[partial["unusual"]]], ignore_index=True)
        closed, episodes = self._episodes(events, rows, carry)
        state = today.join(pending).join(rows["meter_state"]).join(episodes)
        new_carry = register_carry.join(pd.concat([carry.drop(columns=register.CARRY_COLUMNS)
                                                   .drop(state.index, errors="ignore"), state]))[_CARRY_COLUMNS]
        new_carry = new_carry.astype({"since": "int64", "raised": "int64"})
        return concat_episodes([closed, self._ongoing(new_carry)]), new_carry

    def _rows(self, steps: pd.DataFrame, carry: pd.DataFrame) -> dict:
        """The fresh readings as arrays, with what each tells: use, gaps, local time, the silence it ends."""
        steps = steps[steps["note"].to_numpy() != "stale"].reset_index(drop=True)
        meters = steps["meter_id"].to_numpy()
        first = np.r_[True, meters[1:] != meters[:-1]] if len(meters) else np.zeros(0, dtype=bool)
        block = np.cumsum(first) - 1
        prior = carry.reindex(meter_index(meters[first]))
        ts = steps["ts_ms"].to_numpy("int64")
        litres = steps["consumption_l"].to_numpy("float64")
        prev_ts = np.where(first, prior["last_ts"].to_numpy("float64")[block], np.r_[np.nan, ts[:-1]])
        bad = np.isnan(litres) | ~(ts - prev_ts <= self.max_interval_ms_) | steps["note"].isin(_BAD_NOTES).to_numpy()
        used = litres > self.min_use_l
        local = local_ms(ts - 1, self.tz_)  # a reading tells about the interval that ends at it
        day = local // _DAY_MS
        time_of_day = local - day * _DAY_MS
        last_use = _ffill_from(np.where(used, ts, np.nan), block, first, prior["last_use_ms"].to_numpy("float64"))
        active_hour = local // _HOUR_MS
        last_hour = _ffill_from(np.where(used, active_hour, np.nan), block, first,
                                prior["last_active_hour"].to_numpy("float64"))
        meter_state = pd.DataFrame({"last_use_ms": last_use[1][np.r_[first[1:], True]],
                                    "last_active_hour": last_hour[1][np.r_[first[1:], True]]},
                                   index=meter_index(meters[first])) if len(meters) else None
        return {
            "meter_id": meters, "first": first, "block": block, "prior": prior, "ts": ts,
            "received": steps["received_ms"].to_numpy("int64"), "litres": np.nan_to_num(litres), "bad": bad,
            "used": used, "day": day, "time_of_day": time_of_day,
            "night": (time_of_day >= self.night_start_ms_) & (time_of_day < self.night_end_ms_),
            "morning": time_of_day >= self.night_end_ms_,
            "silence_ms": ts - last_use[0], "new_hour": used & (active_hour != last_hour[0]),
            "meter_state": meter_state,
        }

    def _groups(self, rows: dict) -> dict:
        """The rows cut into (meter, local day) runs, each with what the carry adds when it continues its day."""
        day, first, block = rows["day"], rows["first"], rows["block"]
        new = first | (day != np.r_[np.nan, day[:-1]])
        start = np.flatnonzero(new)
        gid = np.cumsum(new) - 1
        prior = rows["prior"]
        continues = first[start] & (prior["day"].to_numpy("float64")[block[start]] == day[start])

        def carried(column, default):
            values = prior[column].to_numpy("float64")[block[start]]
            return np.where(continues, np.nan_to_num(values, nan=default), default)

        return {"start": start, "gid": gid, "continues": continues,
                "day_l": carried("day_l", 0.0), "night_l": carried("night_l", 0.0),
                "active": carried("active", 0.0), "first_h": carried("first_h", np.nan),
                "longest_ms": carried("longest_ms", 0.0), "clean": carried("clean", 1.0).astype(bool),
                "seen_morning": carried("seen_morning", 0.0).astype(bool),
                "flagged": carried("flagged", 0.0).astype(bool)}

    def _partial_checkpoints(self, rows: dict) -> pd.DataFrame:
        """The day's verdicts before it is over: when the night ends (night use), at the first morning use."""
        g = self._groups(rows)
        gid = g["gid"]
        clean_so_far = g["clean"][gid] & (_group_cumsum(rows["bad"], gid, g["start"]) == 0)
        night_l = g["night_l"][gid] + _group_cumsum(rows["litres"] * rows["night"], gid, g["start"])
        morning = rows["morning"]
        night_over = morning & (_group_cumsum(morning, gid, g["start"]) == 1) & ~g["seen_morning"][gid]
        morning_use = morning & rows["used"]
        first_use = morning_use & (_group_cumsum(morning_use, gid, g["start"]) == 1) & np.isnan(g["first_h"][gid])
        first_use &= rows["silence_ms"] < self.max_silence_ms_
        nan = np.full(len(gid), np.nan)
        first_h = rows["time_of_day"] / _HOUR_MS
        frames = []
        for order, at, first_h_known in ((1, night_over, nan), (2, first_use, first_h)):
            at = np.flatnonzero(at & clean_so_far)
            frames.append(pd.DataFrame({
                "meter_id": rows["meter_id"][at], "row": at, "order": order, "day": rows["day"][at],
                "first_use_h": first_h_known[at], "daily_l": nan[at], "night_l": night_l[at], "active_hours": nan[at],
            }))
        return pd.concat(frames, ignore_index=True)

    def _completed_days(self, rows: dict, carry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The days a reading of a later day completed (with that reading), and each meter's day under way."""
        g = self._groups(rows)
        start, gid = g["start"], g["gid"]
        litres, used = rows["litres"], rows["used"]
        total = {
            "day_l": g["day_l"] + np.add.reduceat(litres, start),
            "night_l": g["night_l"] + np.add.reduceat(litres * rows["night"], start),
            "active": g["active"] + np.add.reduceat(rows["new_hour"], start),
            "longest_ms": np.fmax(g["longest_ms"], np.fmax.reduceat(np.where(used, rows["silence_ms"], 0.0), start)),
            "clean": g["clean"] & (np.add.reduceat(rows["bad"], start) == 0),
            "seen_morning": g["seen_morning"] | (np.add.reduceat(rows["morning"], start) > 0),
        }
        morning_use = np.flatnonzero(rows["morning"] & used)
        first_h = pd.Series(rows["time_of_day"][morning_use] / _HOUR_MS).groupby(gid[morning_use]).first()
        total["first_h"] = np.where(np.isnan(g["first_h"]), first_h.reindex(range(len(start))).to_numpy(), g["first_h"])
        groups = pd.DataFrame({"meter_id": rows["meter_id"][start], "day": rows["day"][start], **total,
                               "flagged": g["flagged"]})
        last_of_meter = np.r_[rows["first"][start[1:]], True]
        today = groups[last_of_meter].set_index("meter_id")[_DAY_COLUMNS]

        # A day is complete at the first reading of a later day: the next run's first row.
        done = groups[~last_of_meter].assign(completed_by=start[1:][~last_of_meter[:-1]])
        prior = rows["prior"]
        from_carry = rows["first"][start] & ~g["continues"] & prior["day"].notna().to_numpy()[rows["block"][start]]
        carried = prior.iloc[rows["block"][start[from_carry]]]
        carried_days = carried[_DAY_COLUMNS].assign(meter_id=carried.index.to_numpy(),
                                                    completed_by=start[from_carry])
        days = pd.concat([carried_days.reset_index(drop=True), done], ignore_index=True)
        days = days.astype({"clean": bool, "flagged": bool})
        return days, today

    def _resolve(self, rows: dict, days: pd.DataFrame, carry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Whole-day verdicts: at the reading that ends the silence running at the day's end (or proves it long).

        Returns the days judged (with the row that judged them) and each meter's day still waiting.
        """
        bad, silence = rows["bad"], rows["silence_ms"]
        next_end = next_true_within_meters(self._ends_silence(rows), rows["block"])
        judgeable = (days["clean"].to_numpy(dtype=bool) & (days["day_l"].to_numpy() > 0)
                     & (days["longest_ms"].to_numpy() < self.max_silence_ms_) & days["first_h"].notna().to_numpy())
        days = days[judgeable]
        prior = rows["prior"]
        waiting = prior[prior["waiting_day"].notna()]
        waiting_rows = np.flatnonzero(rows["first"])[np.flatnonzero(prior["waiting_day"].notna().to_numpy())]
        candidates = pd.concat([
            pd.DataFrame({"meter_id": waiting.index.to_numpy(), "day": waiting["waiting_day"].to_numpy(),
                          "first_h": waiting["waiting_first_h"].to_numpy(), "day_l": waiting["waiting_l"].to_numpy(),
                          "night_l": waiting["waiting_night_l"].to_numpy(),
                          "active": waiting["waiting_active"].to_numpy(),
                          "flagged": waiting["waiting_flagged"].to_numpy(dtype=bool), "completed_by": waiting_rows}),
            days[["meter_id", "day", "first_h", "day_l", "night_l", "active", "flagged", "completed_by"]],
        ], ignore_index=True).rename(columns={"first_h": "first_use_h", "day_l": "daily_l", "active": "active_hours"})
        at = next_end[candidates["completed_by"].to_numpy("int64")]
        found = at >= 0
        settled = candidates[found].assign(row=at[found])
        ok = ~bad[settled["row"].to_numpy()] & (silence[settled["row"].to_numpy()] < self.max_silence_ms_)
        judged = settled[ok].reset_index(drop=True)

        # Each meter's last day still waiting (a hash of the ids, not a groupby: the same rows, in the same order).
        still = candidates[~found].drop_duplicates("meter_id", keep="last").set_index("meter_id")
        pending = pd.DataFrame({"waiting_day": still["day"], "waiting_first_h": still["first_use_h"],
                                "waiting_l": still["daily_l"], "waiting_night_l": still["night_l"],
                                "waiting_active": still["active_hours"], "waiting_flagged": still["flagged"]},
                               index=still.index)
        # A meter seen in this step whose waiting day was settled (or dropped) waits for nothing now.
        pending = pending.reindex(meter_index(rows["meter_id"][rows["first"]]))
        return judged, pending

    def _episodes(self, events: pd.DataFrame, rows: dict, carry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Episodes closed in this step, and each meter's open episode (since, raised) to carry.

        An unusual verdict opens an episode unless one is open; a whole day judged usual closes it.
        """
        seen = meter_index(rows["meter_id"][rows["first"]])
        prior = carry[["since", "raised"]].reindex(seen).fillna(_NO_EPISODE).astype("int64")
        if events.empty:
            return make_episodes([], kind=self.kind, severity="info", started_ms=[], raised_ms=[]), prior
        events = events.sort_values(["meter_id", "row", "order"], kind="stable", ignore_index=True)
        events["received"] = rows["received"][events["row"].to_numpy("int64")]
        closer = (events["order"].to_numpy() == 0) & ~events["unusual"].to_numpy(dtype=bool)
        events["segment"] = pd.Series(closer).groupby(events["meter_id"].to_numpy()).cumsum().to_numpy() - closer
        openers = events[events["unusual"].to_numpy(dtype=bool)].groupby(["meter_id", "segment"]).first()
        opened = pd.DataFrame({"since": _local_midnight_ms(openers["day"].to_numpy("int64"), self.tz_),
                               "raised": openers["received"].to_numpy("int64")}, index=openers.index)
        carried = prior[prior["raised"] >= 0].set_index(np.zeros(int((prior["raised"] >= 0).sum()), "int64"),
                                                        append=True)
        carried.index.names = ["meter_id", "segment"]
        opened = pd.concat([carried, opened[~opened.index.isin(carried.index)]])
        closes = events[closer].set_index(["meter_id", "segment"])["received"]
        closed = opened[opened.index.isin(closes.index)]
        closed_episodes = make_episodes(
            closed.index.get_level_values(0), kind=self.kind, severity="info", started_ms=closed["since"],
            raised_ms=closed["raised"], ended_ms=closes.reindex(closed.index).to_numpy(),
        )
        # After a meter's last close its episode, if any, is the one opened in its last segment.
        open_now = prior.copy()
        segments = pd.Series(closer).groupby(events["meter_id"].to_numpy()).sum().astype("int64")
        for_meter = opened.reindex(pd.MultiIndex.from_arrays([segments.index, segments.to_numpy()]))
        open_now.loc[segments.index, "since"] = for_meter["since"].fillna(_NO_EPISODE).astype("int64").to_numpy()
        open_now.loc[segments.index, "raised"] = for_meter["raised"].fillna(_NO_EPISODE).astype("int64").to_numpy()
        return closed_episodes, open_now

    def _ongoing(self, carry: pd.DataFrame) -> pd.DataFrame:
        open_episodes = carry[carry["raised"] >= 0]
        return make_episodes(open_episodes.index, kind=self.kind, severity="info",
                             started_ms=open_episodes["since"], raised_ms=open_episodes["raised"])


class JudgedHistory:
    """Every whole day of a history judged once, for refits on windows of it (a backtest's walk-forward).

    ``fit`` on a window of the history (the register steps, on their own, of some of its rows)
    judges a meter's days as a fit on the whole history does, but at the window's edges. The
    window's first reading of a meter has no step, so its day is never judged; until the meter's
    first use in the window, the silence under way is unknown; and a day is judged only once the
    reading that settles it is in the window. So the window's days are the history's days of the
    meter that begin after that first use and are settled within the window, after the day of the
    first use, judged again on the window's own steps up to the reading that settles it. A meter
    whose window is not a plain run of the history's steps (a stale reading, a late one, a step
    judged otherwise on its own) is judged again on all of its window.
    """

    def __init__(self, detector: UnusualPatternDetector, steps: pd.DataFrame, *, chunk_rows: int = 1_000_000):
        """``steps``: the register steps of a non-empty history with no carry, in ``sort_readings`` order."""
        self.detector = clone(detector).fit()
        fresh = steps["note"].to_numpy() != "stale"
        self.consumption = steps["consumption_l"].to_numpy("float64")
        self.note = steps["note"].to_numpy(dtype=object)
        self.position = np.cumsum(fresh) - 1  # each row's position among the history's fresh rows
        self.stale_before = np.r_[0, np.cumsum(~fresh)]
        steps = steps[fresh].reset_index(drop=True)
        meters = steps["meter_id"].to_numpy()
        new_meter = np.r_[True, meters[1:] != meters[:-1]] if len(meters) else np.zeros(0, dtype=bool)
        self.block = np.cumsum(new_meter) - 1
        # Meters are judged apart from each other: in chunks of whole meters, to bound one pass's memory.
        meter_starts = np.flatnonzero(new_meter)
        at = np.searchsorted(meter_starts, np.arange(0, len(meters), chunk_rows))
        cuts = np.unique(np.r_[meter_starts, len(meters)][np.r_[at, len(meter_starts)]])
        days, marks = [], []
        for begin, end in zip(cuts[:-1], cuts[1:]):
            chunk_days, chunk_marks = self._judge(steps.iloc[begin:end], int(begin))
            days.append(chunk_days)
            marks.append(chunk_marks)
        for name in ("next_use", "run_start", "next_run", "next_end"):
            setattr(self, name, np.concatenate([m[name] for m in marks]) if marks else np.zeros(0, dtype="int64"))
        days = pd.concat(days, ignore_index=True)
        self.days = days[["meter_id", *FEATURES]]
        settled = days["row"].to_numpy("int64")
        self.day_block = self.block[settled]
        self.day_start = self.run_start[days["completed_by"].to_numpy("int64") - 1]
        self.day_settled = settled

    def _judge(self, steps: pd.DataFrame, offset: int) -> tuple[pd.DataFrame, dict]:
        """The whole days of some meters' fresh steps (the history's fresh rows from ``offset`` on), and
        per row: the next use, the start of its day, the start of the next and the next end of a
        silence, at or after it within its meter (positions among the fresh rows; -1: none)."""
        carry = _no_carry().copy()
        rows = self.detector._rows(steps, carry)
        days = self.detector._whole_days(rows, carry)
        days[["completed_by", "row"]] += offset
        block = rows["block"]
        g = self.detector._groups(rows)
        following = np.r_[g["start"][1:], -1][g["gid"]]
        following = np.where((following >= 0) & (block[np.maximum(following, 0)] == block), following, -1)

        def at(found):
            return np.where(found >= 0, found + offset, -1)

        return days, {"next_use": at(next_true_within_meters(rows["used"], block)), "run_start": g["start"][g["gid"]] + offset,
                      "next_run": at(following), "next_end": at(next_true_within_meters(self.detector._ends_silence(rows), block))}

    def window(self, steps: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
        """The whole days ``fit`` judges in ``steps``: the register steps, on their own (no carry), of
        the history's readings at ``rows`` (positions in the history's steps, in ``sort_readings`` order)."""
        if steps.empty:
            return self.days.iloc[:0]
        meters = steps["meter_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
        ends = np.r_[starts[1:], len(meters)]
        plain = self._plain(steps, rows, starts, ends)
        a, b = self.position[rows[starts]], self.position[rows[ends - 1]] + 1  # fresh rows [a, b) of each meter
        # The meter's first use in the window, the day that follows the day of it, and what settles that day.
        use = np.where(a + 1 < b, self.next_use[np.minimum(a + 1, len(self.next_use) - 1)], -1)
        use = np.where(plain & (use >= 0) & (use < b), use, -1)
        has_use = use >= 0
        next_day = np.where(has_use, self.next_run[np.maximum(use, 0)], -1)
        next_day = np.where((next_day >= 0) & (next_day < b), next_day, -1)
        settles = np.where(next_day >= 0, self.next_end[np.maximum(next_day, 0)], -1)
        # The day of the first use is judged again (unless it is the window's first day, never judged):
        # on the window's steps up to the reading that settles it, or all of them if it is not settled.
        again = has_use & (next_day >= 0) & (self.run_start[np.maximum(use, 0)] > a)
        upto = np.where(~plain, ends - starts, np.where(again, np.where((settles >= 0) & (settles < b), settles + 1,
                                                                        b) - a, 0))
        lengths = ends - starts
        redo = np.flatnonzero(np.arange(len(meters)) - np.repeat(starts, lengths) < np.repeat(upto, lengths))
        judged = self._judge_alone(steps.take(redo))
        window_rows = redo[judged["completed_by"].to_numpy("int64")]  # the reading that completed each day
        slot = np.searchsorted(starts, window_rows, side="right") - 1
        own_day = ~plain[slot] | (window_rows <= starts[slot] + (next_day[slot] - a[slot]))
        redone = judged.loc[own_day, ["meter_id", *FEATURES]]
        # The history's days of each plain meter after its first use, settled in the window.
        meter_of_block = np.full(int(self.block[-1]) + 1, -1)
        meter_of_block[self.block[a[has_use]]] = np.flatnonzero(has_use)
        k = meter_of_block[self.day_block]
        kept = np.flatnonzero((k >= 0) & (self.day_start > use[np.maximum(k, 0)])
                              & (self.day_settled < b[np.maximum(k, 0)]))
        days = pd.concat([redone, self.days.iloc[kept]], ignore_index=True)
        order = np.argsort(np.r_[slot[own_day], k[kept]], kind="stable")
        return days.take(order).reset_index(drop=True)

    def _judge_alone(self, steps: pd.DataFrame) -> pd.DataFrame:
        """The whole days ``fit`` judges in these steps."""
        if steps.empty:
            return self.days.iloc[:0].assign(completed_by=np.zeros(0, dtype="int64"))
        carry = _no_carry().copy()
        return self.detector._whole_days(self.detector._rows(steps, carry), carry)

    def _plain(self, steps: pd.DataFrame, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Per meter: its window is a run of the history's fresh rows whose steps, but the first (no
        step, the baseline), are the history's."""
        contiguous = rows[ends - 1] - rows[starts] == ends - 1 - starts
        no_stale = self.stale_before[rows[ends - 1] + 1] == self.stale_before[rows[starts]]
        consumption = steps["consumption_l"].to_numpy("float64")
        history = self.consumption[rows]
        same = (consumption == history) | (np.isnan(consumption) & np.isnan(history))
        same &= steps["note"].to_numpy(dtype=object) == self.note[rows]
        same[starts] = np.isnan(consumption[starts])
        return contiguous & no_stale & (np.add.reduceat(~same, starts) == 0)


def _isin(meters, days, keys: pd.MultiIndex) -> np.ndarray:
    """Which (meter, day) pairs are among ``keys`` (a few: pairs are built only for the meters among them)."""
    found = np.zeros(len(meters), dtype=bool)
    candidates = np.flatnonzero(pd.Index(meters).isin(keys.get_level_values(0)))
    if len(candidates):
        pairs = pd.MultiIndex.from_arrays([np.asarray(meters)[candidates],
                                           np.asarray(days, dtype="float64")[candidates]])
        found[candidates] = pairs.isin(keys)
    return found


def _ffill_from(values: np.ndarray, block: np.ndarray, first: np.ndarray, prior: np.ndarray):
    """Per row, the last non-NaN value before it and up to it, within its meter; ``prior`` per meter before the step."""
    after = ffill_within_meters(values, block)
    after = np.where(np.isnan(after), prior[block], after)
    before = np.where(first, prior[block], np.r_[np.nan, after[:-1]])
    return before, after


def _group_cumsum(values: np.ndarray, gid: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each contiguous run (``gid``, runs starting at ``start``)."""
    total = np.cumsum(values, dtype="float64")
    return total - (total[start] - values[start])[gid]


def _local_midnight_ms(day: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Epoch ms of the local midnight starting each local day number."""
    wall = pd.DatetimeIndex(pd.to_datetime(np.asarray(day, dtype="int64") * _DAY_MS, unit="ms"))
    local = wall.tz_localize(tz, ambiguous=np.zeros(len(wall), dtype=bool), nonexistent="shift_forward")
    return local.as_unit("ms").asi8


@cache
def _no_carry() -> pd.DataFrame:
    """The empty carry, built once: building it takes longer than a refit's other bookkeeping."""
    return _empty_carry()


def _empty_carry() -> pd.DataFrame:
    extra = {column: pd.Series([], dtype="float64") for column in _CARRY_COLUMNS[len(register.CARRY_COLUMNS):]}
    extra |= {column: pd.Series([], dtype="bool") for column in ("clean", "seen_morning", "flagged", "waiting_flagged")}
    extra |= {"since": pd.Series([], dtype="int64"), "raised": pd.Series([], dtype="int64")}
    return register.empty_carry().assign(**extra)[_CARRY_COLUMNS]
