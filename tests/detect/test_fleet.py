"""Fleet outages: many meters silent at once raise one alert for the fleet, and no per-meter storm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from detect.episodes import concat_episodes
from detect.fleet import FleetOutageDetector, _first_seen
from detect.offline import OfflineDetector
from tests.detect.readings import H

MIN = 60_000


def fleet_readings(meters: int, hours: int, *, late: dict | None = None, silent: dict | None = None) -> pd.DataFrame:
    """Hourly readings of ``meters`` meters, meter i at minute i of each hour.

    ``late`` maps meter index -> (from_h, arrive_h): readings taken from from_h on arrive at
    arrive_h (plus the meter's minute), as one late batch. ``silent`` maps meter index -> from_h:
    nothing is sent from then on.
    """
    late, silent = late or {}, silent or {}
    rows = []
    for i in range(meters):
        for h in range(hours):
            ts = h * H + i * MIN
            if i in silent and h >= silent[i]:
                break
            received = ts
            if i in late and late[i][0] <= h < late[i][1]:
                received = late[i][1] * H + i * MIN
            rows.append((f"m{i:03d}", ts, float(h * 10), received))
    return pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])


def detect(readings: pd.DataFrame, until_h: float, **params) -> pd.DataFrame:
    until = int(until_h * H)
    offline, _ = OfflineDetector().fit().step(readings, None, until_ms=until)
    episodes, _ = FleetOutageDetector(**params).fit().step(readings, None, until_ms=until, episodes=offline)
    return episodes


def rows(episodes: pd.DataFrame, kind: str) -> list[dict]:
    chosen = episodes[episodes["kind"] == kind].sort_values(["started_ms", "meter_id"])
    return [
        {"meter_id": r.meter_id, "started_h": r.started_ms / H, "raised_h": r.raised_ms / H,
         "ended_h": None if pd.isna(r.ended_ms) else r.ended_ms / H}
        for r in chosen.itertuples()
    ]


def test_thirty_meters_silent_at_once_raise_one_fleet_outage_and_no_offline_alert():
    readings = fleet_readings(30, 36, late={i: (24, 30) for i in range(30)})
    episodes = detect(readings, until_h=36)
    assert rows(episodes, "meter_offline") == []
    [outage] = rows(episodes, "fleet_outage")
    assert outage["meter_id"] == "*"
    # Began at the first meter's last arrival (23:00); raised when the 10th meter (minute 9) was
    # 2.5 uploads late; over when the 21st meter's late batch arrived (30:20): 9 left, below 10.
    assert outage == {"meter_id": "*", "started_h": 23.0, "raised_h": 25.5 + 9 / 60, "ended_h": 30 + 20 / 60}
    assert episodes.loc[episodes["kind"] == "fleet_outage", "severity"].tolist() == ["alarm"]


def test_too_few_silent_meters_are_each_raised_an_hour_after_they_were_overdue():
    readings = fleet_readings(30, 36, silent={0: 24, 1: 24, 2: 24})
    episodes = detect(readings, until_h=36)
    assert rows(episodes, "fleet_outage") == []
    assert rows(episodes, "meter_offline") == [
        {"meter_id": f"m00{i}", "started_h": 23 + i / 60, "raised_h": 26.5 + i / 60, "ended_h": None}
        for i in range(3)
    ]


def test_a_meter_back_within_the_hold_raises_nothing():
    readings = fleet_readings(30, 36, late={0: (24, 26)})  # overdue at 25:30, back at 26:00
    episodes = detect(readings, until_h=36)
    assert episodes.empty
    held = detect(readings, until_h=36, window_h=0.25)  # a shorter hold lets it through
    assert rows(held, "meter_offline") == [{"meter_id": "m000", "started_h": 23.0, "raised_h": 25.75,
                                            "ended_h": 26.0}]


def test_a_meter_already_offline_before_the_outage_keeps_its_own_alert():
    late = {i: (24, 30) for i in range(1, 30)}
    readings = fleet_readings(30, 36, late=late, silent={0: 12})
    episodes = detect(readings, until_h=36)
    assert rows(episodes, "meter_offline") == [{"meter_id": "m000", "started_h": 11.0, "raised_h": 14.5,
                                                "ended_h": None}]
    [outage] = rows(episodes, "fleet_outage")
    assert outage["started_h"] == 23 + 1 / 60


def test_meters_still_silent_after_the_outage_are_raised_an_hour_after_it_ends():
    late = {i: (24, 30) for i in range(25)}
    readings = fleet_readings(30, 36, late=late, silent={i: 24 for i in range(25, 30)})
    episodes = detect(readings, until_h=36)
    [outage] = rows(episodes, "fleet_outage")
    assert outage["ended_h"] == 30 + 20 / 60  # the 21st return leaves 9 offline, below 10
    stragglers = rows(episodes, "meter_offline")
    assert [r["meter_id"] for r in stragglers] == [f"m0{i}" for i in range(25, 30)]
    assert {r["raised_h"] for r in stragglers} == {outage["ended_h"] + 1}


def test_a_meter_raised_before_the_outage_was_keeps_its_alert():
    """A meter read every 15 minutes is overdue after an hour, long before the hourly meters that fell
    silent with it; its alert is out before the outage is raised, and is not taken back."""
    rows_ = [("fast", ts, 1.0, ts) for ts in range(0, 24 * H, 15 * MIN)]
    rows_ += [(f"h{i:02d}", h * H + 5 * i * MIN, 1.0, h * H + 5 * i * MIN) for i in range(12) for h in range(24)]
    readings = pd.DataFrame(rows_, columns=["meter_id", "ts_ms", "total_l", "received_ms"])
    episodes = detect(readings, until_h=30)
    assert rows(episodes, "meter_offline") == [{"meter_id": "fast", "started_h": 23.75, "raised_h": 25.75,
                                                "ended_h": None}]
    [outage] = rows(episodes, "fleet_outage")
    assert (outage["started_h"], outage["raised_h"]) == (23.0, 25.5 + 40 / 60)  # the 10th silent meter


def test_the_threshold_is_a_share_of_the_fleet_known_at_the_time():
    silent = {i: 24 for i in range(20)}
    readings = fleet_readings(100, 36, silent=silent)
    assert rows(detect(readings, until_h=36), "fleet_outage") == []  # 20 < 30 % of 100
    assert len(rows(detect(readings, until_h=36, min_fraction=0.2), "fleet_outage")) == 1
    assert len(rows(detect(readings, until_h=36, min_fraction=0.2, min_meters=21), "fleet_outage")) == 0


def test_meters_falling_silent_hours_apart_are_no_outage():
    readings = fleet_readings(30, 48, silent={i: 12 + 2 * i for i in range(12)})
    episodes = detect(readings, until_h=48)
    assert rows(episodes, "fleet_outage") == []
    assert len(rows(episodes, "meter_offline")) == 12


def test_a_later_outage_is_a_new_one():
    readings = fleet_readings(30, 60, late={i: (24, 30) for i in range(30)})
    again = (readings["ts_ms"] >= 48 * H) & (readings["ts_ms"] < 52 * H)  # held back, delivered at 52:00
    readings.loc[again, "received_ms"] = 52 * H + readings.loc[again, "ts_ms"] % H
    episodes = detect(readings, until_h=60)
    assert [(o["started_h"], o["ended_h"]) for o in rows(episodes, "fleet_outage")] == [
        (23.0, 30 + 20 / 60), (47.0, 52 + 20 / 60)]
    assert rows(episodes, "meter_offline") == []


def test_returns_reported_a_step_late_still_end_the_outage_then():
    """A batch stamped on arrival may reach the detector only at its next tick (a slow write): the
    outage ends at that tick, not never, and its stragglers raise nothing."""
    readings = fleet_readings(30, 36, late={i: (24, 30) for i in range(30)})
    offline_detector, fleet_detector = OfflineDetector().fit(), FleetOutageDetector().fit()
    first_tick = readings["received_ms"] < 30 * H + 15 * MIN
    episodes, carries = step_both(offline_detector, fleet_detector, readings[first_tick], (None, None),
                                  30 * H + 30 * MIN)  # meters 15 to 29 came back by then, but are not seen yet
    assert rows(episodes, "fleet_outage")[0]["ended_h"] is None
    episodes, _ = step_both(offline_detector, fleet_detector, readings[~first_tick], carries, 31 * H)
    assert rows(episodes, "fleet_outage") == [{"meter_id": "*", "started_h": 23.0, "raised_h": 25.5 + 9 / 60,
                                               "ended_h": (30 * H + 30 * MIN + 1) / H}]
    assert rows(episodes, "meter_offline") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_meters": 1}, "min_meters"),
        ({"min_meters": 2.5}, "min_meters"),
        ({"min_fraction": 1.5}, "min_fraction"),
        ({"window_h": 0}, "window_h"),
    ],
)
def test_bad_parameters_are_refused_by_fit(params, message):
    with pytest.raises(ValueError, match=message):
        FleetOutageDetector(**params).fit()


def test_sklearn_conventions():
    detector = FleetOutageDetector(min_meters=3, min_fraction=0.5, window_h=2.0)
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]
    assert copy.fit() is copy


# --- Live and backtest agree, and nothing flaps -------------------------------------------------

SMALL_FLEET = FleetOutageDetector(min_meters=3, min_fraction=0.3, window_h=1.0)
OFFLINE = OfflineDetector(tolerance=2.0, min_hours=0.5, default_cadence_h=2.0, window=3)


@st.composite
def fleet_strategy(draw):
    """A handful of meters reporting every 15 minutes to 2 hours, some outages of the whole pipeline
    (readings held back, then delivered late in one batch), and meters that die or pause on their own."""
    meters = draw(st.integers(3, 7))
    hours = draw(st.integers(6, 40))
    outages = draw(st.lists(st.tuples(st.integers(0, hours), st.integers(1, 8)), max_size=3))
    rows = []
    for m in range(meters):
        minute = draw(st.integers(0, 59))
        cadence = draw(st.sampled_from([15, 30, 60, 60, 120])) * MIN
        dies = draw(st.one_of(st.none(), st.integers(0, hours)))
        pause = draw(st.one_of(st.none(), st.tuples(st.integers(0, hours), st.integers(1, 6))))
        for ts in range(minute * MIN, (hours if dies is None else dies) * H, cadence):
            h = ts // H
            received = ts
            for start, length in outages:
                if start * H <= ts < (start + length) * H:
                    received = max(received, (start + length) * H + draw(st.integers(0, 30)) * MIN)
            if pause is not None and pause[0] * H <= ts < (pause[0] + pause[1]) * H:
                received = max(received, (pause[0] + pause[1]) * H)
            rows.append((f"m{m}", ts, float(h), received))
    return pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])


def step_both(offline_detector, fleet_detector, readings, carries, until):
    offline_carry, fleet_carry = carries
    offline, offline_carry = offline_detector.step(readings, offline_carry, until_ms=until)
    episodes, fleet_carry = fleet_detector.step(readings, fleet_carry, until_ms=until, episodes=offline)
    return episodes, (offline_carry, fleet_carry)


def canonical(episodes: pd.DataFrame) -> list[tuple]:
    return sorted(
        (r.meter_id, r.kind, r.severity, r.started_ms, r.raised_ms, None if pd.isna(r.ended_ms) else int(r.ended_ms))
        for r in episodes.itertuples()
    )


@settings(max_examples=80, deadline=None)
@given(readings=fleet_strategy(), data=st.data())
def test_stepwise_equals_one_step_and_nothing_raised_is_taken_back(readings, data):
    offline_detector, fleet_detector = clone(OFFLINE).fit(), clone(SMALL_FLEET).fit()
    until = int(readings["received_ms"].max()) + 10 * H if len(readings) else 10 * H
    one_step, _ = step_both(offline_detector, fleet_detector, readings, (None, None), until)

    cuts = sorted(set(data.draw(st.lists(st.integers(0, until), max_size=8)))) + [until]
    carries, closed, lower = (None, None), [], -np.inf
    open_alerts: dict[tuple, int] = {}  # (kind, meter, started) -> raised, as sync_episodes keeps them
    for upper in cuts:
        piece = readings[(readings["received_ms"] > lower) & (readings["received_ms"] <= upper)]
        episodes, carries = step_both(offline_detector, fleet_detector, piece, carries, upper)
        ongoing = episodes[episodes["ended_ms"].isna()]
        ended = episodes[episodes["ended_ms"].notna()]
        seen = {(r.kind, r.meter_id, r.started_ms): r.raised_ms for r in ongoing.itertuples()}
        over = {(r.kind, r.meter_id, r.started_ms) for r in ended.itertuples()}
        for key, raised in open_alerts.items():
            assert key in seen or key in over, f"{key} vanished before it ended: it would flap"
            if key in seen:
                assert seen[key] == raised, f"{key} changed its raise time"
        assert (episodes["raised_ms"] <= upper).all()
        open_alerts = seen
        closed.append(ended)
        lower = upper
    stepwise = concat_episodes([*closed, ongoing])
    assert canonical(stepwise) == canonical(one_step)


@settings(max_examples=40, deadline=None)
@given(readings=fleet_strategy(), data=st.data())
def test_causal_no_look_ahead(readings, data):
    """What was raised by time T does not depend on anything that arrived after T."""
    until = int(readings["received_ms"].max()) + 10 * H if len(readings) else 10 * H
    cut = data.draw(st.integers(0, until))
    offline_detector, fleet_detector = clone(OFFLINE).fit(), clone(SMALL_FLEET).fit()
    full, _ = step_both(offline_detector, fleet_detector, readings, (None, None), until)
    seen, _ = step_both(offline_detector, fleet_detector, readings[readings["received_ms"] <= cut], (None, None),
                        cut)

    def raised_by_cut(episodes):
        return {(r.kind, r.meter_id, r.started_ms, r.raised_ms) for r in episodes.itertuples() if r.raised_ms <= cut}

    assert raised_by_cut(seen) == raised_by_cut(full)


@pytest.mark.parametrize("case", ["known meters, later", "one arrives earlier than it first did", "a new meter"])
def test_first_seen_is_each_meters_earliest_arrival_of_all_it_has_seen(case):
    known = pd.Series([5 * H, 2 * H, 9 * H], index=pd.Index([10, 20, 30]), dtype="int64")
    arrived = {"known meters, later": [(20, 11 * H), (10, 12 * H), (20, 13 * H)],
               "one arrives earlier than it first did": [(10, 12 * H), (30, 1 * H)],
               "a new meter": [(40, 12 * H), (10, 12 * H), (15, 14 * H)]}[case]
    readings = pd.DataFrame(arrived, columns=["meter_id", "received_ms"])
    expected = {10: 5 * H, 20: 2 * H, 30: 9 * H}
    for meter, received in arrived:
        expected[meter] = min(expected.get(meter, received), received)
    pd.testing.assert_series_equal(_first_seen(known, readings),
                                   pd.Series(expected, dtype="int64").sort_index())
