"""Alert routes over a real database: list, filter, page, look, acknowledge, resolve, roles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store.models import AlertKind, Role
from store.pseudonyms import pseudonym
from tests.api.conftest import episode

LOCAL_NOW = "2026-11-22T13:00:00+08:00"


@pytest.fixture
def three_alerts(raise_alerts) -> dict[str, int]:
    """Inactivity on m1 (oldest) and m2, meter_offline on m3 (newest); ids by meter."""
    m1, m2 = raise_alerts(
        AlertKind.inactivity,
        episode("m1", AlertKind.inactivity, hours_ago=20),
        episode("m2", AlertKind.inactivity, hours_ago=15, severity="warning"),
    )
    (m3,) = raise_alerts(AlertKind.meter_offline, episode("m3", AlertKind.meter_offline, hours_ago=10))
    return {"m1": m1, "m2": m2, "m3": m3}


def meters(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["meter_id"] for item in response.json()["items"]]


def test_list_is_newest_first_with_every_field(client, admin, three_alerts):
    response = client.get("/api/v1/alerts", headers=admin)
    assert meters(response) == ["m3", "m2", "m1"]
    body = response.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 100, 0)
    assert body["items"][2] == {
        "id": three_alerts["m1"],
        "meter_id": "m1",
        "kind": "inactivity",
        "severity": "alarm",
        "status": "open",
        "started_at": "2026-11-21T17:00:00+08:00",  # 20 hours before 13:00 local
        "raised_at": "2026-11-21T18:00:00+08:00",
        "ended_at": None,
        "created_at": LOCAL_NOW,
        "updated_at": LOCAL_NOW,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution_note": None,
        "household_id": body["items"][2]["household_id"],
        "outcome": None,
        "escalation_level": 0,
    }
    assert body["items"][2]["household_id"] is not None  # m1 serves a flat of the home community


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=meter_offline", ["m3"]),
        ("kind=inactivity", ["m2", "m1"]),
        ("meter_id=m2", ["m2"]),
        ("meter_id=nobody", []),
        ("status=acknowledged", ["m2"]),
        ("status=open", ["m3", "m1"]),
        ("status=open,acknowledged", ["m3", "m2", "m1"]),
        ("status=resolved&status=acknowledged", ["m2"]),
        ("status=open&kind=inactivity", ["m1"]),
    ],
)
def test_filters(client, admin, three_alerts, query, expected):
    assert client.post(f"/api/v1/alerts/{three_alerts['m2']}/ack", headers=admin).status_code == 200
    response = client.get(f"/api/v1/alerts?{query}", headers=admin)
    assert meters(response) == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=closed", "'open', 'acknowledged' or 'resolved'"),
        ("status=open,closed", "'closed'"),
        ("kind=fire", "'inactivity', 'meter_offline', 'continuous_flow', 'unusual_pattern' or 'fleet_outage'"),
        ("limit=0", "limit"),
        ("limit=1001", "1000"),
        ("offset=-1", "offset"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_query_parameters_are_422_with_a_message(client, admin, query, named):
    response = client.get(f"/api/v1/alerts?{query}", headers=admin)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert named in detail


def test_pagination(client, admin, three_alerts):
    first = client.get("/api/v1/alerts?limit=2", headers=admin)
    second = client.get("/api/v1/alerts?limit=2&offset=2", headers=admin)
    beyond = client.get("/api/v1/alerts?limit=2&offset=5", headers=admin)
    assert meters(first) == ["m3", "m2"]
    assert meters(second) == ["m1"]
    assert meters(beyond) == []
    assert [r.json()["total"] for r in (first, second, beyond)] == [3, 3, 3]
    assert (second.json()["limit"], second.json()["offset"]) == (2, 2)


def test_get_one_alert(client, token_for, three_alerts):
    response = client.get(f"/api/v1/alerts/{three_alerts['m3']}", headers=token_for(Role.cadre))
    assert response.status_code == 200
    assert response.json()["meter_id"] == "m3"
    assert response.json()["kind"] == "meter_offline"


def test_an_analyst_sees_pseudonyms_and_outcomes_but_no_names_or_notes(client, token_for, settings, three_alerts):
    alert_id = three_alerts["m1"]
    client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=token_for(Role.cadre, "wang"),
                json={"outcome": "resident_away", "note": "Mrs Dong is at her daughter's in Wuhan"})
    seen = client.get(f"/api/v1/alerts/{alert_id}", headers=token_for(Role.analyst)).json()
    assert seen["meter_id"] == pseudonym("m1", key=settings.pseudonym_key) != "m1"
    assert seen["household_id"].startswith("h")
    assert seen["outcome"] == "resident_away"
    assert (seen["resolution_note"], seen["resolved_by"]) == (None, None)
    trail = client.get(f"/api/v1/alerts/{alert_id}/events", headers=token_for(Role.analyst, "a2")).json()["items"]
    assert [e["action"] for e in trail] == ["raised", "resolved"]
    assert all(e["by"] is None for e in trail)
    assert "Wuhan" not in str(trail)


def test_a_missing_alert_is_404(client, admin, three_alerts):
    for response in (
        client.get("/api/v1/alerts/999", headers=admin),
        client.post("/api/v1/alerts/999/ack", headers=admin),
        client.post("/api/v1/alerts/999/resolve", headers=admin),
    ):
        assert response.status_code == 404
        assert "999" in response.json()["detail"]


def test_acknowledge_then_resolve_with_a_note(client, token_for, three_alerts):
    cadre = token_for(Role.cadre, "wang")
    alert_id = three_alerts["m1"]

    acked = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=cadre)
    assert acked.status_code == 200
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "wang"
    assert acked.json()["acknowledged_at"] == LOCAL_NOW
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=cadre).json() == acked.json()  # it was committed

    resolved = client.post(
        f"/api/v1/alerts/{alert_id}/resolve", headers=cadre, json={"note": "visited: she was at her daughter's"}
    )
    assert resolved.status_code == 200
    body = resolved.json()
    assert body["status"] == "resolved"
    assert (body["resolved_by"], body["resolved_at"]) == ("wang", LOCAL_NOW)
    assert body["resolution_note"] == "visited: she was at her daughter's"
    assert (body["acknowledged_by"], body["acknowledged_at"]) == ("wang", LOCAL_NOW)
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=cadre).json() == body

    again = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=cadre, json={"note": "twice"})
    assert again.status_code == 409
    assert "already resolved" in again.json()["detail"]
    late_ack = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=cadre)
    assert late_ack.status_code == 409
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=cadre).json()["resolution_note"] == body["resolution_note"]


def test_resolve_without_a_body_or_note(client, admin, three_alerts):
    for body in ({}, None):
        alert_id = three_alerts.pop("m1" if "m1" in three_alerts else "m2")
        response = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=admin, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "resolved"
        assert response.json()["resolution_note"] is None


def test_a_note_longer_than_2000_characters_is_422(client, admin, three_alerts):
    alert_id = three_alerts["m1"]
    response = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=admin, json={"note": "x" * 2001})
    assert response.status_code == 422
    assert "note" in response.json()["detail"] and "2000" in response.json()["detail"]
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=admin).json()["status"] == "open"
    ok = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=admin, json={"note": "x" * 2000})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("role", "meter", "allowed"),
    [
        (Role.analyst, "m1", False),
        (Role.analyst, "m3", False),
        (Role.cadre, "m1", True),
        (Role.cadre, "m3", False),
        (Role.property_manager, "m3", True),
        (Role.property_manager, "m1", False),
        (Role.admin, "m1", True),
        (Role.admin, "m3", True),
    ],
)
@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_roles(client, token_for, three_alerts, role, meter, allowed, action):
    alert_id = three_alerts[meter]
    response = client.post(f"/api/v1/alerts/{alert_id}/{action}", headers=token_for(role))
    after = client.get(f"/api/v1/alerts/{alert_id}", headers=token_for(Role.analyst, "reader")).json()
    if allowed:
        assert response.status_code == 200, response.text
        assert after["status"] == {"ack": "acknowledged", "resolve": "resolved"}[action]
    else:
        assert response.status_code == 403
        assert "role" in response.json()["detail"]
        assert after["status"] == "open"
        assert after["acknowledged_by"] is None


def test_a_forbidden_cadre_is_told_who_may_act(client, token_for, three_alerts):
    response = client.post(f"/api/v1/alerts/{three_alerts['m3']}/ack", headers=token_for(Role.cadre))
    assert response.status_code == 403
    assert "property_manager" in response.json()["detail"]


def test_acknowledging_twice_keeps_the_first_acknowledgement(client, token_for, three_alerts):
    alert_id = three_alerts["m1"]
    first = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=token_for(Role.cadre, "wang"))
    second = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=token_for(Role.admin, "li"))
    assert second.status_code == 200
    assert second.json()["acknowledged_by"] == first.json()["acknowledged_by"] == "wang"


def test_times_follow_the_configured_timezone(settings, database, readings_store, admin, three_alerts):
    utc_settings = settings.model_copy(update={"timezone": "Europe/London"})
    client = TestClient(create_app(settings=utc_settings, db=database, readings=readings_store))
    item = client.get(f"/api/v1/alerts/{three_alerts['m1']}", headers=admin).json()
    assert item["started_at"] in ("2026-11-21T09:00:00Z", "2026-11-21T09:00:00+00:00")
