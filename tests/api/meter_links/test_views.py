"""Meters CSV: every bad row in one answer, all or nothing, dry runs, replacements, round trips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from store.models import Building, Role
from store.readings import Reading
from store.times import to_ms
from tests.api.conftest import NOW

DAY = timedelta(days=1)
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def client(settings, database, sqlite_readings) -> Iterator[TestClient]:
    """The CSV is about the registry: the relational store on both backends, readings on SQLite."""
    app = create_app(settings=settings, db=database, readings=sqlite_readings, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def second_building(database, home) -> int:
    with database.session() as session:
        building = Building(community_id=home["community"], name="2号楼")
        session.add(building)
        session.flush()
        return building.id


def upload(client, headers, text: str, **params):
    return client.post("/api/v1/meter-links/import", params=params, content=text.encode(),
                       headers={**headers, **CSV})


def export(client, headers, **params) -> str:
    response = client.get("/api/v1/meter-links/export", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response.text


def test_import_links_meters_and_creates_missing_households(client, token_for):
    manager = token_for(Role.property_manager)
    response = upload(client, manager, "meter_id,building,unit\nm-1,1号楼,1-101\nm-2,1号楼,1-102\n")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"linked": 2, "replaced": 0, "moved": 0, "unchanged": 0}
    assert (body["households_created"], body["dry_run"]) == (2, False)
    assert [(line["line"], line["action"]) for line in body["lines"]] == [(2, "linked"), (3, "linked")]
    assert export(client, manager) == (
        "meter_id,building,unit,linked_at\n"
        "m-1,1号楼,1-101,2026-11-22T13:00:00+08:00\n"
        "m-2,1号楼,1-102,2026-11-22T13:00:00+08:00\n"
    )


def test_every_bad_row_is_reported_and_nothing_is_applied(client, token_for, second_building):
    manager = token_for(Role.property_manager)  # manages 1号楼 only
    text = (
        "meter_id,building,unit,linked_at\n"
        "m-1,1号楼,1-101,\n"                      # good
        "bad id!,1号楼,1-102,\n"                  # 3: meter id
        "m-3,9号楼,1-103,\n"                      # 4: no such building
        "m-4,2号楼,2-101,\n"                      # 5: not his building
        "m-1,1号楼,1-104,\n"                      # 6: meter twice
        "m-6,1号楼,1-101,\n"                      # 7: household twice
        "m-7,1号楼,1-107,yesterday\n"             # 8: bad time
        "m-8,1号楼,1-108,2026-11-21T10:00:00\n"   # 9: no offset
        "m-9,1号楼,1-109,2026-12-01T10:00:00+08:00\n"  # 10: future
        "m-10,1号楼\n"                            # 11: too few fields
        "m-11,,1-111,\n"                          # 12: empty building
    )
    response = upload(client, manager, text)
    assert response.status_code == 422
    body = response.json()
    assert [(e["line"], e["column"]) for e in body["errors"]] == [
        (3, "meter_id"), (4, "building"), (5, "building"), (6, "meter_id"), (7, "unit"), (8, "linked_at"),
        (9, "linked_at"), (10, "linked_at"), (11, None), (12, "building"),
    ]
    assert "nothing was applied" in body["detail"]
    assert "2号楼" in body["errors"][2]["message"] and "manage" in body["errors"][2]["message"]
    # All or nothing: the good line 2 was not applied either.
    assert export(client, manager) == "meter_id,building,unit,linked_at\n"
    households = client.get("/api/v1/households", headers=manager).json()
    assert households["total"] == 0


def test_a_bad_header_is_one_error(client, token_for):
    response = upload(client, token_for(Role.secretary), "meter,building,flat\nm-1,1号楼,1\n")
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["line"] == 1 and "meter_id,building,unit,linked_at" in error["message"]


def test_a_dry_run_reports_what_would_change_and_applies_nothing(client, token_for):
    manager = token_for(Role.property_manager)
    first = "meter_id,building,unit,linked_at\nm-1,1号楼,1-101,2026-11-20T08:00:00+08:00\n"
    assert upload(client, manager, first).status_code == 200
    text = "meter_id,building,unit,linked_at\nm-9,1号楼,1-101,2026-11-22T12:00:00+08:00\nm-2,1号楼,1-102,\n"
    response = upload(client, manager, text, dry_run="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert body["counts"] == {"linked": 1, "replaced": 1, "moved": 0, "unchanged": 0}
    assert body["lines"][0]["changes"][0] == "meter m-1 replaced by m-9"
    assert body["lines"][1]["household_id"] is None and body["lines"][1]["household_created"]
    assert export(client, manager) == first
    assert client.get("/api/v1/households", headers=manager).json()["total"] == 1


def test_a_link_time_before_the_current_link_is_refused(client, token_for):
    manager = token_for(Role.property_manager)
    upload(client, manager, "meter_id,building,unit,linked_at\nm-1,1号楼,1-101,2026-11-20T08:00:00+08:00\n")
    response = upload(client, manager, "meter_id,building,unit,linked_at\nm-2,1号楼,1-101,2026-11-19T08:00:00+08:00\n")
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["line"], error["column"]) == (2, "linked_at")
    assert "later" in error["message"]


def test_export_round_trips_into_import_as_unchanged(client, token_for, second_building):
    secretary = token_for(Role.secretary)
    first = ("meter_id,building,unit,linked_at\n"
             "m-1,1号楼,1-101,2026-11-01T08:00:00+08:00\nm-2,2号楼,2-201,2026-11-02T08:00:00+08:00\n")
    assert upload(client, secretary, first).status_code == 200
    # m-3 replaces m-1, then m-1 goes to a new flat: a move
    assert upload(client, secretary, "meter_id,building,unit,linked_at\nm-3,1号楼,1-101,2026-11-10T08:00:00+08:00\n"
                  ).json()["counts"]["replaced"] == 1
    moved = upload(client, secretary, "meter_id,building,unit,linked_at\nm-1,2号楼,2-202,2026-11-11T08:00:00+08:00\n")
    assert moved.json()["counts"]["linked"] == 1  # m-1 served no household since its replacement
    text = export(client, secretary)
    again = upload(client, secretary, text)
    assert again.status_code == 200, again.text
    assert again.json()["counts"] == {"linked": 0, "replaced": 0, "moved": 0, "unchanged": 3}
    assert export(client, secretary) == text
    history = export(client, secretary, history="true")
    assert history.splitlines() == [
        "meter_id,building,unit,linked_at,unlinked_at",
        "m-1,1号楼,1-101,2026-11-01T08:00:00+08:00,2026-11-10T08:00:00+08:00",
        "m-3,1号楼,1-101,2026-11-10T08:00:00+08:00,",
        "m-2,2号楼,2-201,2026-11-02T08:00:00+08:00,",
        "m-1,2号楼,2-202,2026-11-11T08:00:00+08:00,",
    ]
    # a meter serving a flat moves to another
    response = upload(client, secretary, "meter_id,building,unit\nm-2,1号楼,1-105\n")
    assert response.json()["counts"]["moved"] == 1


def test_only_managers_secretaries_and_admins_import(client, token_for, admin, home):
    for role in (Role.cadre, Role.analyst):
        response = upload(client, token_for(role), "meter_id,building,unit\nm-1,1号楼,1\n")
        assert response.status_code == 403, role
    assert client.get("/api/v1/meter-links/export", headers=token_for(Role.cadre, "c2")).status_code == 403
    # An admin names the community; without it she is told to.
    assert client.get("/api/v1/meter-links/export", headers=admin).status_code == 422
    response = upload(client, admin, "meter_id,building,unit\nm-1,1号楼,1\n", community_id=home["community"])
    assert response.status_code == 200
    assert client.get("/api/v1/meter-links/export", params={"community_id": 999}, headers=admin).status_code == 404


def test_a_replaced_meters_history_stays_with_the_household(settings, database, readings_store, token_for):
    app = create_app(settings=settings, db=database, readings=readings_store, clock=lambda: NOW)
    client = TestClient(app)
    manager = token_for(Role.property_manager)
    swap = NOW - 2 * DAY
    upload(client, manager, "meter_id,building,unit,linked_at\nold,1号楼,3-301,2026-11-01T00:00:00+08:00\n")
    readings_store.write([
        Reading("old", to_ms(swap - timedelta(hours=h)), 100.0 + h, to_ms(swap)) for h in (1, 2)
    ] + [
        Reading("old", to_ms(swap + timedelta(hours=1)), 500.0, to_ms(swap)),  # after it left: not the flat's
        Reading("new", to_ms(swap - timedelta(hours=3)), 1.0, to_ms(swap)),  # before it came: not the flat's
        Reading("new", to_ms(swap + timedelta(hours=1)), 2.0, to_ms(swap)),
    ])
    response = upload(client, manager, f"meter_id,building,unit,linked_at\nnew,1号楼,3-301,{swap.isoformat()}\n")
    assert response.json()["counts"]["replaced"] == 1
    household_id = response.json()["lines"][0]["household_id"]
    hourly = client.get(f"/api/v1/households/{household_id}/readings/hourly", headers=manager)
    assert hourly.status_code == 200, hourly.text
    items = [(i["hour"], i["meter_id"], i["total_l"]) for i in hourly.json()["items"]]
    assert items == [
        ("2026-11-20T11:00:00+08:00", "old", 102.0),
        ("2026-11-20T12:00:00+08:00", "old", 101.0),
        ("2026-11-20T14:00:00+08:00", "new", 2.0),
    ]
    status = client.get(f"/api/v1/households/{household_id}", headers=manager).json()
    assert [m["meter_id"] for m in status["meters"]] == ["old", "new"]
    assert status["meter"]["meter_id"] == "new" and status["residents"] is None
