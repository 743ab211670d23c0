"""Checks every detector must pass (after sklearn's and River's shared estimator checks).

The central one: feeding readings in arrival-ordered pieces, as the live monitor does tick by
tick, gives exactly the episodes one backtest step gives. That is what makes a backtest a
faithful replay of production.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from detect.continuous_flow import ContinuousFlowDetector
from detect.episodes import EPISODE_COLUMNS, concat_episodes
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
from detect.pattern import UnusualPatternDetector
from store.readings import readings_frame
from tests.detect.readings import H

DETECTORS = [
    InactivityDetector(ceiling_h=3, min_use_l=0.5),
    OfflineDetector(tolerance=2.0, min_hours=0.5, default_cadence_h=2.0, window=3),
    # A short night from midnight UTC (the readings start at the epoch), so backgrounds are learned.
    ContinuousFlowDetector(min_hours=1, min_excess_l_per_h=0.5, background_nights=2, night_start_h=0,
                           night_end_h=6, timezone="UTC", max_interval_h=4),
    # Fitted without history it judges nothing; tests/detect/test_pattern.py checks it with a learned baseline.
    UnusualPatternDetector(timezone="UTC", max_interval_h=4),
]
ids = [type(d).__name__ for d in DETECTORS]


@st.composite
def readings_strategy(draw):
    """A few meters with irregular readings, pauses, flat stretches, resets and late arrivals."""
    rows = []
    for meter in ["a", "b", "c"][: draw(st.integers(1, 3))]:
        t, total = 0, 100.0
        for _ in range(draw(st.integers(0, 40))):
            t += draw(st.sampled_from([15, 30, 60, 60, 60, 240, 600])) * 60_000
            total = max(0.0, total + draw(st.sampled_from([0, 0, 0, 0.3, 1, 7, -50])))
            delay = draw(st.sampled_from([0, 0, 60_000, 3 * H]))
            rows.append((meter, t, total, t + delay))
    frame = pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])
    return frame.drop_duplicates(["meter_id", "ts_ms"])


def canonical(episodes: pd.DataFrame) -> list[tuple]:
    return sorted(
        (r.meter_id, r.kind, r.severity, r.started_ms, r.raised_ms, None if pd.isna(r.ended_ms) else int(r.ended_ms))
        for r in episodes.itertuples()
    )


def stepwise(detector, readings, cuts, until_ms):
    """Replay as the live monitor does: one step per arrival window, closed episodes kept."""
    carry, closed, bounds = None, [], sorted(set(cuts)) + [until_ms]
    lower = -np.inf
    for upper in bounds:
        piece = readings[(readings["received_ms"] > lower) & (readings["received_ms"] <= upper)]
        episodes, carry = detector.step(piece, carry, until_ms=upper)
        closed.append(episodes[episodes["ended_ms"].notna()])
        lower = upper
    return concat_episodes(closed + [episodes[episodes["ended_ms"].isna()]])


@pytest.mark.parametrize("detector", DETECTORS, ids=ids)
@settings(max_examples=60, deadline=None)
@given(readings=readings_strategy(), data=st.data())
def test_stepwise_equals_one_step(detector, readings, data):
    detector = clone(detector).fit()
    until = int(readings["received_ms"].max()) + 10 * H if len(readings) else 10 * H
    cuts = data.draw(st.lists(st.integers(0, until), max_size=6))
    one_step, _ = detector.step(readings, None, until_ms=until)
    assert canonical(stepwise(detector, readings, cuts, until)) == canonical(one_step)


@pytest.mark.parametrize("detector", DETECTORS, ids=ids)
@settings(max_examples=40, deadline=None)
@given(readings=readings_strategy(), data=st.data())
def test_causal_no_look_ahead(detector, readings, data):
    """What was raised by time T does not depend on anything that arrived after T."""
    detector = clone(detector).fit()
    until = int(readings["received_ms"].max()) + 10 * H if len(readings) else 10 * H
    cut = data.draw(st.integers(0, until))
    full, _ = detector.step(readings, None, until_ms=until)
    seen, _ = detector.step(readings[readings["received_ms"] <= cut], None, until_ms=cut)
    key = lambda e: {(r.meter_id, r.started_ms, r.raised_ms) for r in e.itertuples() if r.raised_ms <= cut}
    assert key(seen) == key(full)
    assert (seen["raised_ms"] <= cut).all()
    assert (seen["ended_ms"].dropna() <= cut).all()


@pytest.mark.parametrize("detector", DETECTORS, ids=ids)
@settings(max_examples=20, deadline=None)
@given(readings=readings_strategy())
def test_deterministic_and_order_independent(detector, readings):
    detector = clone(detector).fit()
    until = int(readings["received_ms"].max()) + H if len(readings) else H
    first, _ = detector.step(readings, None, until_ms=until)
    shuffled = readings.sample(frac=1.0, random_state=1)
    second, _ = detector.step(shuffled, None, until_ms=until)
    assert canonical(first) == canonical(second)
    assert list(first.columns) == EPISODE_COLUMNS


@pytest.mark.parametrize("detector", DETECTORS, ids=ids)
def test_sklearn_conventions(detector):
    params = detector.get_params()
    copy = clone(detector)
    assert copy.get_params() == params
    assert copy.set_params(**params) is copy
    assert not [k for k in vars(copy) if k.endswith("_")]  # nothing learned before fit
    assert copy.fit() is copy


@pytest.mark.parametrize("detector", DETECTORS, ids=ids)
def test_no_readings_is_not_an_error(detector):
    detector = clone(detector).fit()
    empty = readings_frame()
    episodes, carry = detector.step(empty, None, until_ms=H)
    assert episodes.empty
    episodes, _ = detector.step(empty, carry, until_ms=2 * H)
    assert episodes.empty
