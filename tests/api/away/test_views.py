"""Away windows through the API: a cadre marks Mrs Dong away for a week, and no alert fires until she is due back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.wiring import away_windows
from detect.inactivity import InactivityDetector
from detect.monitor import Monitor
from store.models import Household, Role
from tests.api.conftest import link_to_home
from tests.detect.test_monitor import T0, Clock, hourly, open_alerts


@pytest.fixture
def flat(database, home) -> int:
    """Mrs Dong's flat in the home community, served by meter m1."""
    with database.session() as session:
        link_to_home(session, home, ["m1"])
        return session.query(Household).filter_by(unit="m1").one().id


def test_a_cadre_marks_a_household_away_by_dates_in_the_sites_timezone(client, token_for, flat):
    cadre = token_for(Role.cadre, "wang")
    response = client.post(f"/api/v1/households/{flat}/away", headers=cadre,
                           json={"start": "2026-11-23", "end": "2026-11-29", "note": "at her daughter's"})
    assert response.status_code == 201, response.text
    body = response.json()
    # Whole days, both included, in Asia/Shanghai: she is due back on the morning of the 30th.
    assert (body["starts_at"], body["ends_at"]) == ("2026-11-23T00:00:00+08:00", "2026-11-30T00:00:00+08:00")
    listed = client.get(f"/api/v1/households/{flat}/away", headers=cadre).json()["items"]
    assert [w["id"] for w in listed] == [body["id"]]
    assert listed[0]["note"] == "at her daughter's"


def test_a_window_expires_by_itself_and_can_be_ended_early(client, token_for, flat):
    cadre = token_for(Role.cadre, "wang")
    # NOW is 2026-11-22 13:00 in Shanghai: today's window is current, it is over tomorrow.
    today = client.post(f"/api/v1/households/{flat}/away", headers=cadre,
                        json={"start": "2026-11-22T08:00:00+08:00", "end": "2026-11-22T20:00:00+08:00"}).json()
    assert [w["id"] for w in client.get(f"/api/v1/households/{flat}/away", headers=cadre).json()["items"]] == [
        today["id"]]
    assert client.delete(f"/api/v1/away/{today['id']}", headers=cadre).status_code == 204
    assert client.get(f"/api/v1/households/{flat}/away?past=true", headers=cadre).json()["items"] == []
    assert client.delete(f"/api/v1/away/{today['id']}", headers=cadre).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start": "2026-11-20", "end": "2026-11-21"}, "already past"),
        ({"start": "2026-11-25", "end": "2026-11-24"}, "must end after it starts"),
        ({"start": "2026-11-23T08:00:00", "end": "2026-11-24"}, "UTC offset"),
        ({"start": "2026-11-23", "end": "2028-11-24"}, "at most a year"),
        ({"end": "2026-11-24"}, "start"),
    ],
)
def test_a_bad_window_is_422_with_what_to_change(client, token_for, flat, body, message):
    response = client.post(f"/api/v1/households/{flat}/away", headers=token_for(Role.cadre), json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.property_manager, Role.analyst])
def test_only_those_who_look_after_her_may_mark_her_away(client, token_for, flat, role):
    response = client.post(f"/api/v1/households/{flat}/away", headers=token_for(role),
                           json={"start": "2026-11-23", "end": "2026-11-29"})
    assert response.status_code == 403
    assert "may not mark a household away" in response.json()["detail"]
    assert client.get(f"/api/v1/households/{flat}/away", headers=token_for(role, "x")).status_code == 403


def test_another_communitys_household_is_not_found(client, database, token_for, flat):
    from store.models import Community
    from store.users import create_user

    with database.session() as session:
        other = Community(name="西湖社区", created_at=T0)
        session.add(other)
        session.flush()
        _, token = create_user(session, name="stranger", role=Role.secretary, now=T0, community_id=other.id)
    stranger = {"Authorization": f"Bearer {token}"}
    response = client.post(f"/api/v1/households/{flat}/away", headers=stranger,
                           json={"start": "2026-11-23", "end": "2026-11-29"})
    assert response.status_code == 404
    window = client.post(f"/api/v1/households/{flat}/away", headers=token_for(Role.cadre),
                         json={"start": "2026-11-23", "end": "2026-11-29"}).json()
    assert client.delete(f"/api/v1/away/{window['id']}", headers=stranger).status_code == 404


def test_the_detector_honours_a_window_made_through_the_api(settings, database, sqlite_readings, token_for, flat):
    """Marked away from hour 2 to hour 30: no alert inside; a silence 12 h past the end is raised."""
    clock = Clock()
    app = create_app(settings=settings, db=database, readings=sqlite_readings, clock=clock)
    with TestClient(app) as client:
        response = client.post(f"/api/v1/households/{flat}/away", headers=token_for(Role.cadre),
                               json={"start": (T0 + timedelta(hours=2)).isoformat(),
                                     "end": (T0 + timedelta(hours=30)).isoformat()})
        assert response.status_code == 201, response.text
    live = Monitor(detectors=[InactivityDetector(learn=False).fit()], readings=sqlite_readings, db=database,
                   history_ms=14 * 86_400_000, clock=clock, away=away_windows(database))
    for h, total in enumerate([0, 4] + [4] * 42):  # still from 01:00 on
        hourly(sqlite_readings, clock, "m1", [total], start_h=h)
        live.tick()
        assert open_alerts(database) == ([("m1", "inactivity", "open")] if h >= 42 else []), h


@pytest.fixture
def client(settings, database, sqlite_readings):
    """Away windows are not about the readings store: SQLite readings only."""
    from tests.api.conftest import NOW

    with TestClient(create_app(settings=settings, db=database, readings=sqlite_readings, clock=lambda: NOW)) as c:
        yield c
