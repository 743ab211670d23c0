"""Inactivity: the meter keeps reporting but nobody has used water for too long (goes to the cadre).

Silence is proven by the register itself: a cumulative total that has not moved between two
readings means no water was used in between, however many readings went missing. What counts as
movement on a messy register (glitches, resets, rollovers, unit mix-ups) is decided by
``detect.register``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect import register
from detect.episodes import concat_episodes, make_episodes

_HOUR_MS = 3_600_000
_CARRY_COLUMNS = [*register.CARRY_COLUMNS, "since", "raised"]


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

    def __init__(
        self, ceiling_h: float = 12.0, min_use_l: float = 0.0, max_flow_l_per_h: float = register.MAX_FLOW_L_PER_H
    ) -> None:
        self.ceiling_h = ceiling_h
        self.min_use_l = min_use_l
        self.max_flow_l_per_h = max_flow_l_per_h

    def fit(self, readings: pd.DataFrame | None = None, y=None) -> InactivityDetector:
        """Check the parameters; the fixed rule learns nothing from ``readings``."""
        if not self.ceiling_h > 0:
            raise ValueError(f"ceiling_h must be positive, got {self.ceiling_h!r}")
        if not self.min_use_l >= 0:
            raise ValueError(f"min_use_l must be zero or more, got {self.min_use_l!r}")
        if not self.max_flow_l_per_h > 0:
            raise ValueError(f"max_flow_l_per_h must be positive, got {self.max_flow_l_per_h!r}")
        self.ceiling_ms_ = int(self.ceiling_h * _HOUR_MS)
        return self

    def step(
        self, readings: pd.DataFrame, carry: pd.DataFrame | None, *, until_ms: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Consume readings that arrived since the last step.

        Returns the episodes that ended in this step plus every ongoing one, and the carry
        (per-meter state) to pass to the next step. Stepping through the readings in any
        number of arrival-ordered pieces gives the same episodes as one step over all of them.
        """
        carry = _empty_carry() if carry is None else carry
        steps, register_carry = register.consumption_steps(readings, carry, max_flow_l_per_h=self.max_flow_l_per_h)
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
        prior_since = carry["since"].reindex(meters).to_numpy()

        # A first-ever reading (unknown consumption) starts a run: nothing before it proves silence.
        used = np.isnan(consumption) | (consumption > self.min_use_l)
        since = pd.Series(np.where(used, ts, np.nan)).groupby(meters).ffill().to_numpy()
        since = np.where(np.isnan(since), prior_since, since).astype("int64")
        alarmed = ts - since >= self.ceiling_ms_

        # Each run is one (meter, since); it raises at the arrival of its first alarmed row,
        # or kept the raise it had before this step.
        runs = pd.DataFrame({"meter_id": meters, "since": since, "received": received, "alarmed": alarmed})
        raised_now = runs[alarmed].groupby(["meter_id", "since"], sort=False)["received"].first()
        raised_before = carry.loc[carry["raised"] >= 0].set_index("since", append=True)["raised"]
        raised = pd.concat([raised_before, raised_now[~raised_now.index.isin(raised_before.index)]])

        # A used row ends the run before it (same meter); the end is that row's arrival.
        prev_since = np.where(first, prior_since, np.r_[0, since[:-1]])
        ends = pd.DataFrame({"meter_id": meters, "since": prev_since, "ended": received})[used & ~np.isnan(consumption)]
        ended = ends.set_index(["meter_id", "since"])["ended"]
        closed = raised[raised.index.isin(ended.index)]
        closed_ends = ended.reindex(closed.index)

        tail = pd.DataFrame({"since": since[last]}, index=pd.Index(meters[last]))
        tail_raised = raised.reindex(pd.MultiIndex.from_arrays([tail.index, tail["since"]]))
        tail["raised"] = tail_raised.fillna(-1).astype("int64").to_numpy()
        runs_carry = pd.concat([carry[["since", "raised"]].drop(tail.index, errors="ignore"), tail])
        new_carry = register_carry.join(runs_carry)[_CARRY_COLUMNS]

        closed_episodes = make_episodes(
            closed.index.get_level_values(0),
            kind=self.kind,
            severity="alarm",
            started_ms=closed.index.get_level_values(1),
            raised_ms=closed.to_numpy(),
            ended_ms=closed_ends.to_numpy(),
        )
        return concat_episodes([closed_episodes, self._ongoing(new_carry)]), new_carry

    def _ongoing(self, carry: pd.DataFrame) -> pd.DataFrame:
        open_runs = carry[carry["raised"] >= 0]
        return make_episodes(
            open_runs.index, kind=self.kind, severity="alarm",
            started_ms=open_runs["since"], raised_ms=open_runs["raised"],
        )


def _empty_carry() -> pd.DataFrame:
    return register.empty_carry().assign(since=pd.Series([], dtype="int64"), raised=pd.Series([], dtype="int64"))
