"""The WEUSEDTO apartment as meter readings: plausible volumes, honest gaps, and incidents that do what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detect.simulate import INCIDENT_KINDS, Incident, simulate
from detect.weusedto import (
    CADENCES,
    SAMPLED_FIXTURES,
    TIMEZONE,
    default_path,
    incidents_frame,
    inject_flows,
    inject_readings,
    load_flows,
    mean_l_per_day,
    monitored_periods,
    to_readings,
    weusedto_dataset,
    weusedto_untouched,
)

H = 3_600_000
DAY = 24 * H
LATENCY_MS = 10_000  # to_readings' default latency_s
# A quiet stretch of a long monitored period (7 June to 9 July 2019) for injected incidents.
AT = pd.Timestamp("2019-06-18 08:00", tz=TIMEZONE).value // 1_000_000


@pytest.fixture(scope="module")
def path():
    found = default_path()
    if found is None:
        pytest.skip("the WEUSEDTO data is not at ../shared/data/weusedto")
    return found


@pytest.fixture(scope="module")
def flows(path):
    return load_flows(path)


@pytest.fixture(scope="module")
def periods(flows):
    return monitored_periods(flows)


@pytest.fixture(scope="module")
def gap_rate(flows, periods):
    """The untouched household's rate while the meter is offline, so that an incident changes only its window."""
    return mean_l_per_day(flows, periods)


@pytest.fixture(scope="module")
def readings(flows, periods):
    return {cadence: to_readings(flows, cadence=cadence, periods=periods) for cadence in CADENCES}


def local(ms) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ms), unit="ms", utc=True).tz_convert(TIMEZONE)


def inside(ts_ms: np.ndarray, periods: pd.DataFrame) -> np.ndarray:
    start, end = periods["start_ms"].to_numpy(), periods["end_ms"].to_numpy()
    i = np.searchsorted(start, ts_ms, side="right") - 1
    return (i >= 0) & (ts_ms < end[np.maximum(i, 0)])


def window(frame: pd.DataFrame, lo_ms: int, hi_ms: int) -> pd.DataFrame:
    return frame[(frame["ts_ms"] >= lo_ms) & (frame["ts_ms"] <= hi_ms)]


def test_the_flows_are_in_plausible_units(flows):
    running = flows[(flows["fixture"] == "Shower") & (flows["litres"] > 0)]
    l_per_min = running["litres"] / (running["end_ms"] - running["start_ms"]) * 60_000
    assert 3 <= l_per_min.median() <= 12  # a shower head: mL/s read as such
    flush = flows.loc[(flows["fixture"] == "Toilet") & (flows["litres"] > 0), "litres"]
    assert 3 <= flush.median() <= 9  # a cistern
    # A gap between samples never becomes volume: a sample holds for at most 4 s.
    sampled = flows[flows["fixture"].isin(SAMPLED_FIXTURES)]
    assert (sampled["end_ms"] - sampled["start_ms"]).max() <= 4000


def test_a_fully_recorded_day_uses_what_one_person_uses(flows, periods):
    midnights = pd.date_range("2019-02-01", "2020-12-01", freq="D", tz=TIMEZONE).as_unit("ms").asi8
    whole = inside(midnights[:-1], periods) & inside(midnights[1:] - 1, periods)
    whole &= np.searchsorted(periods["start_ms"], midnights[:-1], "right") == np.searchsorted(
        periods["start_ms"], midnights[1:] - 1, "right"
    )
    day = np.searchsorted(midnights, flows["start_ms"].to_numpy(), side="right") - 1
    litres = np.bincount(day[day >= 0], weights=flows["litres"].to_numpy()[day >= 0], minlength=len(midnights))
    daily = litres[: len(midnights) - 1][whole]
    assert len(daily) > 250
    assert 40 <= np.median(daily) <= 150
    assert np.quantile(daily, 0.95) < 300


def test_monitored_periods_cover_both_years_and_leave_out_the_outages(flows, periods):
    start, end = periods["start_ms"].to_numpy(), periods["end_ms"].to_numpy()
    days = (end - start) / DAY
    year = local(start).year
    assert 220 < days[year == 2019].sum() < 260  # mid-February to the end of October 2019
    assert 110 < days[year == 2020].sum() < 125  # July to early November 2020
    assert ((start[1:] - end[:-1]) > H).all()
    assert not inside(np.array([pd.Timestamp("2020-02-01", tz=TIMEZONE).value // 1_000_000]), periods).any()
    # Inside a period some sensor always reported within the hour; a 3-day rule would let outages through.
    beats = np.sort(flows.loc[flows["fixture"].isin(SAMPLED_FIXTURES), "start_ms"].to_numpy())
    kept = beats[inside(beats, periods)]
    same_period = np.diff(np.searchsorted(start, kept, side="right")) == 0
    assert (np.diff(kept)[same_period] <= H).all()
    assert len(monitored_periods(flows, max_gap="3D")) < len(periods)


@pytest.mark.parametrize("cadence", CADENCES)
def test_readings_are_a_register_read_only_while_the_data_set_was_recording(readings, periods, cadence):
    r = readings[cadence]
    assert list(r.columns) == ["meter_id", "ts_ms", "total_l", "received_ms"]
    assert [str(r[c].dtype) for c in ("ts_ms", "total_l", "received_ms")] == ["int64", "float64", "int64"]
    by_ts = r.sort_values(["meter_id", "ts_ms"])
    assert (by_ts.groupby("meter_id")["total_l"].diff().dropna() >= 0).all()
    assert inside(r["ts_ms"].to_numpy(), periods).all()
    step = 900_000 if cadence == "15min" else H
    assert (r["ts_ms"] % step == 0).all()
    # Back from an outage, the register shows that water was used meanwhile, not a silence.
    gaps = np.flatnonzero(np.diff(by_ts["ts_ms"].to_numpy()) > 2 * H)
    assert len(gaps) >= len(periods) // 2
    assert (np.diff(by_ts["total_l"].to_numpy())[gaps] > 0).all()


def test_streamed_readings_arrive_just_after_they_are_taken(readings):
    for cadence in ("15min", "1h"):
        r = readings[cadence]
        assert ((r["received_ms"] - r["ts_ms"]) == LATENCY_MS).all()


def test_daily_batches_arrive_at_the_nightly_upload(readings):
    r = readings["daily"]
    upload = r["received_ms"].to_numpy() - LATENCY_MS
    at = local(upload)
    assert set(zip(at.hour, at.minute, at.second)) <= {(2, 0, 0), (3, 0, 0)}
    # 02:00 does not exist on the spring-forward day (31 March 2019): that upload is at 03:00.
    assert set(at[at.hour == 3].strftime("%Y-%m-%d")) == {"2019-03-31"}
    ts = r["ts_ms"].to_numpy()
    assert (upload >= ts).all() and (upload - ts <= 25 * H).all()
    assert r.groupby("received_ms").size().max() == 25  # the fall-back day has 25 hours
    assert r["received_ms"].is_monotonic_increasing


def test_still_keeps_the_register_flat(flows, periods, gap_rate, readings):
    incident = incidents_frame([("weusedto", "still", AT, AT + DAY)])
    r = to_readings(inject_flows(flows, incident), cadence="1h", periods=periods, gap_l_per_day=gap_rate)
    assert window(readings["1h"], AT, AT + DAY)["total_l"].nunique() > 1  # that day, the resident did use water
    assert window(r, AT, AT + DAY)["total_l"].nunique() == 1
    pd.testing.assert_frame_equal(window(r, 0, AT), window(readings["1h"], 0, AT))


@pytest.mark.parametrize("rate", [2.0, 0.5])
def test_still_drip_raises_the_register_by_the_drip_alone(flows, periods, gap_rate, rate):
    incident = incidents_frame([("weusedto", "still_drip", AT, AT + DAY)])
    changed = inject_flows(flows, incident, drip_l_per_h=rate)
    r = to_readings(changed, cadence="15min", periods=periods, gap_l_per_day=gap_rate)
    totals = window(r, AT, AT + DAY)["total_l"].to_numpy()
    assert (np.diff(totals) <= rate / 4 + 1).all()  # nothing but the drip
    assert abs(totals[-1] - totals[0] - 24 * rate) <= 1  # the register's resolution is a litre


def test_a_dead_meter_sends_nothing_and_comes_back(flows, periods, readings):
    incident = incidents_frame([("weusedto", "dead_meter", AT, AT + DAY)])
    untouched = readings["daily"]
    r = inject_readings(untouched, incident)
    assert window(r, AT, AT + DAY - 1).empty
    assert len(untouched) - len(r) == 24
    after = window(r, AT + DAY, AT + 2 * DAY).reset_index(drop=True)
    pd.testing.assert_frame_equal(after, window(untouched, AT + DAY, AT + 2 * DAY).reset_index(drop=True))


def test_a_running_tap_adds_15_litres_an_hour(flows, periods, gap_rate, readings):
    incident = incidents_frame([("weusedto", "tap_running", AT, AT + 3 * H)])
    r = to_readings(inject_flows(flows, incident), cadence="1h", periods=periods, gap_l_per_day=gap_rate)
    extra = r.set_index("ts_ms")["total_l"] - readings["1h"].set_index("ts_ms")["total_l"]
    assert (extra[extra.index < AT] == 0).all()
    assert abs(extra[AT + 3 * H] - 45) <= 1
    assert abs(extra.iloc[-1] - 45) <= 1


def test_the_dataset_is_reproducible_and_labelled_like_the_simulator(path, flows, periods):
    first = weusedto_dataset(path, "1h", incidents_per_month=2, random_state=3, flows=flows)
    again = weusedto_dataset(path, "1h", incidents_per_month=2, random_state=3, flows=flows)
    other = weusedto_dataset(path, "1h", incidents_per_month=2, random_state=4, flows=flows)
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    assert not first[1].equals(other[1])

    readings, incidents = first
    start = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
    simulated = simulate(households=1, start=start, days=1, incidents=[Incident("m0000", "still", start)]).incidents
    assert incidents.dtypes.to_dict() == simulated.dtypes.to_dict()
    assert list(readings.columns) == ["meter_id", "ts_ms", "total_l", "received_ms"]
    assert readings.equals(readings.sort_values(["received_ms", "meter_id", "ts_ms"], ignore_index=True))

    months = (periods["end_ms"] - periods["start_ms"]).sum() / (30 * DAY)
    assert len(incidents) == round(2 * months)
    assert set(incidents["kind"]) == set(INCIDENT_KINDS)
    spans = incidents[["start_ms", "end_ms"]].to_numpy()
    assert inside(spans[:, 0], periods).all() and inside(spans[:, 1], periods).all()
    assert (spans[1:, 0] > spans[:-1, 1]).all()
    for row in incidents.itertuples():
        seen = window(readings, row.start_ms, row.end_ms)
        if row.kind == "dead_meter":
            assert seen[seen["ts_ms"] < row.end_ms].empty
        elif row.kind == "still":
            assert seen["total_l"].nunique() == 1


def test_the_untouched_household_has_no_incidents(path, flows, readings):
    untouched, incidents = weusedto_untouched(path, "1h", flows=flows)
    assert incidents.empty and list(incidents.columns) == ["meter_id", "kind", "start_ms", "end_ms"]
    pd.testing.assert_frame_equal(untouched, readings["1h"])
