"""The unusual-pattern detector: a drifting routine is flagged while water is still used; gaps, days away
and a still resident are not; stepping in pieces gives what one step gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from detect.pattern import UnusualPatternDetector
from tests.detect.test_estimators import canonical, stepwise

H = 3_600_000
DAY = 24 * H
T0 = 1_699_977_600_000  # a local midnight in Asia/Shanghai
HISTORY_DAYS = 28
LIVE = HISTORY_DAYS * 24  # the hour index of the first live day's midnight
METHODS = ["rule", "elliptic_envelope", "isolation_forest"]
# An isolation forest never splits on a feature that did not vary in the history, so it cannot see a
# household that always rose at 07:00 rise at 11:00: the behaviour tests hold for the other two.
FLAGGING = ["rule", "elliptic_envelope"]


def routine(days: int, seed: int = 0) -> np.ndarray:
    """Litres shown by each hourly reading (index: hours after T0): up at 07:00, 2-4 L every waking hour until 22:00."""
    hours = np.arange(days * 24 + 1)
    litres = np.random.default_rng(seed).integers(2, 5, len(hours)).astype("float64")
    return np.where((hours % 24 >= 7) & (hours % 24 < 22), litres, 0.0)


def readings(use: np.ndarray, *, meter: str = "m1", keep: np.ndarray | None = None,
             delay_ms: int = 5_000) -> pd.DataFrame:
    """Hourly readings of the register that ``use`` moves; ``keep`` masks out readings never sent."""
    ts = T0 + np.arange(len(use)) * H
    frame = pd.DataFrame({"meter_id": meter, "ts_ms": ts, "total_l": 1000 + np.cumsum(use),
                          "received_ms": ts + delay_ms})
    return frame if keep is None else frame[keep].reset_index(drop=True)


def replay(frame: pd.DataFrame, method: str = "rule", **params) -> pd.DataFrame:
    """Fit on the history days, then step through everything as the monitor does after a restart."""
    detector = UnusualPatternDetector(method=method, **params).fit(frame[frame["ts_ms"] < T0 + HISTORY_DAYS * DAY])
    episodes, _ = detector.step(frame, None, until_ms=int(frame["received_ms"].max()))
    return episodes


def at(hour_index: int) -> int:
    return T0 + hour_index * H


@pytest.mark.parametrize("method", FLAGGING)
def test_a_late_morning_is_raised_when_the_late_first_use_arrives_and_ends_on_the_next_usual_day(method):
    use = routine(HISTORY_DAYS + 3)
    use[LIVE + 7:LIVE + 11] = 0.0  # day 28: nothing until the reading at 11:00
    [episode] = replay(readings(use), method).to_dict("records")
    assert episode["severity"] == "info"
    assert episode["started_ms"] == at(LIVE)
    assert episode["raised_ms"] == at(LIVE + 11) + 5_000
    # Day 29 is usual again: judged once its midnight silence ends, at day 30's first use (07:00).
    assert episode["ended_ms"] == at(LIVE + 48 + 7) + 5_000


@pytest.mark.parametrize("method", METHODS)
def test_a_usual_fortnight_is_not_flagged(method):
    assert replay(readings(routine(HISTORY_DAYS + 14, seed=3)), method).empty


@pytest.mark.parametrize("method", FLAGGING)
def test_a_collapsed_daily_volume_is_raised_once_the_day_is_over(method):
    use = routine(HISTORY_DAYS + 3)
    day = slice(LIVE + 1, LIVE + 25)
    use[day] = np.where(use[day] > 0, 1.0, 0.0)  # a third or less of every hour's use
    [episode] = replay(readings(use), method).to_dict("records")
    assert episode["started_ms"] == at(LIVE)
    assert episode["raised_ms"] == at(LIVE + 24 + 7) + 5_000  # the next morning ends the day's last silence


@pytest.mark.parametrize("method", FLAGGING)
def test_use_at_night_is_raised_when_the_night_is_over(method):
    use = routine(HISTORY_DAYS + 3)
    use[[LIVE + 2, LIVE + 3, LIVE + 4]] = 6.0  # trips to the toilet at 01:00-04:00
    [episode] = replay(readings(use), method).to_dict("records")
    assert episode["raised_ms"] == at(LIVE + 6) + 5_000  # the first reading about the time after 05:00


def test_a_reporting_gap_never_looks_like_a_late_morning_or_a_low_day():
    use = routine(HISTORY_DAYS + 4)
    use[LIVE + 7:LIVE + 11] = 0.0  # a late morning hidden by the gap below
    hours = np.arange(len(use))
    keep = ~((hours > LIVE + 3) & (hours < LIVE + 12))  # nothing sent from 03:00 to 12:00
    keep &= ~((hours > LIVE + 48 + 12) & (hours < LIVE + 48 + 20))  # nor on an afternoon two days later
    assert replay(readings(use, keep=keep)).empty


@pytest.mark.parametrize("still_from_h", [3, 9, 15])
def test_a_still_resident_is_the_inactivity_detectors_case(still_from_h):
    use = routine(HISTORY_DAYS + 5)
    use[LIVE + still_from_h:LIVE + still_from_h + 40] = 0.0  # no use at all for 40 hours
    assert replay(readings(use)).empty


def test_a_day_away_is_not_a_collapsed_day():
    use = routine(HISTORY_DAYS + 4)
    use[LIVE + 13:LIVE + 24 + 17] = 0.0  # leaves after lunch, back the next afternoon
    assert replay(readings(use)).empty


def test_a_household_with_little_history_and_learn_false_are_never_judged():
    use = routine(HISTORY_DAYS + 3)
    use[LIVE + 7:LIVE + 11] = 0.0
    frame = readings(use)
    short = frame[frame["ts_ms"] >= T0 + (HISTORY_DAYS - 5) * DAY]
    assert replay(short).empty  # four complete days of history: fewer than min_history_days
    detector = UnusualPatternDetector(learn=False).fit(frame)
    assert detector.step(frame, None, until_ms=int(frame["received_ms"].max()))[0].empty
    assert UnusualPatternDetector().fit(None).step(frame, None, until_ms=at(LIVE + 72))[0].empty


def test_a_daily_batch_raises_at_the_upload_that_carries_the_evidence():
    use = routine(HISTORY_DAYS + 3)
    use[LIVE + 7:LIVE + 11] = 0.0
    frame = readings(use)
    upload = (frame["ts_ms"] - T0 - 2 * H) // DAY * DAY + T0 + 2 * H + DAY  # each reading goes up at 02:00 next
    [episode] = replay(frame.assign(received_ms=upload)).to_dict("records")
    assert episode["raised_ms"] == at(LIVE + 24 + 2)


@pytest.mark.parametrize("params, message", [
    (dict(method="svm"), "method must be one of"),
    (dict(z_threshold=0), "z_threshold must be positive"),
    (dict(unusual_share=0.7), "unusual_share must be between"),
    (dict(min_history_days=0), "min_history_days must be a positive"),
    (dict(night_start_h=6, night_end_h=5), "the night must lie within one day"),
    (dict(timezone="Mars/Olympus"), "unknown timezone"),
])
def test_bad_parameters_are_refused_by_fit_with_what_to_change(params, message):
    detector = UnusualPatternDetector(**params)  # stored unchanged: nothing is checked before fit
    assert detector.get_params()[next(iter(params))] == params[next(iter(params))]
    with pytest.raises(ValueError, match=message):
        detector.fit()


# Properties, on a detector that has learned the routine of meters a and b, fed readings that drift,
# pause, reset and arrive late or in batches.
HISTORY = pd.concat([readings(routine(HISTORY_DAYS, seed=i), meter=m) for i, m in enumerate("ab")])
FITTED = {method: UnusualPatternDetector(method=method).fit(HISTORY) for method in FLAGGING}


def drift_frame(choose) -> pd.DataFrame:
    """After the history, each meter's readings: usual days and stretches of random use, gaps and late arrivals.

    ``choose(options)`` picks one of the options (hypothesis draws, or a seeded generator).
    """
    rows = []
    for meter in "ab"[: choose([1, 2])]:
        t, total = T0 + HISTORY_DAYS * DAY, 5000.0
        for _ in range(choose([1, 2, 3])):
            for litres in routine(1)[:-1]:  # a usual day, from midnight to midnight
                total += litres
                rows.append((meter, t, total, t + 5_000))
                t += H
            for _ in range(choose([0, 9, 12])):  # a late morning: hours without use
                rows.append((meter, t, total, t + 5_000))
                t += H
            total += choose([1, 3, 12])  # then some use, which ends the night's silence
            rows.append((meter, t, total, t + 5_000))
            t += H
            for _ in range(choose([0, 5, 20, 40])):
                t += choose([30, *[60] * 10, 180]) * 60_000  # now and then a reporting gap
                total = max(0.0, total + choose([*[0] * 8, 1, 3, 3, 12, 12, 40, 40, *[5] * 4, -60]))
                rows.append((meter, t, total, t + choose([5_000, 5_000, 5_000, 2 * H, 20 * H])))
            midnight = (t - T0) // DAY * DAY + T0 + DAY
            t = max(t + H, midnight - choose([0, 3, 6]) * H)
            while t < midnight:  # a little use until midnight (or after a gap), then the next usual day
                total += choose([0, 2])
                rows.append((meter, t, total, t + 5_000))
                t += H
            t = midnight
        for litres in routine(1)[:9]:  # the next morning, which settles the last day
            total += litres
            rows.append((meter, t, total, t + 5_000))
            t += H
    return pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])


@st.composite
def drifting_readings(draw):
    return drift_frame(lambda options: draw(st.sampled_from(options)))


@pytest.mark.parametrize("method", FLAGGING)
@settings(max_examples=25, deadline=None)
@given(frame=drifting_readings(), data=st.data())
def test_stepwise_equals_one_step(method, frame, data):
    detector = FITTED[method]
    until = int(frame["received_ms"].max()) + 10 * H
    cuts = data.draw(st.lists(st.integers(int(frame["received_ms"].min()), until), max_size=6))
    one_step, _ = detector.step(frame, None, until_ms=until)
    assert canonical(stepwise(detector, frame, cuts, until)) == canonical(one_step)


@pytest.mark.parametrize("method", FLAGGING)
@settings(max_examples=20, deadline=None)
@given(frame=drifting_readings(), data=st.data())
def test_causal_no_look_ahead(method, frame, data):
    """What was raised by time T does not depend on anything that arrived after T."""
    detector = FITTED[method]
    until = int(frame["received_ms"].max()) + 10 * H
    cut = data.draw(st.integers(int(frame["received_ms"].min()), until))
    full, _ = detector.step(frame, None, until_ms=until)
    seen, _ = detector.step(frame[frame["received_ms"] <= cut], None, until_ms=cut)
    key = lambda e: {(r.meter_id, r.started_ms, r.raised_ms) for r in e.itertuples() if r.raised_ms <= cut}  # noqa: E731
    assert key(seen) == key(full)
    assert (seen["raised_ms"] <= cut).all()
    assert (seen["ended_ms"].dropna() <= cut).all()


@settings(max_examples=10, deadline=None)
@given(frame=drifting_readings())
def test_deterministic_and_independent_of_row_order(frame):
    detector = clone(FITTED["elliptic_envelope"]).fit(HISTORY)
    until = int(frame["received_ms"].max()) + H
    first, _ = FITTED["elliptic_envelope"].step(frame, None, until_ms=until)
    second, _ = detector.step(frame.sample(frac=1.0, random_state=1), None, until_ms=until)
    assert canonical(first) == canonical(second)


def test_the_properties_see_episodes():
    """The drifting readings do raise and end episodes, so the properties above are not vacuous."""
    rng = np.random.default_rng(0)
    frames = [drift_frame(lambda options: options[rng.integers(len(options))]) for _ in range(30)]
    raised = [FITTED["rule"].step(f, None, until_ms=int(f["received_ms"].max()))[0] for f in frames]
    assert sum(len(e) for e in raised) > 10
    assert sum(e["ended_ms"].notna().sum() for e in raised) > 3
