"""Fleet outage: many meters fall silent at once, so the cause is the pipeline, not the residents.

It regroups the offline detector's episodes: one ``fleet_outage`` episode for the whole fleet
(goes to the property manager) instead of a storm of ``meter_offline`` ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from detect.episodes import EPISODE_COLUMNS, concat_episodes, make_episodes
from store.models import FLEET

_HOUR_MS = 3_600_000
_OUTAGE_COLUMNS = ["started_ms", "raised_ms", "ended_ms", "threshold"]


@dataclass(frozen=True, slots=True)
class FleetCarry:
    """What one step of :class:`FleetOutageDetector` hands the next."""

    first_seen: pd.Series  # meter_id -> its first arrival (ms): the fleet's size at any time
    outages: pd.DataFrame  # the ongoing outage, and ended ones whose members are still offline
    detect_from: float  # a new outage is made of episodes that started at or after this (the last outage's end)
    until_ms: int | None  # the previous step's until_ms: nothing learned now happened before it


class FleetOutageDetector(BaseEstimator):
    """One alarm for the whole fleet when many meters go offline at once, and no per-meter storm.

    A fleet outage is raised when at least ``max(min_meters, min_fraction * fleet size)`` meters
    are offline (their ``meter_offline`` episode raised and not ended) whose silences began within
    ``window_h`` of each other. The fleet is every meter that had uploaded by then. The outage
    starts at the first of those beginnings and is raised when the threshold count is reached.
    Every offline episode that begins inside it belongs to it; a meter already offline before it
    keeps its own alert. It ends when fewer of its members than the threshold it was raised at
    are still offline: at the return of the meter that brings the count below. After it ends,
    only meters that fall silent later can make the next one.

    No storm, live or in a backtest: an offline episode counts as raised ``window_h`` after the
    offline detector raised it (the hold), so that the meters going silent with it can be counted
    first. If an outage it belongs to has been raised by then, it is held until the outage is over
    plus ``window_h``, and is raised only if the meter is still silent then. An episode raised
    once stays raised: nothing raised is taken back, so alerts never flap. The hold assumes the
    meters of an outage are raised within ``window_h`` of each other, which holds when they upload
    on similar cadences (the offline detector raises a meter after 2.5 of its upload gaps).

    ``step`` takes the offline detector's episodes of the same step (``episodes``) and returns the
    offline episodes that are raised, with ``raised_ms`` the end of their hold, plus the outages
    (meter_id ``"*"``, severity ``alarm``).

    Parameters
    ----------
    min_meters : int, default=10
        Never call fewer silent meters a fleet outage.
    min_fraction : float, default=0.3
        Nor fewer than this share of the fleet.
    window_h : float, default=1.0
        How close together (hours) the silences must begin; also the hold of each offline
        episode. Meters that upload a daily batch fall silent up to a day apart: a fleet of them
        needs a longer window.

    Examples
    --------
    >>> import pandas as pd
    >>> from detect.episodes import make_episodes
    >>> h = 3_600_000
    >>> meters = [f"m{i}" for i in range(4)]
    >>> readings = pd.DataFrame({"meter_id": meters, "ts_ms": 0, "total_l": 1.0, "received_ms": 0})
    >>> offline = make_episodes(meters, kind="meter_offline", severity="warning",
    ...                         started_ms=[0, 0, 0, 0], raised_ms=[h, h, h, 3 * h])
    >>> fleet = FleetOutageDetector(min_meters=3, min_fraction=0.5).fit()
    >>> episodes, carry = fleet.step(readings, None, until_ms=5 * h, episodes=offline)
    >>> episodes[["meter_id", "kind", "started_ms", "raised_ms"]].to_dict("records")
    [{'meter_id': '*', 'kind': 'fleet_outage', 'started_ms': 0, 'raised_ms': 3600000}]
    """

    kind: ClassVar[str] = "fleet_outage"

    regroups: ClassVar[str] = "meter_offline"
    """The kind of episodes ``step`` takes as ``episodes=`` and returns the raised ones of."""

    def __init__(self, min_meters: int = 10, min_fraction: float = 0.3, window_h: float = 1.0) -> None:
        self.min_meters = min_meters
        self.min_fraction = min_fraction
        self.window_h = window_h

    def fit(self, readings: pd.DataFrame | None = None, y=None) -> FleetOutageDetector:
        """Check the parameters; the fleet is learned as readings stream through ``step``."""
        if not (isinstance(self.min_meters, int) and self.min_meters >= 2):
            raise ValueError(f"min_meters must be a whole number of at least 2, got {self.min_meters!r}")
        if not 0 <= self.min_fraction <= 1:
            raise ValueError(f"min_fraction must be between 0 and 1, got {self.min_fraction!r}")
        if not self.window_h > 0:
            raise ValueError(f"window_h must be positive, got {self.window_h!r}")
        self.window_ms_ = int(self.window_h * _HOUR_MS)
        return self

    def threshold(self, fleet_size) -> np.ndarray:
        """How many silent meters make an outage in a fleet of ``fleet_size`` meters."""
        return np.maximum(self.min_meters, np.ceil(self.min_fraction * np.asarray(fleet_size))).astype("int64")

    def step(
        self, readings: pd.DataFrame, carry: FleetCarry | None, *, until_ms: int, episodes: pd.DataFrame
    ) -> tuple[pd.DataFrame, FleetCarry]:
        """Consume the readings and the offline episodes of one step (see InactivityDetector.step)."""
        carry = _empty_carry() if carry is None else carry
        first_seen = _first_seen(carry.first_seen, readings)
        arrivals = np.sort(first_seen.to_numpy("int64"))
        offline = episodes[episodes["kind"] == self.regroups].reset_index(drop=True)
        started = offline["started_ms"].to_numpy("float64")
        raised = offline["raised_ms"].to_numpy("float64")
        ended = offline["ended_ms"].astype("float64").fillna(np.inf).to_numpy()
        # What this step learns happened after the previous step, however late it was reported:
        # so nothing is decided twice, and a decision once published is never taken back.
        floor = -np.inf if carry.until_ms is None else carry.until_ms + 1
        seen_raised, seen_ended = np.maximum(raised, floor), np.maximum(ended, floor)

        outages = carry.outages.to_dict("records")
        detect_from = carry.detect_from
        ongoing = outages[-1] if outages and np.isinf(outages[-1]["ended_ms"]) else None
        while True:
            if ongoing is not None:
                end = self._end(ongoing, started, seen_raised, seen_ended)
                if end is None:
                    break
                ongoing["ended_ms"] = detect_from = end
            found = self._detect(started, seen_raised, seen_ended, detect_from, arrivals)
            if found is None:
                break
            ongoing = found
            outages.append(ongoing)
        table = pd.DataFrame(outages, columns=_OUTAGE_COLUMNS).astype("float64")

        release = self._release(started, raised, table)
        kept = offline[(release <= until_ms) & (release < ended)].copy()
        kept["raised_ms"] = release[(release <= until_ms) & (release < ended)].astype("int64")
        reported = table[np.isinf(table["ended_ms"]) | (table["ended_ms"] >= floor)]
        fleet = make_episodes(
            [FLEET] * len(reported), kind=self.kind, severity="alarm", started_ms=reported["started_ms"],
            raised_ms=reported["raised_ms"],
        )
        fleet["ended_ms"] = pd.array(
            [pd.NA if np.isinf(e) else int(e) for e in reported["ended_ms"]], dtype="Int64"
        )

        new_carry = FleetCarry(first_seen=first_seen, outages=_still_needed(table, started[np.isinf(ended)]),
                               detect_from=detect_from, until_ms=until_ms)
        return concat_episodes([kept[EPISODE_COLUMNS], fleet]), new_carry

    def _detect(self, started, raised, ended, detect_from, arrivals) -> dict | None:
        """The first outage among the episodes that began at or after ``detect_from``, if any.

        For each episode as the first of a window of ``window_h`` (by beginning), the number of
        the window's episodes offline at each raise; the earliest raise at which it reaches the
        threshold, with its first episode itself offline, is the outage.
        """
        candidates = np.flatnonzero(started >= detect_from)
        if len(candidates) == 0:
            return None
        order = candidates[np.argsort(started[candidates], kind="stable")]
        s, r, e = started[order], raised[order], ended[order]
        window_end = np.searchsorted(s, s + self.window_ms_, side="right")
        sizes = window_end - np.arange(len(s))
        anchor = np.repeat(np.arange(len(s)), sizes)
        member = anchor + (np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes))

        # Per window, +1 at each member's raise and -1 at its end; ends first at equal times.
        finite = np.isfinite(e[member])
        event_anchor = np.r_[anchor, anchor[finite]]
        event_time = np.r_[r[member], e[member][finite]]
        delta = np.r_[np.ones(len(member), "int64"), -np.ones(int(finite.sum()), "int64")]
        sorted_events = np.lexsort((delta, event_time, event_anchor))
        event_anchor, event_time, delta = event_anchor[sorted_events], event_time[sorted_events], delta[sorted_events]
        running = np.cumsum(delta)
        group_start = np.r_[0, np.flatnonzero(np.diff(event_anchor)) + 1]
        before_group = np.repeat(running[group_start] - delta[group_start], np.diff(np.r_[group_start, len(delta)]))
        offline_now = running - before_group

        needed = self.threshold(np.searchsorted(arrivals, event_time, side="right"))
        anchor_offline = (r[event_anchor] <= event_time) & (event_time < e[event_anchor])
        hits = np.flatnonzero((delta > 0) & (offline_now >= needed) & anchor_offline)
        if len(hits) == 0:
            return None
        first = hits[np.lexsort((event_anchor[hits], event_time[hits]))[0]]
        return {"started_ms": s[event_anchor[first]], "raised_ms": event_time[first], "ended_ms": np.inf,
                "threshold": needed[first]}

    @staticmethod
    def _end(outage: dict, started, raised, ended) -> float | None:
        """When fewer members than the outage's threshold are still offline; None while enough are."""
        members = started >= outage["started_ms"]
        returns = np.unique(ended[members & np.isfinite(ended) & (ended > outage["raised_ms"])])
        if len(returns) == 0:
            return None
        member_raised, member_ended = np.sort(raised[members]), np.sort(ended[members])
        still = (np.searchsorted(member_raised, returns, side="right")
                 - np.searchsorted(member_ended, returns, side="right"))
        below = np.flatnonzero(still < outage["threshold"])
        return float(returns[below[0]]) if len(below) else None

    def _release(self, started, raised, outages: pd.DataFrame) -> np.ndarray:
        """When each offline episode counts as raised: after its hold, or after the outage holding it."""
        release = raised + self.window_ms_
        if outages.empty or len(started) == 0:
            return release
        outages = outages.sort_values("started_ms", kind="stable")
        index = np.searchsorted(outages["started_ms"].to_numpy(), started, side="right") - 1
        inside = index >= 0
        safe = np.where(inside, index, 0)
        outage_raised = outages["raised_ms"].to_numpy()[safe]
        outage_ended = outages["ended_ms"].to_numpy()[safe]
        held = inside & (started < outage_ended) & (outage_raised <= release)
        return np.where(held, np.maximum(release, outage_ended + self.window_ms_), release)


def _still_needed(outages: pd.DataFrame, offline_started: np.ndarray) -> pd.DataFrame:
    """The ongoing outage, and ended ones that a meter still offline went silent in: its release
    depends on them. A meter that falls silent later is raised after its own hold either way."""
    keep = [np.isinf(o.ended_ms) or bool(((offline_started >= o.started_ms) & (offline_started < o.ended_ms)).any())
            for o in outages.itertuples()]
    return outages[keep].reset_index(drop=True)


def _first_seen(known: pd.Series, readings: pd.DataFrame) -> pd.Series:
    """Each meter's first arrival: ``known`` (sorted by meter, as this returns it), with ``readings``' meters."""
    if readings.empty:
        return known
    fresh = readings.groupby("meter_id", sort=False)["received_ms"].min()
    at = known.index.get_indexer(fresh.index)
    if (at >= 0).all() and (fresh.to_numpy() >= known.to_numpy()[at]).all():
        return known  # a tick's usual case: no meter is new, none arrived before it first did
    return pd.concat([known, fresh]).groupby(level=0).min().astype("int64")


def _empty_carry() -> FleetCarry:
    return FleetCarry(
        first_seen=pd.Series([], dtype="int64", index=pd.Index([], dtype=object)),
        outages=pd.DataFrame({c: pd.Series([], dtype="float64") for c in _OUTAGE_COLUMNS}),
        detect_from=-np.inf,
        until_ms=None,
    )
