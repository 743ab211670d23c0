"""The 12-hour inactivity rule, as the cadre would see it."""

import numpy as np
import pandas as pd
import pytest

from detect.inactivity import InactivityDetector
from tests.detect.readings import H, frame, hourly


def run(readings, until_h=None, **params):
    until = int((until_h if until_h is not None else readings["received_ms"].max() / H) * H)
    params.setdefault("trickle_l_per_h", 0.0)  # the plain rule: every step that moves is use
    episodes, _ = InactivityDetector(**params).fit().step(readings, None, until_ms=until)
    return episodes


def test_alarm_when_register_still_for_twelve_hours():
    # Use up to hour 3 (the reading at 3 is the first at the final total), then nothing.
    totals = [0, 5, 9, 12] + [12] * 14
    episodes = run(frame(hourly("m1", totals)))
    assert len(episodes) == 1
    ep = episodes.iloc[0]
    assert ep.severity == "alarm"
    assert ep.started_ms == 3 * H
    assert ep.raised_ms == 15 * H  # the first reading 12 h after the last use
    assert pd.isna(ep.ended_ms)


def test_no_alarm_before_the_ceiling():
    episodes = run(frame(hourly("m1", [0, 5] + [5] * 11)))  # 11 h of silence
    assert episodes.empty


def test_use_ends_the_alarm_at_the_arrival_of_the_reading_that_shows_it():
    totals = [0, 1] + [1] * 13 + [4, 6]
    readings = frame([(m, ts, total, ts + 0.5) for m, ts, total in hourly("m1", totals)])
    episodes = run(readings)
    assert episodes["ended_ms"].tolist() == [int(15.5 * H)]
    assert episodes["raised_ms"].tolist() == [int(13.5 * H)]


def test_missing_readings_do_not_hide_a_silence():
    # The register did not move between hour 1 and hour 14: no use, whatever came in between.
    episodes = run(frame([("m1", 0, 0), ("m1", 1, 3), ("m1", 14, 3)]))
    assert episodes["started_ms"].tolist() == [1 * H]
    assert episodes["raised_ms"].tolist() == [14 * H]


def test_missing_readings_never_raise_inactivity():
    # The meter went quiet after use: there is no evidence of silence, so no inactivity.
    episodes = run(frame([("m1", 0, 0), ("m1", 1, 3)]), until_h=40)
    assert episodes.empty


def test_a_small_step_below_min_use_is_not_use():
    totals = [0, 10] + list(np.arange(10.5, 17.0, 0.5))  # +0.5 L per hour for 13 h
    assert run(frame(hourly("m1", totals))).empty
    assert len(run(frame(hourly("m1", totals)), min_use_l=0.5)) == 1


def test_a_counter_going_backwards_is_not_use():
    totals = [0, 10] + [10] * 5 + [0] * 8  # meter reset mid-silence
    episodes = run(frame(hourly("m1", totals)))
    assert episodes["started_ms"].tolist() == [1 * H]


def test_late_old_reading_does_not_move_the_state():
    rows = hourly("m1", [0, 2] + [2] * 12)
    rows.append(("m1", 5.5, 7, 20))  # an old reading arriving late with a different total
    episodes = run(frame(rows))
    assert episodes["started_ms"].tolist() == [1 * H]


def test_each_meter_is_judged_alone():
    rows = hourly("quiet", [0, 1] + [1] * 13) + hourly("busy", list(range(15)))
    episodes = run(frame(rows))
    assert episodes["meter_id"].tolist() == ["quiet"]


def test_ceiling_is_a_parameter():
    readings = frame(hourly("m1", [0, 1] + [1] * 9))
    assert run(readings, ceiling_h=12).empty
    assert len(run(readings, ceiling_h=8)) == 1


@pytest.mark.parametrize("params", [{"ceiling_h": 0}, {"ceiling_h": -1}, {"min_use_l": -0.1}])
def test_bad_parameters_are_refused_at_fit(params):
    detector = InactivityDetector(**params)  # no logic in __init__
    with pytest.raises(ValueError):
        detector.fit()


def test_late_old_reading_in_a_later_tick_does_not_move_the_state():
    detector = InactivityDetector().fit()
    first, carry = detector.step(frame(hourly("m1", [0, 2] + [2] * 12)), None, until_ms=14 * H)
    late = frame([("m1", 5.5, 7, 15)])
    second, _ = detector.step(late, carry, until_ms=15 * H)
    assert second["started_ms"].tolist() == [1 * H]
    assert second["raised_ms"].tolist() == first["raised_ms"].tolist() == [13 * H]
    assert second["ended_ms"].isna().all()  # still silent: the old reading is no evidence of use


def away(meter, start_h, end_h):
    return pd.DataFrame({"meter_id": [meter], "start_ms": [int(start_h * H)], "end_ms": [int(end_h * H)]})


def test_a_household_away_raises_nothing_inside_its_window():
    readings = frame(hourly("m1", [0, 5] + [5] * 40))  # silent from hour 1 to 41
    episodes, _ = InactivityDetector().fit().step(readings, None, until_ms=41 * H, away=away("m1", 2, 60))
    assert episodes.empty


def test_a_silence_after_the_window_is_measured_from_its_end():
    readings = frame(hourly("m1", [0, 5] + [5] * 40))  # silent from hour 1 to 41
    episodes, _ = InactivityDetector().fit().step(readings, None, until_ms=41 * H, away=away("m1", 2, 20))
    assert episodes[["started_ms", "raised_ms"]].to_dict("records") == [{"started_ms": 20 * H, "raised_ms": 32 * H}]


def test_an_away_window_ends_an_open_alert_and_touches_no_other_meter():
    readings = frame(hourly("m1", [0, 5] + [5] * 20) + hourly("m2", [0, 5] + [5] * 20))
    episodes, _ = InactivityDetector().fit().step(readings, None, until_ms=21 * H, away=away("m1", 16, 40))
    by_meter = episodes.set_index("meter_id")
    assert by_meter.loc["m1", "ended_ms"] == 16 * H  # the first reading inside the window ends it
    assert pd.isna(by_meter.loc["m2", "ended_ms"])


def test_away_windows_keep_stepping_split_invariant():
    readings = frame(hourly("m1", [0, 5] + [5] * 40))
    window = away("m1", 6, 20)
    whole, _ = InactivityDetector().fit().step(readings, None, until_ms=41 * H, away=window)
    detector, carry = InactivityDetector().fit(), None
    for begin in range(0, 42, 7):
        part = readings[(readings["ts_ms"] >= begin * H) & (readings["ts_ms"] < (begin + 7) * H)]
        episodes, carry = detector.step(part, carry, until_ms=(begin + 7) * H - 1, away=window)
    pd.testing.assert_frame_equal(episodes.reset_index(drop=True), whole.reset_index(drop=True))


def test_a_creeping_register_is_a_drip_not_use():
    # Used up to hour 2, then 1 L every two hours: a drip moves the register steadily.
    totals = [0, 5, 9] + [9 + (i + 1) // 2 for i in range(14)]
    episodes = run(frame(hourly("m1", totals)), trickle_l_per_h=1.0, trickle_gap_h=3.0)
    assert episodes[["started_ms", "raised_ms"]].to_dict("records") == [{"started_ms": 2 * H, "raised_ms": 14 * H}]
    assert run(frame(hourly("m1", totals))).empty  # the plain rule is blind to it


def test_small_uses_with_long_pauses_are_use():
    # 1 L now and then, four hours apart: a person, not a drip.
    totals = [0, 5] + [5 + (i + 1) // 4 for i in range(16)]
    assert run(frame(hourly("m1", totals)), trickle_l_per_h=1.0, trickle_gap_h=3.0).empty


def test_a_creeping_register_split_across_steps_gives_the_same_episodes():
    totals = [0, 5, 9] + [9 + (i + 1) // 2 for i in range(14)]
    readings = frame(hourly("m1", totals))
    detector = InactivityDetector(trickle_l_per_h=1.0).fit()
    whole, _ = detector.step(readings, None, until_ms=16 * H)
    carry = None
    for begin in range(0, 17, 3):
        part = readings[(readings["ts_ms"] >= begin * H) & (readings["ts_ms"] < (begin + 3) * H)]
        episodes, carry = detector.step(part, carry, until_ms=(begin + 3) * H - 1)
    pd.testing.assert_frame_equal(episodes.reset_index(drop=True), whole.reset_index(drop=True))
