"""The detectors' carried state is bounded by the meters, not by how long the monitor has run.

The live monitor keeps every detector's carry between ticks for as long as anxin runs, so a carry
that kept, say, every gap or every night it ever saw would grow without end (the soak would show it
as memory climbing by the hour). Once each rolling window is full, more ticks over the same meters
must not make the carry any bigger.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detect.backtest import in_step_order, regroup, regroups
from detect.continuous_flow import ContinuousFlowDetector
from detect.episodes import empty_episodes
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
from detect.pattern import UnusualPatternDetector

H = 3_600_000
METERS = [f"m{i}" for i in range(12)]


def _detectors() -> list:
    return in_step_order([InactivityDetector().fit(), OfflineDetector().fit(), UnusualPatternDetector().fit(),
                          ContinuousFlowDetector().fit(), FleetOutageDetector().fit()])


def _readings(start_h: int, hours: int, rng: np.random.Generator, totals: np.ndarray) -> pd.DataFrame:
    """Every meter reports hourly; water is used in some daytime hours, never at night (so nights are learned)."""
    rows = []
    for h in range(start_h, start_h + hours):
        daytime = 7 <= (h + 8) % 24 < 22  # local time in Asia/Shanghai, the detectors' default
        used = rng.random(len(METERS)) < 0.4
        totals += np.where(used & daytime, rng.uniform(1, 30, len(METERS)).round(1), 0.0)
        rows += [(m, h * H, float(t), h * H + 60_000) for m, t in zip(METERS, totals, strict=True)]
    return pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])


def step_all(detectors, carries: dict, batch: pd.DataFrame, until_ms: int) -> tuple[dict, dict]:
    """One monitor tick (as Monitor._step does it): every detector steps, the fleet over the offline episodes.
    Returns the episodes and the new carries, by kind."""
    by_kind = {d.kind: empty_episodes() for d in detectors}
    new = {}
    for d in detectors:
        if regroups(d):
            new[d.kind] = regroup(d, by_kind, batch, carries.get(d.kind), until_ms=until_ms)
        else:
            by_kind[d.kind], new[d.kind] = d.step(batch, carries.get(d.kind), until_ms=until_ms)
    return by_kind, new


def _cells(value) -> int:
    """How many values a carry holds: frame cells, plus every element of a tuple kept in a cell."""
    if isinstance(value, pd.DataFrame):
        tuples = sum(len(v) for column in value.select_dtypes(object) for v in value[column] if isinstance(v, tuple))
        return value.size + len(value.index) + tuples
    if isinstance(value, pd.Series):
        return value.size + len(value.index)
    return sum(_cells(getattr(value, name)) for name in ("first_seen", "outages"))


def test_more_ticks_over_the_same_meters_do_not_grow_any_carry():
    rng, totals = np.random.default_rng(6), np.full(len(METERS), 100.0)
    detectors, carries, sizes = _detectors(), {}, []
    tick_h = 6
    for tick in range(4 * 21):  # three weeks of six-hour ticks
        start_h = tick * tick_h
        _, carries = step_all(detectors, carries, _readings(start_h, tick_h, rng, totals), (start_h + tick_h) * H)
        sizes.append({kind: _cells(carry) for kind, carry in carries.items()})
    # Ten days in, every window (8 upload gaps, 7 learned nights) is full: the carries stay that size.
    settled = sizes[4 * 10]
    assert all(size == settled for size in sizes[4 * 10:]), [s for s in sizes[4 * 10:] if s != settled][:3]
    assert all(settled[kind] > 0 for kind in settled)
