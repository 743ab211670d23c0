"""Away windows on SQLite and PostgreSQL: stored, read back as the detector's frame, validated, deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from store.away import (
    AWAY_COLUMNS,
    InvalidAwayWindow,
    add_away_window,
    away_windows_overlapping,
    delete_away_window,
    household_windows,
)
from store.db import MIGRATIONS
from store.errors import NotFound
from store.links import link_meter
from store.models import AwayWindow, Building, Community, Household, Role
from store.times import to_ms
from store.users import create_user

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
SHANGHAI = timezone(timedelta(hours=8))


def add(db, meter_id, start, end, **kwargs):
    with db.session() as session:
        return add_away_window(session, meter_id=meter_id, starts_at=start, ends_at=end, now=T0, **kwargs).id


def overlapping(db, start, end):
    with db.session() as session:
        return away_windows_overlapping(session, start, end)


def test_windows_overlapping_a_range_come_back_as_epoch_milliseconds(database):
    add(database, "m2", T0 + DAY, T0 + 3 * DAY)
    add(database, "m1", T0 + 2 * DAY, T0 + 2 * DAY + timedelta(hours=6))
    add(database, "m1", T0 - 5 * DAY, T0 - 4 * DAY)  # long over
    frame = overlapping(database, T0, T0 + 10 * DAY)
    assert list(frame.columns) == AWAY_COLUMNS
    assert frame.to_dict("records") == [
        {"meter_id": "m1", "start_ms": to_ms(T0 + 2 * DAY), "end_ms": to_ms(T0 + 2 * DAY + timedelta(hours=6))},
        {"meter_id": "m2", "start_ms": to_ms(T0 + DAY), "end_ms": to_ms(T0 + 3 * DAY)},
    ]
    assert str(frame["start_ms"].dtype) == "int64" and str(frame["end_ms"].dtype) == "int64"


def test_a_window_touching_the_range_only_at_an_edge_does_not_overlap_it(database):
    add(database, "m1", T0 - DAY, T0)  # ends where the range starts
    add(database, "m2", T0 + DAY, T0 + 2 * DAY)  # starts where the range ends
    add(database, "m3", T0 - DAY, T0 + 2 * DAY)  # covers the whole range
    assert overlapping(database, T0, T0 + DAY)["meter_id"].tolist() == ["m3"]


def test_times_keep_their_instant_whatever_offset_they_were_given_in(database):
    local_start = datetime(2026, 11, 2, 8, tzinfo=SHANGHAI)  # 00:00 UTC
    add(database, "m1", local_start, local_start + DAY)
    [row] = overlapping(database, T0, T0 + 5 * DAY).to_dict("records")
    assert row["start_ms"] == to_ms(T0 + DAY)


def test_no_window_gives_an_empty_frame_with_the_columns(database):
    frame = overlapping(database, T0, T0 + DAY)
    assert frame.empty and list(frame.columns) == AWAY_COLUMNS


def test_who_registered_it_and_why_are_kept(database):
    with database.session() as session:
        user, _ = create_user(session, name="li", role=Role.cadre, now=T0)
    window_id = add(database, "m1", T0, T0 + DAY, note="visiting her daughter", user_id=user.id)
    with database.session() as session:
        window = session.get(AwayWindow, window_id)
        assert (window.note, window.created_by, window.created_at) == ("visiting her daughter", user.id, T0)


@pytest.mark.parametrize(
    ("meter_id", "start", "end", "message"),
    [
        (None, T0, T0 + DAY, "either a household_id or a meter_id"),
        ("m1", T0 + DAY, T0, "must end after it starts"),
        ("m1", T0, T0, "must end after it starts"),
        ("", T0, T0 + DAY, "meter_id must be 1 to 64 characters"),
        ("m" * 65, T0, T0 + DAY, "meter_id must be 1 to 64 characters"),
        ("m1", datetime(2026, 11, 1), T0 + DAY, "no UTC offset"),
    ],
)
def test_a_bad_window_is_refused_with_a_reason_and_nothing_is_stored(database, meter_id, start, end, message):
    with pytest.raises(InvalidAwayWindow, match=message):
        add(database, meter_id, start, end)
    assert overlapping(database, T0 - 10 * DAY, T0 + 10 * DAY).empty


def test_a_deleted_window_no_longer_counts(database):
    kept = add(database, "m1", T0, T0 + DAY)
    gone = add(database, "m2", T0, T0 + DAY)
    with database.session() as session:
        delete_away_window(session, gone)
    assert overlapping(database, T0, T0 + DAY)["meter_id"].tolist() == ["m1"]
    with pytest.raises(NotFound, match=f"away window {gone} does not exist"), database.session() as session:
        delete_away_window(session, gone)
    assert kept != gone


def test_the_migration_builds_the_table_the_model_describes_and_can_be_undone(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext

    from store.models import Base

    with database.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert "away_windows" not in inspect(database.engine).get_table_names()
    database.migrate()
    assert "away_windows" in inspect(database.engine).get_table_names()


def test_a_households_window_applies_to_each_meter_that_served_it_for_the_time_it_did(database):
    """Mrs Dong's meter is replaced on day 3 of her week away: both meters are quiet by design."""
    with database.session() as session:
        community = Community(name="c", created_at=T0)
        session.add(community)
        session.flush()
        building = Building(community_id=community.id, name="b")
        session.add(building)
        session.flush()
        flat, other = (Household(building_id=building.id, unit=u, created_at=T0) for u in ("101", "102"))
        session.add_all([flat, other])
        session.flush()
        link_meter(session, meter_id="old", household_id=flat.id, at=T0 - 30 * DAY)
        link_meter(session, meter_id="next-door", household_id=other.id, at=T0 - 30 * DAY)
        link_meter(session, meter_id="new", household_id=flat.id, at=T0 + 3 * DAY)
        add_away_window(session, household_id=flat.id, starts_at=T0 + DAY, ends_at=T0 + 8 * DAY, now=T0)
        flat_id = flat.id
    frame = overlapping(database, T0, T0 + 30 * DAY)
    assert frame.to_dict("records") == [
        {"meter_id": "new", "start_ms": to_ms(T0 + 3 * DAY), "end_ms": to_ms(T0 + 8 * DAY)},
        {"meter_id": "old", "start_ms": to_ms(T0 + DAY), "end_ms": to_ms(T0 + 3 * DAY)},
    ]
    with database.session() as session:
        assert [w.ends_at for w in household_windows(session, flat_id, ending_after=T0 + 7 * DAY)] == [T0 + 8 * DAY]
        assert household_windows(session, flat_id, ending_after=T0 + 8 * DAY) == []
