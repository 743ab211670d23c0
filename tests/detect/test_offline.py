"""Meter offline: judged by each meter's own upload rhythm, never confused with a still household."""

import numpy as np
import pandas as pd
import pytest

from detect.episodes import in_order, sort_readings
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
from tests.detect.readings import H, frame, hourly


def run(readings, until_h, **params):
    episodes, _ = OfflineDetector(**params).fit().step(readings, None, until_ms=int(until_h * H))
    return episodes


def test_hourly_meter_that_stops_is_offline_after_tolerance_times_its_cadence():
    readings = frame(hourly("m1", list(range(10))))  # last upload at hour 9
    episodes = run(readings, until_h=20)
    assert episodes["started_ms"].tolist() == [9 * H]
    assert episodes["raised_ms"].tolist() == [int(11.5 * H)]  # 2.5 x 1 h
    assert pd.isna(episodes["ended_ms"].iloc[0])
    assert run(readings, until_h=11).empty


def test_daily_batch_meter_is_judged_by_its_daily_rhythm():
    # 24 readings a day, uploaded together once a day at 01:00.
    rows = [("m1", day * 24 + h, day * 100 + h, day * 24 + 25) for day in range(5) for h in range(24)]
    readings = frame(rows)
    assert run(readings, until_h=4 * 24 + 25 + 35).empty  # 35 h after the last upload: 11 h late, fine
    late = run(readings, until_h=4 * 24 + 25 + 37)
    assert late["raised_ms"].tolist() == [int((4 * 24 + 25 + 36) * H)]  # the day's upload is 12 h overdue
    assert run(readings, until_h=4 * 24 + 25 + 59, max_late_h=48).empty  # or 2.5 days, when allowed


def test_an_hourly_meter_is_judged_by_the_tolerance_not_the_lateness_cap():
    readings = frame(hourly("m1", list(range(10))))
    assert run(readings, until_h=9 + 2.4).empty
    assert len(run(readings, until_h=9 + 2.6)) == 1


def test_gap_that_ended_is_a_closed_episode():
    rows = hourly("m1", list(range(6))) + hourly("m1", [10, 11], start_h=12)
    episodes = run(frame(rows), until_h=13)
    assert episodes[["started_ms", "raised_ms"]].values.tolist() == [[5 * H, int(7.5 * H)]]
    assert episodes["ended_ms"].tolist() == [12 * H]


def test_minimum_silence_for_fast_meters():
    rows = [("m1", i / 4, i) for i in range(20)]  # every 15 min
    assert run(frame(rows), until_h=19 / 4 + 0.9).empty  # 2.5 x 15 min < 1 h floor
    assert len(run(frame(rows), until_h=19 / 4 + 1.1)) == 1


def test_new_meter_uses_the_default_cadence():
    readings = frame([("m1", 0, 1)])
    assert run(readings, until_h=35).empty  # a day's cadence, and 12 h late
    assert len(run(readings, until_h=37)) == 1


def test_a_dead_meter_raises_offline_and_never_inactivity():
    readings = frame(hourly("m1", [0, 3, 5, 8]))  # used water, then the meter died
    offline = run(readings, until_h=30)
    inactivity, _ = InactivityDetector().fit().step(readings, None, until_ms=30 * H)
    assert len(offline) == 1
    assert inactivity.empty


@pytest.mark.parametrize("params", [{"tolerance": 1}, {"min_hours": 0}, {"window": 0}, {"window": 2.5}])
def test_bad_parameters_are_refused_at_fit(params):
    with pytest.raises(ValueError):
        OfflineDetector(**params).fit()



def step_in_pieces(readings, cuts_h):
    """The episodes of an offline detector stepped through the readings arriving before each cut, and its carry."""
    detector, carry, found, begin = OfflineDetector().fit(), None, [], 0
    for end in (int(h * H) for h in cuts_h):
        piece = readings[(readings["received_ms"] >= begin) & (readings["received_ms"] < end)]
        episodes, carry = detector.step(piece, carry, until_ms=end - 1)
        found.append(episodes)
        begin = end
    return pd.concat(found, ignore_index=True), carry


def test_readings_in_order_are_judged_as_readings_in_any_order():
    # Readings in ``sort_readings`` order with integer meter codes (as the monitor and a backtest
    # hand them) take a path that neither hashes nor sorts; it must judge as the general one.
    rows = []
    for m, (cadence_h, per_upload) in enumerate([(1, 1), (0.25, 8), (1, 24), (2, 3)]):
        hours = np.arange(0, 200, cadence_h)
        hours = hours[(hours < 80) | (hours > 80 + 20 * (m + 1))]  # an outage each, of its own length
        uploads = (np.floor(hours / (cadence_h * per_upload)) + 1) * cadence_h * per_upload + 0.01 * m
        rows += [(f"m{m}", h, float(i), u) for i, (h, u) in enumerate(zip(hours, uploads))]
    readings = frame(rows)
    readings = pd.concat([readings, readings.sample(frac=0.05, random_state=1)])  # readings sent twice
    shuffled = readings.sample(frac=1.0, random_state=2).reset_index(drop=True)
    codes, names = pd.factorize(readings["meter_id"], sort=True)
    ordered = sort_readings(readings.assign(meter_id=codes.astype("int64")))
    assert in_order(ordered) and not in_order(shuffled)
    cuts_h = [7, 30, 31, 55, 90, 100, 101, 130, 160, 230]

    general, general_carry = step_in_pieces(shuffled, cuts_h)
    fast, fast_carry = step_in_pieces(ordered, cuts_h)
    assert general["ended_ms"].notna().sum() >= 4  # every outage was seen
    pd.testing.assert_frame_equal(fast.assign(meter_id=names[fast["meter_id"].to_numpy("int64")]), general,
                                  check_dtype=False)
    fast_carry.index = names[fast_carry.index.to_numpy("int64")]
    pd.testing.assert_frame_equal(fast_carry.sort_index(), general_carry.sort_index(), check_index_type=False)
