"""Meter routes: state derived from alerts, and a meter's readings in a window."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from store.times import to_ms
from store.alerts import acknowledge
from store.models import AlertKind, Role
from store.readings import Reading
from store.users import create_user
from tests.api.conftest import NOW, episode, link_to_home

DAY = timedelta(days=1)


def reading(meter_id: str, at, total_l: float, *, late_s: int = 5, extra=None) -> Reading:
    ts_ms = to_ms(at)
    return Reading(meter_id=meter_id, ts_ms=ts_ms, total_l=total_l, received_ms=ts_ms + late_s * 1000, extra=extra)


@pytest.fixture
def analyst(admin) -> dict[str, str]:
    """Who reads every meter, linked or not: an admin (analysts read pseudonymous exports instead)."""
    return admin


def test_meter_state_comes_from_unresolved_alerts(client, database, analyst, readings_store, raise_alerts):
    readings_store.write(
        [
            reading("m1", NOW - 2 * DAY, 100.0),
            reading("m1", NOW - DAY, 120.5, late_s=90),
            reading("m2", NOW - DAY, 50.0),
            reading("m3", NOW - 3 * DAY, 7.0),
            reading("m4", NOW - DAY, 1.0),
        ]
    )
    inactive_m2, inactive_m3, inactive_m4 = raise_alerts(
        AlertKind.inactivity,
        episode("m2", AlertKind.inactivity, hours_ago=20),
        episode("m3", AlertKind.inactivity, hours_ago=70),
        episode("m4", AlertKind.inactivity, hours_ago=20),
    )
    offline_m3, _ = raise_alerts(
        AlertKind.meter_offline,
        episode("m3", AlertKind.meter_offline, hours_ago=40),
        episode("ghost", AlertKind.meter_offline, hours_ago=5),
    )
    with database.session() as session:  # acknowledged is still unresolved: m4 stays inactive
        user, _ = create_user(session, name="wang", role=Role.cadre, now=NOW)
        acknowledge(session, alert_id=inactive_m4, user_id=user.id, now=NOW)

    response = client.get("/api/v1/meters", headers=analyst)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4  # "ghost" has alerts but has never sent a reading
    by_id = {m["meter_id"]: m for m in body["items"]}
    assert [m["meter_id"] for m in body["items"]] == ["m1", "m2", "m3", "m4"]
    states = {k: m["state"] for k, m in by_id.items()}
    assert states == {"m1": "ok", "m2": "inactive", "m3": "offline", "m4": "inactive"}
    assert by_id["m1"]["open_alerts"] == []
    assert by_id["m2"]["open_alerts"] == [inactive_m2]
    assert by_id["m3"]["open_alerts"] == sorted([inactive_m3, offline_m3])
    assert by_id["m1"]["last_reading"] == {"ts": "2026-11-21T13:00:00+08:00", "total_l": 120.5}
    assert by_id["m1"]["last_received_at"] == "2026-11-21T13:01:30+08:00"


def test_running_water_shows_as_flowing_and_a_fleet_outage_is_no_meters_state(
    client, analyst, readings_store, raise_alerts
):
    readings_store.write([reading(m, NOW - DAY, 1.0) for m in ("m1", "m2", "m3")])
    (flow_m1,) = raise_alerts(AlertKind.continuous_flow, episode("m1", AlertKind.continuous_flow, hours_ago=9))
    raise_alerts(AlertKind.inactivity, episode("m2", AlertKind.inactivity, hours_ago=13))
    (pattern_m3,) = raise_alerts(
        AlertKind.unusual_pattern, episode("m3", AlertKind.unusual_pattern, hours_ago=30, severity="info"))
    raise_alerts(AlertKind.fleet_outage, episode("*", AlertKind.fleet_outage, hours_ago=2))
    body = client.get("/api/v1/meters", headers=analyst).json()
    assert body["total"] == 3  # the fleet outage's "*" is not a meter
    by_id = {m["meter_id"]: m for m in body["items"]}
    assert {k: m["state"] for k, m in by_id.items()} == {"m1": "flowing", "m2": "inactive", "m3": "ok"}
    assert by_id["m1"]["open_alerts"] == [flow_m1]
    assert by_id["m3"]["open_alerts"] == [pattern_m3]  # information: listed, but the meter is ok


def test_a_resolved_alert_leaves_the_meter_ok(client, analyst, readings_store, raise_alerts):
    readings_store.write([reading("m1", NOW - DAY, 1.0)])
    raise_alerts(AlertKind.inactivity, episode("m1", AlertKind.inactivity, hours_ago=30), now=NOW - DAY)
    raise_alerts(AlertKind.inactivity)  # the detector no longer sees it: resolved
    (meter,) = client.get("/api/v1/meters", headers=analyst).json()["items"]
    assert (meter["state"], meter["open_alerts"]) == ("ok", [])


def test_meters_are_paged(client, analyst, readings_store):
    readings_store.write([reading(f"m{i:02d}", NOW - DAY, float(i)) for i in range(5)])
    body = client.get("/api/v1/meters?limit=2&offset=2", headers=analyst).json()
    assert [m["meter_id"] for m in body["items"]] == ["m02", "m03"]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 2)
    assert client.get("/api/v1/meters?limit=1001", headers=analyst).status_code == 422


@pytest.fixture
def history(readings_store) -> None:
    readings_store.write(
        [
            reading("m1", NOW - 8 * DAY, 10.0),
            reading("m1", NOW - 6 * DAY, 20.0, extra={"battery_v": 3.6}),
            reading("m1", NOW - timedelta(hours=1), 30.0),
            reading("m1", NOW, 40.0),  # at the window's end: excluded, the end is exclusive
            reading("m2", NOW - DAY, 99.0),
        ]
    )


def totals(response) -> list[float]:
    assert response.status_code == 200, response.text
    return [r["total_l"] for r in response.json()["items"]]


def test_readings_default_to_the_last_seven_days(client, analyst, history):
    response = client.get("/api/v1/meters/m1/readings", headers=analyst)
    assert totals(response) == [20.0, 30.0]
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-15T13:00:00+08:00", "2026-11-22T13:00:00+08:00")
    assert body["items"][0] == {
        "ts": "2026-11-16T13:00:00+08:00",
        "total_l": 20.0,
        "received_at": "2026-11-16T13:00:05+08:00",
        "extra": {"battery_v": 3.6},
    }
    assert body["items"][1]["extra"] is None


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-11-14T00:00:00+08:00", "2026-11-22T00:00:00+08:00", [10.0, 20.0]),
        ("2026-11-13T21:00:00Z", "2026-11-22T05:00:01Z", [10.0, 20.0, 30.0, 40.0]),
        ("2026-11-22T12:00:00+08:00", None, [30.0]),
        (None, "2026-11-16T00:00:00+08:00", [10.0]),  # start defaults to 7 days before end
        ("2026-10-22T13:00:00+08:00", "2026-11-22T13:00:00+08:00", [10.0, 20.0, 30.0]),  # exactly 31 days
    ],
)
def test_readings_in_a_window(client, analyst, history, start, end, expected):
    params = {k: v for k, v in {"start": start, "end": end}.items() if v is not None}
    assert totals(client.get("/api/v1/meters/m1/readings", params=params, headers=analyst)) == expected


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("start=2026-11-20T00:00:00", "UTC offset"),
        ("end=2026-11-20T00:00:00", "UTC offset"),
        ("start=2026-10-22T12:59:59%2B08:00&end=2026-11-22T13:00:00%2B08:00", "31 days"),
        ("start=2026-10-01T00:00:00%2B08:00", "31 days"),  # end defaults to now
        ("start=2026-11-22T00:00:00%2B08:00&end=2026-11-21T00:00:00%2B08:00", "before end"),
        ("start=yesterday", "start"),
    ],
)
def test_bad_windows_are_422_with_a_message(client, analyst, history, query, named):
    response = client.get(f"/api/v1/meters/m1/readings?{query}", headers=analyst)
    assert response.status_code == 422
    assert named in response.json()["detail"]


def test_an_unknown_meter_is_404(client, analyst, history):
    response = client.get("/api/v1/meters/m404/readings", headers=analyst)
    assert response.status_code == 404
    assert "m404" in response.json()["detail"]


def test_a_known_meter_with_no_readings_in_the_window_is_empty(client, analyst, history):
    response = client.get("/api/v1/meters/m2/readings?end=" + quote("2026-11-01T00:00:00+08:00"), headers=analyst)
    assert totals(response) == []


def test_the_hourly_series_of_a_meter(client, analyst, readings_store):
    """Served from the store's hourly series (kept in InfluxDB, derived in SQLite): last total per hour."""
    hour = timedelta(hours=1)
    base = NOW.replace(minute=0, second=0, microsecond=0) - 3 * hour
    minutes = timedelta(minutes=1)
    readings_store.write([reading("m1", base + 10 * minutes, 5.0), reading("m1", base + 50 * minutes, 7.0),
                          reading("m1", base + 2 * hour, 9.0)])
    body = client.get(f"/api/v1/meters/m1/hourly?start={quote((base - hour).isoformat())}", headers=analyst).json()
    assert [(h["total_l"], h["first_l"], h["readings"]) for h in body["items"]] == [(7.0, 5.0, 2), (9.0, 9.0, 1)]
    assert body["items"][0]["hour"].endswith("+08:00")
    assert client.get("/api/v1/meters/nobody/hourly", headers=analyst).status_code == 404
    too_long = client.get(f"/api/v1/meters/m1/hourly?start={quote((NOW - 400 * DAY).isoformat())}", headers=analyst)
    assert too_long.status_code == 422 and "366 days" in str(too_long.json())


def test_a_meter_outside_your_households_is_404_and_analysts_are_sent_to_the_exports(
    client, database, home, readings_store, token_for
):
    readings_store.write([reading("mine", NOW - DAY, 1.0), reading("theirs", NOW - DAY, 2.0)])
    with database.session() as session:
        link_to_home(session, home, ["mine"])  # "theirs" serves no household of the community
    manager = token_for(Role.property_manager)
    assert [m["meter_id"] for m in client.get("/api/v1/meters", headers=manager).json()["items"]] == ["mine"]
    assert client.get("/api/v1/meters/mine/hourly", headers=manager).status_code == 200
    assert client.get("/api/v1/meters/theirs/readings", headers=manager).status_code == 404
    response = client.get("/api/v1/meters", headers=token_for(Role.analyst))
    assert response.status_code == 403 and "/api/v1/exports" in response.json()["detail"]
