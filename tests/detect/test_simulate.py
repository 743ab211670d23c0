"""The household simulator: plausible routines, meter timing and the incidents it labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detect.simulate import DRIFT_KINDS, INCIDENT_KINDS, Incident, simulate

START = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def start_ms(t: pd.Timestamp = START) -> int:
    return t.value // 1_000_000


def by_meter(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.sort_values(["meter_id", "ts_ms"], ignore_index=True)


def one_meter(sim, meter_id: str) -> pd.DataFrame:
    return by_meter(sim.readings[sim.readings["meter_id"] == meter_id])


def window(readings: pd.DataFrame, lo_ms: int, hi_ms: int) -> pd.DataFrame:
    return readings[(readings["ts_ms"] >= lo_ms) & (readings["ts_ms"] < hi_ms)]


@pytest.fixture(scope="module")
def month():
    return simulate(households=20, start=START, days=28, cadence_s=900, random_state=7)


def test_frames_have_the_documented_columns_and_order(month):
    r = month.readings
    assert list(r.columns) == ["meter_id", "ts_ms", "total_l", "received_ms"]
    assert [str(r[c].dtype) for c in ("ts_ms", "total_l", "received_ms")] == ["int64", "float64", "int64"]
    assert sorted(r["meter_id"].unique()) == [f"m{i:04d}" for i in range(20)]
    resorted = r.sort_values(["received_ms", "meter_id", "ts_ms"], ignore_index=True)
    pd.testing.assert_frame_equal(r, resorted)
    assert list(month.incidents.columns) == ["meter_id", "kind", "start_ms", "end_ms"]
    assert month.incidents.empty


def test_daily_use_is_plausible_and_varies(month):
    r = by_meter(month.readings)
    r["day"] = (r["ts_ms"] - start_ms()) // DAY_MS
    daily = r.groupby(["meter_id", "day"])["total_l"].agg(lambda x: x.iloc[-1] - x.iloc[0])
    median = daily.groupby("meter_id").median()
    assert median.between(40, 250).all(), median
    # Households differ from one another, and each household's days differ.
    assert median.std() > 5
    assert (daily.groupby("meter_id").std() > 10).all()


def test_use_follows_the_day_night_rhythm(month):
    r = by_meter(month.readings)
    r["use"] = r.groupby("meter_id")["total_l"].diff()
    hour = pd.to_datetime(r["ts_ms"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai").dt.hour
    night = r.loc[hour.between(1, 4), "use"].mean()
    evening = r.loc[hour.between(17, 19), "use"].mean()
    assert evening > 5 * night


def test_registers_never_decrease_and_are_floored_to_the_resolution():
    sim = simulate(households=10, start=START, days=60, cadence_s=3600, resolution_l=0.1, random_state=3)
    r = by_meter(sim.readings)
    assert (r.groupby("meter_id")["total_l"].diff().dropna() >= 0).all()
    assert np.allclose(r["total_l"] * 10, np.round(r["total_l"] * 10))
    first = r.groupby("meter_id")["total_l"].first()
    assert first.between(10_000, 500_000).all()


def test_same_seed_same_simulation_other_seed_other_simulation():
    args = dict(households=3, start=START, days=2, incidents=[Incident("m0001", "still_drip", START)])
    pd.testing.assert_frame_equal(simulate(**args, random_state=5).readings, simulate(**args, random_state=5).readings)
    assert not simulate(**args, random_state=5).readings.equals(simulate(**args, random_state=6).readings)


def test_each_meter_samples_on_its_cadence_with_its_own_phase(month):
    r = by_meter(month.readings)
    assert (r.groupby("meter_id")["ts_ms"].diff().dropna() == 900_000).all()
    first = r.groupby("meter_id")["ts_ms"].first() - start_ms()
    assert first.between(0, 899_999).all()
    assert first.nunique() > 10
    assert r["ts_ms"].max() < start_ms() + 28 * DAY_MS
    assert (r.groupby("meter_id").size() == 28 * 96).all()


def test_meter_ids_use_the_prefix():
    sim = simulate(households=2, start=START, days=0.5, meter_prefix="bj-")
    assert sorted(sim.readings["meter_id"].unique()) == ["bj-0000", "bj-0001"]


def test_streaming_meters_deliver_each_reading_within_seconds(month):
    delay = month.readings["received_ms"] - month.readings["ts_ms"]
    assert delay.between(1_000, 20_000).all()
    assert delay.nunique() > 100


def test_batch_meters_upload_a_window_of_readings_together():
    sim = simulate(households=5, start=START, days=7, cadence_s=900, upload_every_s=86_400, random_state=1)
    r = sim.readings
    assert (r["received_ms"] >= r["ts_ms"]).all()
    uploads = r.groupby(["meter_id", "received_ms"])["ts_ms"].agg(["min", "max", "size"]).reset_index()
    assert (uploads["max"] - uploads["min"] < DAY_MS).all()
    assert (uploads["received_ms"] - uploads["max"]).between(1_000, DAY_MS + 60_000).all()
    # One upload a day (the first and last windows are partial), each full window with a day of readings.
    per_meter = uploads.groupby("meter_id").size()
    assert per_meter.between(7, 8).all()
    assert uploads["size"].max() == 96
    # The meters upload at different times of day.
    assert (uploads.groupby("meter_id")["received_ms"].first() % DAY_MS).nunique() == 5


A_DAY = pd.Timedelta(hours=24)


def incident_sim(kind: str, *, hours_in: float = 24, duration: pd.Timedelta | None = A_DAY, **kwargs):
    inc = Incident("m0002", kind, START + pd.Timedelta(hours=hours_in), duration)
    args = dict(households=4, start=START, days=4, cadence_s=900, random_state=11) | kwargs
    return simulate(**args, incidents=[inc]), simulate(**args)


def test_still_freezes_the_register():
    sim, _ = incident_sim("still")
    row = sim.incidents.iloc[0]
    r = one_meter(sim, "m0002")
    during = window(r, row.start_ms, row.end_ms)
    assert len(during) == 96
    assert during["total_l"].nunique() == 1
    # The resident used water before and does again after.
    before = window(r, row.start_ms - DAY_MS, row.start_ms)
    after = window(r, row.end_ms, row.end_ms + DAY_MS)
    assert before["total_l"].iloc[-1] - before["total_l"].iloc[0] > 30
    assert after["total_l"].iloc[-1] - after["total_l"].iloc[0] > 30


def test_still_drip_creeps_but_no_use_exceeds_the_drip():
    sim, _ = incident_sim("still_drip", resolution_l=0.01)
    row = sim.incidents.iloc[0]
    during = window(one_meter(sim, "m0002"), row.start_ms, row.end_ms)
    step = during["total_l"].diff().dropna()
    hours = np.diff(during["ts_ms"].to_numpy()) / HOUR_MS
    assert (step > 0).all()
    assert (step <= 1.0 * hours + 0.01).all()
    assert (step >= 0.3 * hours - 0.01).all()


def test_dead_meter_sends_nothing_during_the_incident_and_the_household_lives_on():
    sim, normal = incident_sim("dead_meter")
    row = sim.incidents.iloc[0]
    r = one_meter(sim, "m0002")
    assert window(r, row.start_ms, row.end_ms).empty
    assert len(window(r, row.end_ms, row.end_ms + DAY_MS)) == 96
    # Outside the incident nothing changes: the register caught up with the use while the meter was dead.
    expected = one_meter(normal, "m0002")
    expected = expected[(expected["ts_ms"] < row.start_ms) | (expected["ts_ms"] >= row.end_ms)]
    pd.testing.assert_frame_equal(r, expected.reset_index(drop=True))
    gap = r[r["ts_ms"] >= row.end_ms]["total_l"].iloc[0] - r[r["ts_ms"] < row.start_ms]["total_l"].iloc[-1]
    assert gap > 30


def test_tap_running_shows_at_least_three_litres_a_minute():
    sim, normal = incident_sim("tap_running", duration=None)
    row = sim.incidents.iloc[0]
    assert row.end_ms - row.start_ms == 3 * HOUR_MS
    during = window(one_meter(sim, "m0002"), row.start_ms, row.end_ms)
    minutes = np.diff(during["ts_ms"].to_numpy()) / 60_000
    assert len(minutes) >= 10
    assert (during["total_l"].diff().dropna().to_numpy() >= 3 * minutes - 1).all()
    # Other households are not affected.
    pd.testing.assert_frame_equal(one_meter(sim, "m0001"), one_meter(normal, "m0001"))


def test_incident_frame_labels_each_incident():
    open_ended = Incident("m0000", "still", START + pd.Timedelta(hours=30))
    timed = Incident("m0001", "dead_meter", START + pd.Timedelta(hours=2), pd.Timedelta(hours=5))
    sim = simulate(households=2, start=START, days=2, incidents=[open_ended, timed])
    inc = sim.incidents
    assert inc["kind"].tolist() == ["still", "dead_meter"]
    assert inc["start_ms"].tolist() == [start_ms() + 30 * HOUR_MS, start_ms() + 2 * HOUR_MS]
    assert inc["end_ms"].tolist() == [start_ms() + 2 * DAY_MS, start_ms() + 7 * HOUR_MS]
    assert str(inc["start_ms"].dtype) == str(inc["end_ms"].dtype) == "int64"
    assert set(INCIDENT_KINDS) == {"still", "still_drip", "dead_meter", "tap_running"}
    assert set(DRIFT_KINDS) == {"late_morning", "low_volume", "night_use"}


def local_days(readings: pd.DataFrame) -> pd.DataFrame:
    """Per local day: litres, litres at night (00:00-05:00) and the hour of the first use from 04:00 on."""
    r = by_meter(readings)
    r["use"] = r["total_l"].diff()
    local = pd.to_datetime(r["ts_ms"] - 1, unit="ms", utc=True).dt.tz_convert("Asia/Shanghai")
    r["day"], r["hour"] = local.dt.normalize(), local.dt.hour + local.dt.minute / 60
    morning = r[(r["hour"] >= 4) & (r["use"] > 0)]
    return pd.DataFrame({
        "litres": r.groupby("day")["use"].sum(),
        "night_l": r[r["hour"] < 5].groupby("day")["use"].sum(),
        "first_use_h": morning.groupby("day")["hour"].min(),
    })


def drift_sim(kind: str):
    """Household m0002 drifts from day 3 for three days; the same households without the drift."""
    inc = Incident("m0002", kind, START + pd.Timedelta(days=3), pd.Timedelta(days=3))
    args = dict(households=4, start=START, days=8, cadence_s=900, random_state=5)
    return simulate(**args, incidents=[inc]), simulate(**args)


def drift_days(sim, normal):
    """The drifted household's days (3-5: the drift) beside the same days without it."""
    days = local_days(one_meter(sim, "m0002")).merge(local_days(one_meter(normal, "m0002")), left_index=True,
                                                     right_index=True, suffixes=("", "_usual"))
    return days.iloc[3:6], days


def test_late_morning_delays_the_first_use_of_each_day_by_hours():
    sim, normal = drift_sim("late_morning")
    during, days = drift_days(sim, normal)
    assert (during["first_use_h"] - during["first_use_h_usual"]).between(2.4, 4.6).all()
    # Before and after the drift, the household's days are what they would have been.
    outside = days.drop(during.index)
    assert (outside["first_use_h"] == outside["first_use_h_usual"]).all()


def test_low_volume_cuts_the_days_use_to_a_fraction():
    sim, normal = drift_sim("low_volume")
    during, _ = drift_days(sim, normal)
    assert (during["litres"] <= 0.45 * during["litres_usual"]).all()
    assert (during["litres"] > 0).all()  # the resident still uses water


def test_night_use_adds_trips_to_the_toilet_every_night():
    sim, normal = drift_sim("night_use")
    during, _ = drift_days(sim, normal)
    assert (during["night_l"] - during["night_l_usual"] >= 2 * 4.5).all()


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_a_drift_leaves_other_households_and_the_time_before_it_unchanged(kind):
    sim, normal = drift_sim(kind)
    for meter in ("m0000", "m0001", "m0003"):
        pd.testing.assert_frame_equal(one_meter(sim, meter), one_meter(normal, meter))
    before = start_ms(START + pd.Timedelta(days=3))
    pd.testing.assert_frame_equal(window(one_meter(sim, "m0002"), 0, before),
                                  window(one_meter(normal, "m0002"), 0, before))
    assert sim.incidents["kind"].tolist() == [kind]


def test_a_drift_does_not_change_the_draws_of_the_other_incidents():
    still = Incident("m0001", "still_drip", START + pd.Timedelta(hours=30), pd.Timedelta(hours=20))
    drift = Incident("m0002", "night_use", START + pd.Timedelta(days=1), pd.Timedelta(days=2))
    args = dict(households=3, start=START, days=4, cadence_s=900, random_state=2)
    with_drift, without = simulate(**args, incidents=[still, drift]), simulate(**args, incidents=[still])
    pd.testing.assert_frame_equal(one_meter(with_drift, "m0001"), one_meter(without, "m0001"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(incidents=[Incident("m0000", "fell_over", START)]), "unknown incident kind"),
        (dict(incidents=[Incident("m0099", "still", START)]), "unknown meter"),
        (dict(incidents=[Incident("m0000", "still", pd.Timestamp("2024-03-01 08:00"))]), "no time zone"),
        (dict(incidents=[Incident("m0000", "still", START + pd.Timedelta(days=5))]), "outside the simulated"),
        (dict(incidents=[Incident("m0000", "still", START, pd.Timedelta(hours=-1))]), "duration must be positive"),
        (dict(start=pd.Timestamp("2024-03-01")), "no time zone"),
        (dict(days=0), "days must be positive"),
        (dict(days=-1), "days must be positive"),
        (dict(cadence_s=0), "cadence_s must be a positive"),
        (dict(upload_every_s=0), "upload_every_s must be positive"),
        (dict(households=0), "households must be at least 1"),
        (dict(timezone="Mars/Olympus"), "unknown timezone"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, message):
    args = dict(households=2, start=START, days=1) | kwargs
    with pytest.raises(ValueError, match=message):
        simulate(**args)
