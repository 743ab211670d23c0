"""The evaluation harness: recall, delay, false alerts and misrouted dead meters, on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detect.evaluate import (
    compare,
    evaluate,
    read_incidents_csv,
    standard_incidents,
    to_markdown,
    twelve_hour_rule,
    write_incidents_csv,
)
from detect.simulate import simulate
from store.errors import CsvFormatError
from tests.detect.readings import H

MONTH_H = 30 * 24
LAST_H = 720  # every meter reads hourly from 0 h to 720 h: 30 days, one household-month each


def meter(name: str, *, flat: tuple = (), gap: tuple = ()) -> list[tuple]:
    """Hourly readings 0..720 h; a litre is used every hour except in ``flat`` (from, to] hours;
    readings inside ``gap`` (from, to) hours never arrive."""
    rows, total = [], 1000.0
    for h in range(LAST_H + 1):
        if h and not any(lo < h <= hi for lo, hi in flat):
            total += 1
        if not any(lo < h < hi for lo, hi in gap):
            rows.append((name, h * H, total, h * H))
    return rows


def incident(meter_id: str, kind: str, start_h: float, end_h: float | None) -> tuple:
    return meter_id, kind, int(start_h * H), None if end_h is None else int(end_h * H)


def incidents_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["meter_id", "kind", "start_ms", "end_ms"])
    return frame.astype({"meter_id": object, "kind": object, "end_ms": "Int64"})


# a: still from 99.5 h to 140 h; silent from the reading at 100 h, so the 12-hour rule raises at
#    112 h: detected, 12.5 h late. Silent again 150-165 h (inside the 24 h aftermath: not false)
#    and 170-185 h (after it: a false alarm).
# b: still from 199.5 h to 210.5 h, silent 200-215 h: raised at 212 h, after the incident's
#    duration (its horizon): missed.
# c: no incident but a tap_running one; silent 300-320 h: a false alarm.
# d: dead from 400.5 h to 410 h, no readings in between: offline raised at 402.5 h (2.5 x the
#    hourly cadence after the last arrival at 400 h), 2 h after the start. Silent 420-440 h:
#    inactivity after the dead meter (not misrouted), in its aftermath (not false).
# e: "dead" from 500.5 h to 530 h but still reporting a frozen register: inactivity raised at
#    512 h, a dead meter misrouted to the cadre, and never offline.
READINGS = pd.DataFrame(
    meter("a", flat=[(100, 140), (150, 165), (170, 185)]) + meter("b", flat=[(200, 215)])
    + meter("c", flat=[(300, 320)]) + meter("d", flat=[(420, 440)], gap=[(400, 410)]) + meter("e", flat=[(500, 530)]),
    columns=["meter_id", "ts_ms", "total_l", "received_ms"],
)
INCIDENTS = incidents_frame([
    incident("a", "still", 99.5, 140),
    incident("b", "still", 199.5, 210.5),
    incident("c", "tap_running", 600, 603),
    incident("d", "dead_meter", 400.5, 410),
    incident("e", "dead_meter", 500.5, 530),
])
# Incident windows with the 24-hour margin: a 64.5 h, b 35 h, c 27 h, d 33.5 h, e 53.5 h.
INCIDENT_FREE_H = 5 * LAST_H - (64.5 + 35 + 27 + 33.5 + 53.5)


@pytest.fixture(scope="module")
def report():
    return evaluate(READINGS, INCIDENTS, twelve_hour_rule())


def test_a_still_incident_is_detected_with_its_delay_and_one_alarm_too_late_is_missed(report):
    still = report.recall.set_index("kind").loc["still"]
    assert (still["incidents"], still["detected"], still["recall"]) == (2, 1, 0.5)
    assert still["delay_median_h"] == still["delay_p90_h"] == 12.5
    per_incident = report.incidents.set_index("meter_id")
    assert per_incident.loc["a", "raised_ms"] == 112 * H
    assert not per_incident.loc["b", "detected"]


def test_a_longer_horizon_catches_the_late_alarm():
    still = evaluate(READINGS, INCIDENTS, twelve_hour_rule(), horizon_h=24).recall.set_index("kind").loc["still"]
    assert (still["detected"], still["delay_median_h"]) == (2, 12.5)


def test_false_alarms_are_counted_on_incident_free_time_only(report):
    inactivity = report.false_alerts.set_index("alert_kind").loc["inactivity"]
    # Seven inactivity episodes (a three times, b, c, d, e); a at 170 h and c at 300 h touch no
    # incident window.
    assert (inactivity["episodes"], inactivity["false_alerts"]) == (7, 2)
    assert report.household_months == pytest.approx(INCIDENT_FREE_H / MONTH_H)
    assert inactivity["per_household_month"] == pytest.approx(2 / (INCIDENT_FREE_H / MONTH_H))
    false_starts = report.episodes.loc[report.episodes["false_alert"], ["meter_id", "started_ms"]]
    assert sorted(map(tuple, false_starts.to_numpy())) == [("a", 170 * H), ("c", 300 * H)]
    offline = report.false_alerts.set_index("alert_kind").loc["meter_offline"]
    assert (offline["episodes"], offline["false_alerts"]) == (1, 0)


def test_without_a_margin_the_aftermath_alarm_is_false_too():
    no_margin = evaluate(READINGS, INCIDENTS, twelve_hour_rule(), margin_h=0)
    # a at 150 h and d at 420 h are no longer in an aftermath.
    assert no_margin.false_alerts.set_index("alert_kind").loc["inactivity", "false_alerts"] == 4
    assert no_margin.household_months == pytest.approx((5 * LAST_H - (40.5 + 11 + 3 + 9.5 + 29.5)) / MONTH_H)


def test_a_dead_meter_is_raised_as_offline_and_a_frozen_one_is_misrouted_to_the_cadre(report):
    dead = report.recall.set_index("kind").loc["dead_meter"]
    assert (dead["alert_kind"], dead["incidents"], dead["detected"]) == ("meter_offline", 2, 1)
    assert dead["delay_median_h"] == 2.0
    assert report.misrouted.to_dict("records") == [
        {"dead_meter_incidents": 2, "misrouted_as_inactivity": 1, "share": 0.5}
    ]
    assert report.incidents.loc[report.incidents["misrouted"], "meter_id"].tolist() == ["e"]


def test_an_alert_kind_no_detector_raises_has_zero_recall(report):
    tap = report.recall.set_index("kind").loc["tap_running"]
    assert (tap["alert_kind"], tap["incidents"], tap["detected"], tap["recall"]) == ("continuous_flow", 1, 0, 0.0)
    assert np.isnan(tap["delay_median_h"])


def test_an_incident_that_begins_inside_an_open_alert_is_missed_and_says_why():
    # b's silence from 200 h raises at 212 h; a still incident labelled from 213 h finds it open.
    late = incidents_frame([incident("b", "still", 213, 230)])
    row = evaluate(READINGS, late, twelve_hour_rule()).recall.iloc[0]
    assert (row["detected"], row["already_open"]) == (0, 1)


def test_an_incident_without_an_end_has_a_24_hour_horizon_and_no_incident_free_time_after_it():
    open_ended = incidents_frame([incident("a", "still", 99.5, None)])
    result = evaluate(READINGS, open_ended, twelve_hour_rule())
    assert result.incidents["horizon_ms"].tolist() == [24 * H]
    assert result.recall.iloc[0]["detected"] == 1
    assert result.household_months == pytest.approx((5 * LAST_H - (LAST_H - 99.5)) / MONTH_H)


def test_compare_puts_detector_sets_side_by_side_and_renders_markdown():
    from detect.inactivity import InactivityDetector
    from detect.offline import OfflineDetector

    table = compare(READINGS, INCIDENTS, {
        "12-hour rule": twelve_hour_rule(),
        "10-hour rule": [InactivityDetector(ceiling_h=10, **_fixed()), OfflineDetector()],
    })
    assert list(table.columns) == ["12-hour rule", "10-hour rule"]
    # With 10 hours b's silence (200-215 h) raises at 210 h, inside its horizon.
    assert table.loc["still → inactivity (n=2): recall %"].tolist() == [50.0, 100.0]
    assert table.loc["still → inactivity (n=2): delay median h"].tolist() == [12.5, 10.5]
    lines = to_markdown(table).splitlines()
    cells = {tuple(c.strip() for c in line.strip("|").split("|")) for line in lines}
    assert ("still → inactivity (n=2): recall %", "50", "100") in cells
    assert ("tap_running → continuous_flow (n=1): delay median h", "–", "–") in cells
    assert lines[1].startswith("|---") and lines[1].endswith(":|")


def _fixed() -> dict:
    """No learning and no trickle, as the rule has them."""
    return {k: v for k, v in twelve_hour_rule()[0].get_params().items() if k in ("learn", "trickle_l_per_h")}


def test_incidents_csv_round_trips_and_reads_the_simulator_labels(tmp_path):
    path = tmp_path / "incidents.csv"
    frame = incidents_frame([incident("a", "still", 1, 2), incident("b", "dead_meter", 3, None)])
    write_incidents_csv(frame, path)
    pd.testing.assert_frame_equal(read_incidents_csv(path), frame)

    start = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
    sim = simulate(households=5, start=start, days=10, cadence_s=3600,
                   incidents=standard_incidents(5, start=start, days=10))
    sim.incidents.to_csv(tmp_path / "labels.csv", index=False)  # what `anxin simulate --labels` writes
    pd.testing.assert_frame_equal(read_incidents_csv(tmp_path / "labels.csv"),
                                  sim.incidents.astype({"end_ms": "Int64"}))


def test_a_bad_incidents_csv_says_what_is_wrong(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("meter_id,kind,start_ms\na,still,0\n")
    with pytest.raises(CsvFormatError, match="missing column"):
        read_incidents_csv(path)
    path.write_text("meter_id,kind,start_ms,end_ms\na,fall,0,10\n")
    with pytest.raises(CsvFormatError, match="unknown incident kind"):
        read_incidents_csv(path)


def test_the_12_hour_rule_on_the_simulator_finds_every_still_resident_and_dead_meter():
    start = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
    cadence_s = 3600
    # With another seed a still incident can begin during a stay away whose alarm is already
    # open; that counts as missed (``already_open``), not as detected.
    sim = simulate(households=6, start=start, days=20, cadence_s=cadence_s, random_state=0,
                   incidents=standard_incidents(6, start=start, days=20, random_state=0))
    result = evaluate(sim.readings, sim.incidents, twelve_hour_rule())
    recall = result.recall.set_index("kind")
    assert recall.loc["still", "incidents"] == 2
    assert recall.loc["still", "recall"] == 1.0
    # The silence starts at the first reading after the last use (at most a cadence after the
    # incident's start) and the proof arrives up to 20 s after the reading 12 hours later.
    still = result.incidents[result.incidents["kind"] == "still"]
    assert (still["delay_h"] <= 12 + cadence_s / 3600 + 20 / 3600).all()
    assert recall.loc["dead_meter", ["alert_kind", "recall"]].tolist() == ["meter_offline", 1.0]
    assert result.misrouted["misrouted_as_inactivity"].iloc[0] == 0
