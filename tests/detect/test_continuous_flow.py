"""Continuous flow: a tap left running, a running toilet or a burst pipe, as the cadre would see it."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.continuous_flow import ContinuousFlowDetector, _NightSequence
from detect.episodes import concat_episodes
from detect.simulate import simulate
from store.readings import readings_frame
from tests.detect.readings import H, frame, hourly
from tests.detect.test_estimators import canonical

START = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
START_MS = START.value // 1_000_000
DAY = 24 * H


def run(readings, until_ms=None, **params):
    until = int(readings["received_ms"].max()) if until_ms is None else until_ms
    episodes, _ = ContinuousFlowDetector(**params).fit().step(readings, None, until_ms=until)
    return episodes


def with_leak(readings, leaks, l_per_h):
    """The readings of a register that also passed ``l_per_h`` from start to end (meter -> (start_ms, end_ms))."""
    start = readings["meter_id"].map(lambda m: leaks.get(m, (0, 0))[0]).to_numpy()
    end = readings["meter_id"].map(lambda m: leaks.get(m, (0, 0))[1]).to_numpy()
    hours = np.clip(np.minimum(readings["ts_ms"].to_numpy(), end) - start, 0, None) / H
    return readings.assign(total_l=readings["total_l"] + np.floor(l_per_h * hours))  # whole litres


def household(days, random_state=0):
    """One simulated household's hourly readings."""
    return simulate(households=1, start=START, days=days, cadence_s=3600, random_state=random_state).readings


def first_raise_after(episodes, meter, at_ms):
    mine = episodes[(episodes["meter_id"] == meter) & (episodes["raised_ms"] >= at_ms)]
    return mine["raised_ms"].min() if len(mine) else np.nan


@pytest.mark.parametrize(
    "cadence_s, upload_every_s", [(900, None), (3600, None), (3600, DAY // 1000)], ids=["15-min", "hourly", "daily-batch"]
)
def test_a_15_l_per_h_tap_is_raised_within_ten_hours_of_data_time(cadence_s, upload_every_s):
    rng = np.random.default_rng(1)
    sim = simulate(households=20, start=START, days=21, cadence_s=cadence_s, upload_every_s=upload_every_s,
                   random_state=2)
    starts = START_MS + ((7 + rng.uniform(0, 12, 20)) * DAY).astype("int64")
    leaks = {f"m{i:04d}": (int(s), int(s) + 12 * H) for i, s in enumerate(starts)}
    readings = with_leak(sim.readings, leaks, 15.0)

    # Data time: when the reading that completes the evidence was taken, as if each were sent at once.
    streamed = run(readings.assign(received_ms=readings["ts_ms"]))
    delays = np.array([(first_raise_after(streamed, m, s) - s) / H for m, (s, _) in leaks.items()])
    assert np.mean(delays <= 10) >= 0.9, delays
    assert set(streamed["severity"]) == {"alarm"} and set(streamed["kind"]) == {"continuous_flow"}

    # A daily batch carries the same evidence, raised when the batch arrives: the same episodes,
    # raised at the upload of the reading that completed them.
    uploaded = run(readings)
    arrival = dict(zip(zip(readings["meter_id"], readings["ts_ms"]), readings["received_ms"]))
    expected = sorted((r.meter_id, r.started_ms, arrival[r.meter_id, r.raised_ms]) for r in streamed.itertuples())
    assert sorted((r.meter_id, r.started_ms, r.raised_ms) for r in uploaded.itertuples()) == expected


@pytest.mark.parametrize("cadence_s", [900, 3600], ids=["15-min", "hourly"])
def test_ordinary_months_with_busy_days_and_quiet_nights_raise_nothing(cadence_s):
    readings = simulate(households=20, start=START, days=30, cadence_s=cadence_s, random_state=4).readings
    assert run(readings).empty


def test_a_flush_and_a_wash_every_hour_all_day_is_not_a_leak():
    # Hourly readings from 07:00 local, 7 L every hour for twelve hours, then a quiet evening.
    totals = np.cumsum([0] + [7] * 12 + [0] * 3)
    assert run(frame(hourly("m1", totals.tolist(), start_h=-1))).empty
    assert len(run(frame(hourly("m1", totals.tolist(), start_h=-1)), min_excess_l_per_h=5)) == 1


def test_a_steady_drip_never_raises_even_at_first():
    readings = household(35)
    drip = with_leak(readings, {"m0000": (START_MS, START_MS + 35 * DAY)}, 1.0)
    assert run(drip).empty


def test_a_household_is_judged_against_the_drip_it_always_had():
    # A 3 L/h drip, then a day with a flush and a wash every hour: 10 L/h shows for twelve hours.
    history = [("m1", h, 3.0 * h) for h in range(14 * 24 + 1)]  # two weeks of nights with only the drip
    day = [("m1", 14 * 24 + h, 14 * 24 * 3.0 + 10.0 * h) for h in range(1, 13)]
    learned = frame(history + day)
    fresh = frame([("m2", h, 10.0 * h) for h in range(13)])  # the same day on a meter with no past nights
    episodes = run(pd.concat([learned, fresh]))
    assert episodes["meter_id"].tolist() == ["m2"]


def test_a_leak_after_weeks_of_a_learned_drip_is_raised():
    readings = household(28, random_state=3)
    leak_at = START_MS + 21 * DAY + 10 * H
    drip = with_leak(readings, {"m0000": (START_MS, START_MS + 28 * DAY)}, 1.0)
    leaking = with_leak(drip, {"m0000": (leak_at, leak_at + 12 * H)}, 15.0)
    assert run(drip).empty
    episodes = run(leaking)
    assert len(episodes) == 1
    assert leak_at - H <= episodes["started_ms"].iloc[0] <= leak_at + H
    assert episodes["raised_ms"].iloc[0] - leak_at <= 10 * H


def test_a_drip_is_never_learned_above_max_background():
    # A 7 L/h drip for three weeks (too slow to raise), then the cistern runs on: 13 L/h.
    drip = [("m1", h, 7.0 * h) for h in range(21 * 24 + 1)]
    worse = [("m1", 21 * 24 + h, 7.0 * 21 * 24 + 13.0 * h) for h in range(1, 13)]
    assert run(frame(drip)).empty
    assert len(run(frame(drip + worse))) == 1
    assert run(frame(drip + worse), max_background_l_per_h=7).empty  # a learned 7 L/h would have hidden it


def test_a_leak_that_never_stops_is_one_alarm_for_weeks():
    # 10 L/h is flow against a quiet household's background; its nights must not become the background.
    readings = household(35, random_state=6)
    leak_at = START_MS + 7 * DAY + 14 * H
    episodes = run(with_leak(readings, {"m0000": (leak_at, START_MS + 35 * DAY)}, 10.0))
    assert len(episodes) == 1
    assert pd.isna(episodes["ended_ms"].iloc[0])
    assert leak_at - H <= episodes["started_ms"].iloc[0] <= leak_at + H


def test_a_leak_that_starts_in_the_night_does_not_teach_the_background():
    # A new meter read hourly from midnight local (hour 16): quiet, then 10 L/h from 03:00 for twelve hours.
    totals = [0.0] * 4 + [10.0 * h for h in range(1, 13)]
    episodes = run(frame(hourly("m1", totals, start_h=16)))
    assert episodes["started_ms"].tolist() == [19 * H]  # the night it began in is no background


def test_the_alarm_ends_when_a_reading_shows_the_flow_stopped():
    totals = [20.0 * h for h in range(11)] + [200.0] * 3  # 20 L/h for ten hours, then nothing
    readings = frame([(m, ts, total, ts + 0.5) for m, ts, total in hourly("m1", totals)])
    episodes = run(readings)
    assert episodes[["started_ms", "raised_ms", "ended_ms"]].values.tolist() == [[0, int(8.5 * H), int(11.5 * H)]]


def test_an_ongoing_alarm_stays_open_while_the_flow_goes_on():
    readings = frame(hourly("m1", [20.0 * h for h in range(10)]))
    episodes = run(readings)
    assert episodes["raised_ms"].tolist() == [8 * H]
    assert episodes["ended_ms"].isna().all()
    assert run(readings[readings["ts_ms"] < 8 * H]).empty  # seven hours are not yet eight


def test_a_glitchy_register_does_not_fake_flow():
    # 100, 50, 100, 50, ...: the register never moved. Taking each dip as a reset would see 50 L/h.
    readings = frame(hourly("m1", [100.0, 50.0] * 8))
    assert run(readings).empty


def test_a_glitch_during_a_leak_does_not_end_it():
    totals = [20.0 * h for h in range(13)]
    totals[5] = 3.0  # one reading far below the register
    episodes = run(frame(hourly("m1", totals)))
    assert episodes[["started_ms", "raised_ms"]].values.tolist() == [[0, 8 * H]]


def test_an_impossible_step_is_not_flow():
    before = [20.0 * h for h in range(6)]  # five hours of flow
    after = [before[-1] + 20_000 + 20.0 * h for h in range(6)]  # a jump no meter can pass, then five more
    assert run(frame(hourly("m1", before + after))).empty
    steady = [20.0 * h for h in range(12)]
    assert len(run(frame(hourly("m1", steady)))) == 1


def test_a_gap_in_the_readings_breaks_the_run():
    flowing = [("m1", h, 20.0 * h) for h in [*range(5), *range(8, 17)]]  # no reading from hour 4 to 8
    episodes = run(frame(flowing))
    assert episodes[["started_ms", "raised_ms"]].values.tolist() == [[8 * H, 16 * H]]
    assert run(frame(flowing), max_interval_h=4)["started_ms"].tolist() == [0]


def test_a_meter_that_sends_daily_totals_cannot_prove_continuity():
    readings = frame([("m1", 24 * d, 480.0 * d) for d in range(10)])  # 20 L/h, read once a day
    assert run(readings).empty


def test_each_meter_is_judged_alone():
    readings = frame(hourly("leaking", [20.0 * h for h in range(12)]) + hourly("quiet", [5.0] * 12))
    assert run(readings)["meter_id"].tolist() == ["leaking"]


@pytest.mark.parametrize(
    "params",
    [{"min_hours": 0}, {"min_excess_l_per_h": -1}, {"max_background_l_per_h": -1}, {"background_nights": 0},
     {"background_nights": 2.5}, {"night_start_h": 5, "night_end_h": 1}, {"night_end_h": 25},
     {"timezone": "Mars/Olympus"}, {"max_interval_h": 0}, {"max_flow_l_per_h": 0}],
)
def test_bad_parameters_are_refused_at_fit(params):
    detector = ContinuousFlowDetector(**params)  # no logic in __init__
    with pytest.raises(ValueError):
        detector.fit()


@st.composite
def flowing_readings(draw):
    """A few meters over days: stretches of steady flow or drip, pauses, gaps, glitches and late batches."""
    rows = []
    for meter in ["a", "b"][: draw(st.integers(1, 2))]:
        t, total = 0, 1000.0
        for _ in range(draw(st.integers(0, 20))):
            gap = draw(st.sampled_from([15, 60, 60, 60, 90, 180]))  # minutes between readings in this stretch
            rate = draw(st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 20.0]))  # litres per hour
            for _ in range(draw(st.integers(1, 12))):
                t += gap * 60_000
                total += rate * gap / 60
                glitch = draw(st.sampled_from([0.0] * 19 + [-400.0]))
                delay = draw(st.sampled_from([0, 0, 60_000, 5 * H]))
                rows.append((meter, t, max(0.0, total + glitch), t + delay))
    return readings_frame(rows)


def replay(detector, readings, cuts, until_ms):
    """Step through the readings in arrival windows ending at ``cuts``; the closed episodes and the last carry."""
    carry, closed, lower = None, [], -np.inf
    for upper in sorted(set(cuts)) + [until_ms]:
        piece = readings[(readings["received_ms"] > lower) & (readings["received_ms"] <= upper)]
        episodes, carry = detector.step(piece, carry, until_ms=upper)
        closed.append(episodes[episodes["ended_ms"].notna()])
        lower = upper
    return concat_episodes(closed + [episodes[episodes["ended_ms"].isna()]]), carry


@settings(max_examples=80, deadline=None)
@given(readings=flowing_readings(), data=st.data())
def test_any_split_into_steps_gives_the_same_episodes_and_state(readings, data):
    # Flows near the threshold (5 or 6 L/h, against 3 above a learned 0-3 L/h drip), so the background decides.
    detector = ContinuousFlowDetector(min_hours=3, min_excess_l_per_h=3, background_nights=2, night_start_h=0,
                                      night_end_h=8, timezone="UTC").fit()
    until = int(readings["received_ms"].max()) + H if len(readings) else H
    cuts = data.draw(st.lists(st.integers(0, until), max_size=8))
    one_step, whole = detector.step(readings, None, until_ms=until)
    stepped, state = replay(detector, readings, cuts, until)
    assert canonical(stepped) == canonical(one_step)
    # The state carried forward (what the background was learned from) is the same too.
    whole, state = whole.sort_index(), state.sort_index()
    pd.testing.assert_frame_equal(state, whole, check_exact=False)


def test_the_night_sequence_finds_what_a_search_by_hand_finds():
    """Remembered nights (before every night) then learned ones; queries below, among and after them."""
    rng = np.random.default_rng(7)
    window, meters = 3, 4  # meters as positions: rows of ``remembered``
    remembered = np.full((meters, window), np.nan)
    remembered[0, 1:] = [2.0, 1.0]  # NaN on the left
    remembered[2, :] = [0.5, 3.0, 2.5]
    learned = pd.DataFrame({"meter": [0, 0, 1, 2, 2, 2], "night": [20_001, 20_004, 20_002, 20_000, 20_001, 20_005],
                            "rate": [0.2, 4.0, 1.5, 6.0, 0.1, 2.0]})
    sequence = _NightSequence(remembered, learned["meter"].to_numpy(), learned["night"].to_numpy(),
                              learned["rate"].to_numpy())
    queries = pd.DataFrame({"meter": rng.integers(0, meters, 200), "night": rng.integers(19_998, 20_008, 200)})

    def by_hand(meter, night):
        old = [r for r in remembered[meter] if not np.isnan(r)]
        new = learned[(learned["meter"] == meter) & (learned["night"] < night)]["rate"].tolist()
        return (old + new)[-window:]

    expected = [by_hand(m, n) for m, n in queries.itertuples(index=False)]
    lowest, found = sequence.lowest_before(queries["meter"].to_numpy(), queries["night"].to_numpy(), window)
    assert found.tolist() == [bool(e) for e in expected]
    np.testing.assert_array_equal(lowest[found], [min(e) for e in expected if e])
    last = sequence.last_before(queries["meter"].to_numpy(), queries["night"].to_numpy(), window)
    padded = [[np.nan] * (window - len(e)) + e for e in expected]
    np.testing.assert_array_equal(last, np.array(padded))
