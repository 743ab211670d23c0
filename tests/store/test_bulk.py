"""``store.bulk`` (COPY on PostgreSQL, the driver's executemany on SQLite) stores exactly what
SQLAlchemy's own insert stores, and gives each row its own id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from store.bulk import insert_rows, insert_rows_returning_ids
from store.models import Alert, AlertAction, AlertEvent, AlertStatus

AT = datetime(2026, 11, 1, 8, 30, 15, 123456, tzinfo=UTC)


def an_alert(meter: str) -> dict:
    return {"meter_id": meter, "kind": "inactivity", "severity": "warning", "status": AlertStatus.open,
            "started_at": AT, "raised_at": AT.astimezone(timezone(timedelta(hours=8))), "ended_at": None,
            "created_at": AT, "updated_at": AT, "resolution_note": None, "household_id": None}


def events(alert_id: int) -> list[dict]:
    awkward = 'tab\there, newline\nhere, backslash \\N, quote " and 安心'
    return [{"alert_id": alert_id, "at": AT + timedelta(seconds=i), "user_id": None, "action": action,
             "detail": detail} for i, (action, detail) in enumerate(
                [(AlertAction.raised, "warning"), (AlertAction.auto_resolved, awkward), (AlertAction.raised, None)])]


def stored(session, alert_id: int) -> list[tuple]:
    rows = session.execute(select(AlertEvent.at, AlertEvent.action, AlertEvent.detail, AlertEvent.user_id)
                           .where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.at))
    return [tuple(row) for row in rows]


def test_rows_inserted_in_bulk_read_back_as_an_ordinary_insert_stores_them(database):
    with database.session() as session:
        insert_rows(session, Alert.__table__, [an_alert("bulk")])
        session.execute(insert(Alert.__table__), [an_alert("plain")])
        bulk = session.scalars(select(Alert).where(Alert.meter_id == "bulk")).one()
        plain = session.scalars(select(Alert).where(Alert.meter_id == "plain")).one()
        columns = [c.name for c in Alert.__table__.columns if c.name not in ("id", "meter_id")]
        assert [getattr(bulk, c) for c in columns] == [getattr(plain, c) for c in columns]
        assert bulk.escalation_level == 0 and bulk.raised_at == AT  # a default, and a time in another zone
        insert_rows(session, AlertEvent.__table__, events(bulk.id))
        session.execute(insert(AlertEvent.__table__), events(plain.id))
        assert stored(session, bulk.id) == stored(session, plain.id)
        assert stored(session, bulk.id)[1][2] == events(0)[1]["detail"]
        insert_rows(session, AlertEvent.__table__, [])  # nothing to do


def test_a_column_left_out_gets_its_python_default_as_an_ordinary_insert_gives_it(database):
    # ``status`` has a default in Python only (no server default): COPY must send it itself.
    row = {key: value for key, value in an_alert("bulk").items() if key != "status"}
    with database.session() as session:
        insert_rows(session, Alert.__table__, [row])
        session.execute(insert(Alert.__table__), [{**row, "meter_id": "plain"}])
        statuses = session.execute(select(Alert.meter_id, Alert.status).order_by(Alert.meter_id)).all()
        assert [tuple(s) for s in statuses] == [("bulk", AlertStatus.open), ("plain", AlertStatus.open)]


def test_ids_come_back_in_the_order_of_the_rows_across_statements(database, monkeypatch):
    # Five parameters a statement fit no whole row of twelve: one row a statement on SQLite.
    monkeypatch.setattr(database.engine.dialect, "insertmanyvalues_max_parameters", 5)
    rows = [{**an_alert(f"m{i}"), "started_at": AT - timedelta(hours=i % 3)} for i in (3, 1, 4, 0, 2)]
    with database.session() as session:
        ids = insert_rows_returning_ids(session, Alert.__table__, rows, key=("meter_id", "started_at"))
        assert len(set(ids)) == 5
        assert [session.get(Alert, alert_id).meter_id for alert_id in ids] == [row["meter_id"] for row in rows]
        assert insert_rows_returning_ids(session, Alert.__table__, [], key=("meter_id",)) == []


def test_a_time_without_a_zone_is_refused_even_beside_the_same_time_with_one(database):
    naive = {**an_alert("naive"), "created_at": AT.replace(tzinfo=None)}
    with database.session() as session, pytest.raises(ValueError, match="naive datetime"):
        insert_rows(session, Alert.__table__, [an_alert("aware"), naive])
