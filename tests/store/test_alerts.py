"""Alert lifecycle on SQLite and PostgreSQL: raise, escalate, auto-resolve, never a storm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from store.alerts import (
    AUTO_RESOLVED_NOTE,
    LATE_NOTE,
    Episode,
    acknowledge,
    events_of,
    list_alerts,
    resolve,
    sync_episodes,
)
from store.errors import InvalidTransition
from store.models import Alert, Role
from store.users import create_user

T0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)


def episode(meter="m1", started=T0, raised=T0 + 12 * HOUR, ended=None, severity="alarm", kind="inactivity"):
    return Episode(meter, kind, severity, started, raised, ended)


def sync(db, episodes, now, kind="inactivity"):
    with db.session() as session:
        return sync_episodes(session, kind=kind, episodes=episodes, now=now)


def alerts(db):
    with db.session() as session:
        return list_alerts(session, limit=100)[0]


def test_an_ongoing_episode_raises_one_alert_however_often_it_is_seen(database):
    for tick in range(5):
        report = sync(database, [episode()], now=T0 + 12 * HOUR + tick * timedelta(minutes=1))
        assert len(report.raised) == (1 if tick == 0 else 0)
    [alert] = alerts(database)
    assert (alert.status, alert.severity, alert.started_at, alert.raised_at) == (
        "open", "alarm", T0, T0 + 12 * HOUR)


def test_the_alert_resolves_itself_when_the_condition_ends(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    report = sync(database, [episode(ended=T0 + 14 * HOUR)], now=T0 + 14 * HOUR + timedelta(seconds=30))
    [alert] = alerts(database)
    assert [a.id for a in report.resolved] == [alert.id]
    assert (alert.status, alert.ended_at, alert.resolution_note) == ("resolved", T0 + 14 * HOUR, AUTO_RESOLVED_NOTE)


def test_an_alert_whose_episode_vanished_is_resolved_as_of_now(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    sync(database, [], now=T0 + 20 * HOUR)
    [alert] = alerts(database)
    assert (alert.status, alert.ended_at) == ("resolved", T0 + 20 * HOUR)


def test_a_new_episode_on_the_same_meter_is_a_new_alert(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    sync(database, [episode(ended=T0 + 13 * HOUR)], now=T0 + 13 * HOUR)
    second = episode(started=T0 + 20 * HOUR, raised=T0 + 32 * HOUR)
    sync(database, [second], now=T0 + 32 * HOUR)
    assert sorted(a.status for a in alerts(database)) == ["open", "resolved"]


def test_kinds_are_kept_apart(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    sync(database, [episode(kind="meter_offline", severity="warning")], now=T0 + 12 * HOUR, kind="meter_offline")
    sync(database, [], now=T0 + 13 * HOUR, kind="meter_offline")  # offline over; inactivity untouched
    by_kind = {a.kind: a.status for a in alerts(database)}
    assert by_kind == {"inactivity": "open", "meter_offline": "resolved"}


def test_a_person_resolving_an_ongoing_episode_is_not_overruled(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    with database.session() as session:
        user, _ = create_user(session, name="cadre", role=Role.cadre, now=T0)
        [alert] = list_alerts(session)[0]
        acknowledge(session, alert_id=alert.id, user_id=user.id, now=T0 + 12.2 * HOUR)
        resolve(session, alert_id=alert.id, user_id=user.id, note="visited: fine, was asleep", now=T0 + 13 * HOUR)
    report = sync(database, [episode()], now=T0 + 13.5 * HOUR)
    assert not report.raised and not report.escalated
    [alert] = alerts(database)
    assert (alert.status, alert.resolution_note) == ("resolved", "visited: fine, was asleep")


def test_an_episode_that_grew_worse_after_a_person_closed_it_reopens(database):
    sync(database, [episode(severity="warning", raised=T0 + 5 * HOUR)], now=T0 + 5 * HOUR)
    with database.session() as session:
        [alert] = list_alerts(session)[0]
        resolve(session, alert_id=alert.id, user_id=None, note="probably out", now=T0 + 6 * HOUR)
    report = sync(database, [episode(severity="alarm")], now=T0 + 12 * HOUR)
    [alert] = alerts(database)
    assert [a.id for a in report.escalated] == [alert.id]
    assert (alert.status, alert.severity) == ("open", "alarm")


def test_an_episode_over_before_its_data_arrived_is_recorded_resolved(database):
    late = episode(ended=T0 + 15 * HOUR)
    report = sync(database, [late], now=T0 + 30 * HOUR)
    sync(database, [late], now=T0 + 31 * HOUR)  # replayed after a restart: still one record
    [alert] = alerts(database)
    assert [a.id for a in report.recorded] == [alert.id]
    assert (alert.status, alert.resolution_note) == ("resolved", LATE_NOTE)


def test_acknowledge_and_resolve_follow_the_lifecycle(database):
    sync(database, [episode()], now=T0 + 12 * HOUR)
    with database.session() as session:
        [alert] = list_alerts(session)[0]
        acknowledge(session, alert_id=alert.id, user_id=None, now=T0 + 12.5 * HOUR)
        assert alert.status == "acknowledged"
        resolve(session, alert_id=alert.id, user_id=None, note=None, now=T0 + 13 * HOUR)
        with pytest.raises(InvalidTransition):
            acknowledge(session, alert_id=alert.id, user_id=None, now=T0 + 14 * HOUR)
        with pytest.raises(InvalidTransition):
            resolve(session, alert_id=alert.id, user_id=None, note="again", now=T0 + 14 * HOUR)


def test_the_database_refuses_a_second_unresolved_alert_for_a_meter_and_kind(database):
    with pytest.raises(IntegrityError), database.session() as session:
        for hour in (0, 1):
            session.add(Alert(meter_id="m1", kind="inactivity", severity="alarm", status="open",
                              started_at=T0 + hour * HOUR, raised_at=T0, created_at=T0, updated_at=T0))
            session.flush()


def test_a_sync_of_some_meters_compares_only_their_alerts(database):
    sync(database, [episode("m1"), episode("m2")], now=T0 + 12 * HOUR)
    with database.session() as session:  # m2's episode is unchanged: the caller leaves it out
        report = sync_episodes(session, kind="inactivity", episodes=[episode("m1", ended=T0 + 13 * HOUR)],
                               now=T0 + 13 * HOUR, meters=["m1"])
    assert [a.meter_id for a in report.resolved] == ["m1"]
    assert sorted((a.meter_id, a.status) for a in alerts(database)) == [("m1", "resolved"), ("m2", "open")]


def test_a_day_end_of_many_episodes_keeps_what_people_resolved_and_records_each_late_one_once(database):
    # More episodes than one lookup query takes (500), on more meters and starts than one query has.
    meters = [f"m{i:04d}" for i in range(1_200)]
    starts = {m: T0 + (i % 3) * HOUR for i, m in enumerate(meters)}
    ongoing = [episode(meter=m, started=starts[m], severity="warning", kind="unusual_pattern") for m in meters]
    assert len(sync(database, ongoing, now=T0 + 12 * HOUR, kind="unusual_pattern").raised) == 1_200
    closed_by_person = meters[::7]
    with database.session() as session:
        for alert in session.scalars(select(Alert).where(Alert.meter_id.in_(closed_by_person))):
            resolve(session, alert_id=alert.id, user_id=None, note="visited", now=T0 + 13 * HOUR)
    late = [episode(meter=m, started=T0 - 30 * HOUR, raised=T0 - 20 * HOUR, ended=T0 - 10 * HOUR,
                    kind="unusual_pattern") for m in meters[:700]]
    for tick in (14, 15):  # the late episodes again at the next tick: still one record each
        report = sync(database, ongoing + late, now=T0 + tick * HOUR, kind="unusual_pattern")
        assert not report.raised and not report.escalated
        assert len(report.recorded) == (700 if tick == 14 else 0)
    with database.session() as session:
        rows = session.execute(select(Alert.meter_id, Alert.status, Alert.resolution_note)
                               .where(Alert.started_at >= T0)).all()
    assert len(rows) == 1_200
    assert {m for m, status, note in rows if status == "resolved"} == set(closed_by_person)


def test_a_district_gone_still_at_once_raises_an_alert_on_every_meter_past_a_query_s_parameter_limit(database):
    # A water cut on a city's fleet: 70,000 meters go still in the same hour, more ids than one
    # PostgreSQL statement may bind (65,535). Two linked meters, far apart, keep their households.
    from store.links import link_meter
    from store.registry import create_building, create_community, create_household

    meters = [f"m{i:06d}" for i in range(70_000)]
    with database.session() as session:
        community = create_community(session, name="c", now=T0)
        building = create_building(session, community_id=community.id, name="b")
        households = {m: create_household(session, building_id=building.id, unit=m, now=T0).id
                      for m in (meters[10], meters[-10])}
        for meter, household in households.items():
            link_meter(session, meter_id=meter, household_id=household, at=T0)
    report = sync(database, [episode(meter=m) for m in meters], now=T0 + 12 * HOUR)
    assert len(report.raised) == 70_000
    with database.session() as session:
        rows = dict(session.execute(select(Alert.meter_id, Alert.household_id)).all())
    assert len(rows) == 70_000
    assert {m: rows[m] for m in households} == households
    assert sum(household is not None for household in rows.values()) == 2


def trail(session, alert_id):
    return [(e.action, e.detail, e.at, e.user_id) for e in events_of(session, alert_id)]


def test_the_audit_trail_keeps_what_anxin_did_to_each_alert_in_order(database):
    sync(database, [episode("m1", severity="warning", raised=T0 + 5 * HOUR),
                    episode("m2", severity="warning", raised=T0 + 5 * HOUR)], now=T0 + 5 * HOUR)
    with database.session() as session:
        m2 = next(a for a in list_alerts(session)[0] if a.meter_id == "m2")
        resolve(session, alert_id=m2.id, user_id=None, note="probably out", now=T0 + 6 * HOUR)
    sync(database, [episode("m1"), episode("m2")], now=T0 + 12 * HOUR)  # both grow worse
    sync(database, [episode("m1", ended=T0 + 14 * HOUR), episode("m2"),
                    episode("m3", started=T0, ended=T0 + 13 * HOUR)], now=T0 + 14 * HOUR)
    with database.session() as session:
        by_meter = {a.meter_id: a.id for a in list_alerts(session)[0]}
        assert trail(session, by_meter["m1"]) == [
            ("raised", "warning", T0 + 5 * HOUR, None), ("severity_raised", "alarm", T0 + 12 * HOUR, None),
            ("auto_resolved", AUTO_RESOLVED_NOTE, T0 + 14 * HOUR, None)]
        assert trail(session, by_meter["m2"]) == [
            ("raised", "warning", T0 + 5 * HOUR, None), ("resolved", "probably out", T0 + 6 * HOUR, None),
            ("reopened", "alarm", T0 + 12 * HOUR, None)]
        assert trail(session, by_meter["m3"]) == [("raised", "alarm", T0 + 14 * HOUR, None)]  # recorded already resolved


def test_each_raised_alert_is_reported_with_its_own_id(database):
    """The notifier and the tick's logs go by these ids: each must name the alert of its own meter."""
    severities = ["warning", "alarm", "warning", "alarm", "alarm"]
    episodes = [episode(meter=f"m{i}", started=T0 + i * HOUR, severity=s) for i, s in enumerate(severities)]
    report = sync(database, episodes, now=T0 + 20 * HOUR)
    assert len(report.raised) == 5
    with database.session() as session:
        for synced in report.raised:
            stored = session.get(Alert, synced.id)
            assert (stored.meter_id, stored.severity) == (synced.meter_id, synced.severity)
        assert [e.action for e in events_of(session, report.raised[0].id)] == ["raised"]
