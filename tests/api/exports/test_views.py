"""Exports for analysts: outcomes as labels and readings, both by pseudonym, never a name or a note."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from detect.csvio import read_readings_csv
from store.models import AlertKind, Role
from store.pseudonyms import pseudonym
from store.readings import Reading
from store.times import to_ms
from tests.api.conftest import HOUR, NOW, episode


@pytest.fixture
def client(settings, database, sqlite_readings):
    with TestClient(create_app(settings=settings, db=database, readings=sqlite_readings, clock=lambda: NOW)) as c:
        yield c


def test_outcomes_are_labels_by_pseudonym_without_notes(client, settings, token_for, raise_alerts):
    fine, away, auto = raise_alerts(
        AlertKind.inactivity,
        episode("m1", AlertKind.inactivity, hours_ago=20),
        episode("m2", AlertKind.inactivity, hours_ago=15, severity="warning"),
        episode("m3", AlertKind.inactivity, hours_ago=14),
    )
    cadre = token_for(Role.cadre, "wang")
    client.post(f"/api/v1/alerts/{fine}/ack", headers=cadre)
    client.post(f"/api/v1/alerts/{fine}/resolve", headers=cadre,
                json={"outcome": "resident_fine", "note": "Mrs Dong slept late, phone 13800000000"})
    client.post(f"/api/v1/alerts/{away}/resolve", headers=cadre, json={"outcome": "resident_away"})
    client.post(f"/api/v1/alerts/{auto}/resolve", headers=cadre, json={"note": "no outcome given"})

    response = client.get("/api/v1/exports/outcomes.csv", headers=token_for(Role.analyst))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "Mrs Dong" not in response.text and "13800000000" not in response.text and "wang" not in response.text
    frame = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["alert_id", "meter", "household", "kind", "severity", "started_at", "raised_at",
                                   "acknowledged_at", "resolved_at", "escalation_level", "outcome"]
    key = settings.pseudonym_key
    assert frame[["meter", "outcome"]].values.tolist() == [
        [pseudonym("m1", key=key), "resident_fine"],
        [pseudonym("m2", key=key), "resident_away"],
    ]  # m3 was resolved with no outcome: not a label
    assert frame["acknowledged_at"].tolist() == ["2026-11-22T13:00:00+08:00", ""]
    assert all(h.startswith("h") for h in frame["household"])


def test_readings_export_feeds_a_backtest_by_pseudonym(client, settings, sqlite_readings, token_for, raise_alerts,
                                                        tmp_path):
    raise_alerts(AlertKind.inactivity, episode("m1", AlertKind.inactivity, hours_ago=20))  # links m1 to a flat
    t = to_ms(NOW - 3 * HOUR)
    sqlite_readings.write([Reading("m1", t, 10.0, t + 5000), Reading("m1", t + 3_600_000, 12.5, t + 3_605_000),
                           Reading("stranger", t, 1.0, t + 5000)])  # a meter of no household of hers
    response = client.get("/api/v1/exports/readings.csv", headers=token_for(Role.analyst))
    assert response.status_code == 200, response.text
    path = tmp_path / "readings.csv"
    path.write_text(response.text)
    frame = read_readings_csv(path)
    assert frame["meter_id"].unique().tolist() == [pseudonym("m1", key=settings.pseudonym_key)]
    assert frame["total_l"].tolist() == [10.0, 12.5]
    assert frame["ts_ms"].tolist() == [t, t + 3_600_000]


@pytest.mark.parametrize("role", [Role.cadre, Role.property_manager])
def test_only_analysts_secretaries_and_admins_export(client, token_for, role):
    for path in ("/api/v1/exports/outcomes.csv", "/api/v1/exports/readings.csv"):
        response = client.get(path, headers=token_for(role, f"{role}-{path[-12:]}"))
        assert response.status_code == 403
        assert "export" in response.json()["detail"]


def test_a_readings_window_over_31_days_is_422(client, token_for):
    response = client.get("/api/v1/exports/readings.csv?start=2026-09-01T00:00:00Z&end=2026-11-01T00:00:00Z",
                          headers=token_for(Role.analyst))
    assert response.status_code == 422
    assert "31 days" in response.json()["detail"]
