"""The hot lists' unvalidated JSON (``api.responses``) is byte for byte what their response models write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from api.access import scope_for
from api.alerts import service
from api.alerts.schemas import AlertPage, AlertRead
from api.meters.schemas import ReadingList
from api.meters.service import ReadingRecord, ReadingWindow
from api.responses import unvalidated_json_response
from store.links import current_households
from store.models import FLEET, Alert, AlertKind, AlertStatus, Outcome, Role, Severity
from store.users import create_user
from tests.api.conftest import NOW, link_to_home

ZONES = ["Asia/Shanghai", "UTC", "America/St_Johns", "Europe/London"]  # +08:00, Z, -03:30, a DST change
AWKWARD_TEXT = 'a "note"\\ with\nnewlines, \u2028, tabs\t, 中文 and 🚰 </script>'


def model_json(model, values: dict) -> bytes:
    """What FastAPI would have sent: the model validated from the values, then serialised."""
    return model.model_validate(values).model_dump_json().encode()


def messy_alerts(session, home) -> None:
    """Alerts with every optional field both set and empty, odd microseconds and awkward text."""
    link_to_home(session, home, ["m1", "m2"])
    households = current_households(session, ["m1", "m2"])
    ack, _ = create_user(session, name='王"小红"\\', role=Role.cadre, now=NOW, community_id=home["community"])
    res, _ = create_user(session, name="Zoë 🚰", role=Role.secretary, now=NOW, community_id=home["community"])
    rows = []
    for i in range(20):  # no two unresolved alerts of one meter and kind
        started = NOW - timedelta(hours=i, microseconds=i * 123_457)
        resolved = i % 3 == 0
        rows.append({
            "meter_id": ["m1", "m2", "unlinked", FLEET][i % 4], "kind": list(AlertKind)[i % len(AlertKind)],
            "severity": list(Severity)[i % len(Severity)],
            "status": AlertStatus.resolved if resolved else [AlertStatus.open, AlertStatus.acknowledged][i % 2],
            "started_at": started, "raised_at": started + timedelta(minutes=7, microseconds=1),
            "ended_at": started + timedelta(hours=1) if resolved else None,
            "created_at": started + timedelta(minutes=8), "updated_at": started + timedelta(minutes=9, seconds=59),
            "acknowledged_at": started + timedelta(minutes=30) if i % 2 else None,
            "acknowledged_by": ack.id if i % 2 else None,
            "resolved_at": started + timedelta(hours=2) if resolved else None,
            "resolved_by": res.id if resolved and i % 2 else None,
            "resolution_note": AWKWARD_TEXT if resolved and i % 2 else ("" if resolved else None),
            "outcome": list(Outcome)[i % len(Outcome)] if resolved and i % 2 else None,
            "household_id": households.get(["m1", "m2", "unlinked", FLEET][i % 4]), "escalation_level": i % 3,
        })
    session.execute(insert(Alert), rows)


@pytest.mark.parametrize("zone", ZONES)
def test_alert_pages_are_the_bytes_of_the_model(database, home, zone):
    tz = ZoneInfo(zone)
    with database.session() as session:
        messy_alerts(session, home)
    with database.session() as session:
        pages = 0
        for role in (Role.admin, Role.secretary, Role.analyst):
            user, _ = create_user(session, name=f"reader-{role}", role=role, now=NOW,
                                  community_id=None if role == Role.admin else home["community"])
            scope = scope_for(session, user, pseudonym_key="k")
            for statuses, limit, offset in ((None, 100, 0), (["open", "acknowledged"], 7, 3), (None, 5, 1000)):
                records, total = service.list_alerts(session, scope=scope, statuses=statuses, limit=limit,
                                                     offset=offset)
                values = {"items": [AlertRead.values(r, tz=tz, scope=scope) for r in records], "total": total,
                          "limit": limit, "offset": offset}
                assert unvalidated_json_response(values).body == model_json(AlertPage, values)
                pages += bool(records)
        assert pages >= 6  # each role saw alerts


@pytest.mark.parametrize("zone", ZONES)
def test_reading_lists_are_the_bytes_of_the_model(zone):
    start = datetime(2026, 10, 24, 23, 59, 59, 999_000, tzinfo=UTC)  # Europe/London leaves summer time on the 25th
    extras = [None, {}, {"battery": 3.61, "signal": -71, "alarm": True}, {"nan": float("nan"), "inf": float("-inf")},
              {"big": 10**30, "nested": {"list": [1, 2.5, None, "中文 🚰", AWKWARD_TEXT]}, "zero": -0.0}]
    items = [ReadingRecord(ts=start + timedelta(minutes=37 * i), total_l=[0.0, 1e-7, 123456.7, 1e300, float("inf")][i % 5],
                           received_at=start + timedelta(minutes=37 * i, seconds=5, microseconds=i),
                           extra=extras[i % len(extras)])
             for i in range(200)]
    window = ReadingWindow(meter_id="m-01 中", start=start, end=start + timedelta(days=7), items=items)
    values = ReadingList.values(window, tz=ZoneInfo(zone))
    assert unvalidated_json_response(values).body == model_json(ReadingList, values)
