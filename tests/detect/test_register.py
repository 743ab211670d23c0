"""The rules for messy register readings: what counts as water used, and what the cadre then sees."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.inactivity import InactivityDetector
from detect.register import CARRY_COLUMNS, NOTES, consumption_steps
from tests.detect.readings import H, frame, hourly
from tests.detect.test_estimators import canonical, stepwise


def judge(rows: list[tuple]) -> tuple[list[float], list[str | None]]:
    steps, _ = consumption_steps(frame(rows), None)
    return steps["consumption_l"].tolist(), steps["note"].tolist()


def alarms(rows: list[tuple], until_h: float | None = None) -> pd.DataFrame:
    readings = frame(rows)
    until = int(until_h * H) if until_h is not None else int(readings["received_ms"].max())
    episodes, _ = InactivityDetector().fit().step(readings, None, until_ms=until)
    return episodes


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == pytest.approx(y) for x, y in zip(a, b))


# Rule 1: a one-reading glitch backwards


def test_a_glitch_down_and_back_is_no_use():
    used, notes = judge(hourly("m1", [100, 50, 100]))
    assert same(used, [np.nan, 0, 0])  # not +50 from the low value
    assert notes == [None, "suspect", "glitch"]


def test_use_after_a_glitch_is_counted_from_the_baseline():
    used, notes = judge(hourly("m1", [100, 50, 103, 104]))
    assert same(used, [np.nan, 0, 3, 1])
    assert notes == [None, "suspect", "glitch", None]


# Rule 2: reset or replaced meter


def test_a_confirmed_low_reading_is_a_reset_and_use_counts_from_it():
    used, notes = judge(hourly("m1", [1000, 1005, 3, 8, 13]))
    assert same(used, [np.nan, 5, 0, 5, 5])  # the reset step itself is no use
    assert notes == [None, None, "suspect", "reset", None]


def test_a_lower_second_reading_becomes_the_suspect():
    used, notes = judge(hourly("m1", [100, 50, 30, 30, 32]))
    assert same(used, [np.nan, 0, 0, 0, 2])
    assert notes == [None, "suspect", "suspect", "reset", None]


def test_after_a_reset_the_alarm_ends_with_the_first_use_and_does_not_run_for_ever():
    # Still for 13 h (alarm), the meter is replaced (reads 2, 2), then the household uses water.
    rows = hourly("m1", [500, 520] + [520] * 13 + [2, 2] + [5 + 3 * i for i in range(20)])
    episodes = alarms(rows)
    assert len(episodes) == 1
    assert episodes.iloc[0].started_ms == 1 * H
    assert episodes.iloc[0].ended_ms == 17 * H  # the first reading showing use on the new meter


# Rule 3: rollover at the register width


@pytest.mark.parametrize("width", [100_000_000, 10_000_000, 1_000_000])
def test_a_rollover_counts_the_unwrapped_step(width):
    used, notes = judge(hourly("m1", [width - 10, 15, 20]))
    assert same(used, [np.nan, 25, 5])
    assert notes == [None, "rollover", None]


def test_a_rollover_from_99_999_990_litres_to_15_counts_25_litres():
    used, notes = judge(hourly("m1", [99_999_990, 15]))
    assert used[1] == 25
    assert notes[1] == "rollover"


def test_an_implausible_rollover_is_not_one():
    used, notes = judge(hourly("m1", [95_000_000, 15]))  # 5,000,015 L in an hour
    assert used[1] == 0
    assert notes[1] == "suspect"


# Rule 4: impossible consumption


def test_248000_litres_in_one_hour_is_no_use_and_the_baseline_moves():
    used, notes = judge(hourly("m1", [1000, 249_000, 249_005]))
    assert same(used, [np.nan, 0, 5])
    assert notes == [None, "impossible", None]


@pytest.mark.parametrize(("litres", "counted"), [(3125, True), (3126, False)])
def test_the_largest_plausible_step_is_the_meters_overload_flow(litres, counted):
    used, _ = judge(hourly("m1", [1000, 1000 + litres]))
    assert used[1] == (litres if counted else 0)


def test_readings_close_together_are_judged_over_at_least_a_minute():
    # 10 s apart: 52 L is within 3125 L/h over one minute, 53 L is not.
    used, notes = judge([("m1", 0, 1000), ("m1", 10 / 3600, 1052), ("m1", 20 / 3600, 1105)])
    assert same(used, [np.nan, 52, 0])
    assert notes == [None, None, "impossible"]


def test_a_spike_inside_a_still_period_does_not_prevent_the_alarm():
    rows = hourly("m1", [0, 10] + [10] * 5 + [248_010] + [248_010] * 7)
    episodes = alarms(rows)
    assert episodes["started_ms"].tolist() == [1 * H]
    assert episodes["raised_ms"].tolist() == [13 * H]


# Rule 5: unit mix-ups


def test_cubic_metres_sent_as_litres_are_reinterpreted():
    used, notes = judge(hourly("m1", [123_456, 123.461, 123_470]))
    assert same(used, [np.nan, 5, 9])
    assert notes == [None, "unit_m3_as_l", None]


def test_litres_sent_as_cubic_metres_are_reinterpreted():
    used, notes = judge(hourly("m1", [123_456, 123_461_000, 123_470]))
    assert same(used, [np.nan, 5, 9])
    assert notes == [None, "unit_l_as_m3", None]


def test_a_unit_mix_up_of_an_unmoved_register_is_no_use():
    used, notes = judge(hourly("m1", [123_456, 123.456, 123_456_000, 123_456]))
    assert same(used, [np.nan, 0, 0, 0])
    assert notes == [None, "unit_m3_as_l", "unit_l_as_m3", None]


def test_a_small_register_going_back_is_not_read_as_a_unit_mix_up():
    used, notes = judge(hourly("m1", [2, 1, 2]))
    assert same(used, [np.nan, 0, 0])
    assert notes == [None, "suspect", "glitch"]


# Rule 6: duplicates and out-of-order readings


def test_duplicate_and_out_of_order_readings_are_stale_and_move_nothing():
    rows = [("m1", 0, 100, 0), ("m1", 2, 100, 2), ("m1", 2, 900, 2.5), ("m1", 1, 500, 3), ("m1", 3, 100, 3)]
    steps, carry = consumption_steps(frame(rows), None)
    assert steps["note"].tolist() == [None, None, "stale", "stale", None]
    assert same(steps["consumption_l"].tolist(), [np.nan, 0, 0, 0, 0])
    assert carry.loc["m1", "base_l"] == 100


# What the cadre sees


def test_a_glitch_inside_a_13_hour_still_period_does_not_prevent_the_alarm():
    rows = hourly("m1", [0, 10] + [10] * 6 + [4] + [10] * 6)  # one low reading at hour 8
    episodes = alarms(rows)
    assert episodes["started_ms"].tolist() == [1 * H]
    assert episodes["raised_ms"].tolist() == [13 * H]
    assert episodes["ended_ms"].isna().all()


def test_a_meter_replacement_while_the_household_uses_water_raises_no_alarm():
    old = hourly("m1", [80_000 + 4 * i for i in range(6)])
    new = hourly("m1", [3 * i for i in range(20)], start_h=6)  # the new meter starts at zero
    assert alarms(old + new, until_h=30).empty


# Any split into arrival-ordered pieces gives the one-piece result


@st.composite
def messy_readings(draw):
    """Meters whose registers glitch, reset, roll over, spike, mix units, repeat and arrive late."""
    rows = []
    for meter in ["a", "b"][: draw(st.integers(1, 2))]:
        t, total = 0, draw(st.sampled_from([0.0, 5_000.0, 123_456.0, 99_999_000.0]))
        for _ in range(draw(st.integers(0, 30))):
            t += draw(st.sampled_from([0, 10, 60, 60, 60, 600])) * 60_000  # 0: a duplicate ts
            kind = draw(st.sampled_from(["still", "still", "use", "use", "glitch", "reset", "spike", "m3", "l"]))
            value = total
            if kind == "use":
                total = value = total + draw(st.sampled_from([0.5, 3.0, 40.0, 900.0]))
            elif kind == "glitch":
                value = total / 2
            elif kind == "reset":
                total = value = draw(st.sampled_from([0.0, 7.0]))
            elif kind == "spike":
                total = value = total + 248_000
            elif kind == "m3":
                value = total / 1000
            elif kind == "l":
                value = total * 1000
            if total >= 100_000_000:
                total = value = total - 100_000_000
            delay = draw(st.sampled_from([0, 0, 60_000, 3 * H]))
            rows.append((meter, t, value, t + delay))
    readings = pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])
    return readings.assign(row=np.arange(len(readings)))


def in_pieces(readings: pd.DataFrame, cuts: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    carry, steps, lower = None, [], -np.inf
    for upper in sorted(set(cuts)) + [np.inf]:
        piece = readings[(readings["received_ms"] > lower) & (readings["received_ms"] <= upper)]
        piece_steps, carry = consumption_steps(piece, carry)
        steps.append(piece_steps)
        lower = upper
    return pd.concat(steps), carry


@settings(max_examples=150, deadline=None)
@given(readings=messy_readings(), data=st.data())
def test_any_split_into_pieces_gives_the_one_piece_result(readings, data):
    until = int(readings["received_ms"].max()) if len(readings) else 0
    cuts = data.draw(st.lists(st.integers(0, until), max_size=6))
    whole, whole_carry = consumption_steps(readings, None)
    pieces, pieces_carry = in_pieces(readings, cuts)
    whole, pieces = whole.set_index("row").sort_index(), pieces.set_index("row").sort_index()
    assert same(whole["consumption_l"].tolist(), pieces["consumption_l"].tolist())
    assert whole["note"].tolist() == pieces["note"].tolist()
    pd.testing.assert_frame_equal(whole_carry.sort_index(), pieces_carry.sort_index())
    assert list(whole_carry.columns) == CARRY_COLUMNS
    assert not (whole["consumption_l"] < 0).any()
    assert set(whole["note"].dropna()) <= set(NOTES)


@settings(max_examples=60, deadline=None)
@given(readings=messy_readings(), data=st.data())
def test_the_inactivity_detector_on_messy_registers_is_split_invariant(readings, data):
    detector = InactivityDetector(ceiling_h=3).fit()
    until = int(readings["received_ms"].max()) + 10 * H if len(readings) else 10 * H
    cuts = data.draw(st.lists(st.integers(0, until), max_size=6))
    one_step, _ = detector.step(readings, None, until_ms=until)
    assert canonical(stepwise(detector, readings, cuts, until)) == canonical(one_step)
