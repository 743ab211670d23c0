"""Escalation and reminders with a clock moved by hand, on SQLite and PostgreSQL: an alarm nobody
acknowledges climbs from the cadre to the secretary to the admin, reminded every 10 minutes."""

from __future__ import annotations

import pytest

from api.access import scope_for
from api.alerts import service
from api.notify.runner import Notifier
from store.alerts import Episode, events_of, sync_episodes
from store.models import AlertKind, User
from tests.api.notify.conftest import MINUTE, T0, add_channel, build_site


@pytest.fixture
def site(database):
    return build_site(database)


@pytest.fixture
def wired(database, site, receiver):
    """Every person of the site gets notices at her own path of the receiver."""
    for name in ("cadre", "other_cadre", "secretary", "admin", "manager"):
        add_channel(database, getattr(site, name), f"{receiver.url}/{name}")
    return site


def raise_alert(db, meter_id: str, kind: str, severity: str, *, at=T0) -> int:
    with db.session() as session:
        report = sync_episodes(session, kind=kind, episodes=[
            Episode(meter_id=meter_id, kind=kind, severity=severity, started_at=at - 720 * MINUTE, raised_at=at)
        ], now=at)
        return report.raised[0].id


def events(receiver, path: str) -> list[str]:
    return [r.body["event"] for r in receiver.to(path)]


def trail(db, alert_id: int) -> list[str]:
    with db.session() as session:
        return [str(e.action) for e in events_of(session, alert_id)]


def test_an_unacknowledged_alarm_climbs_the_chain_and_is_reminded_until_someone_acts(
    database, wired, receiver, clock, notify_settings
):
    alert_id = raise_alert(database, "m-dong", AlertKind.inactivity, "alarm")
    notifier = Notifier(db=database, settings=notify_settings, clock=clock)

    notifier.tick()  # within one tick of being raised, her cadre has it
    assert events(receiver, "/cadre") == ["raised"]
    body = receiver.to("/cadre")[0].body
    assert body["alert"]["id"] == alert_id and body["alert"]["household"] == "3号楼 2-502"
    assert body["recipient"] == "wang" and body["link"] == f"https://anxin.example/alerts/{alert_id}"
    assert "董" not in str(body)  # never the resident's name
    # The other cadre does not look after Mrs Dong; the property manager does not act on inactivity.
    assert events(receiver, "/other_cadre") == events(receiver, "/manager") == []
    assert events(receiver, "/secretary") == events(receiver, "/admin") == []

    for _ in range(2):  # 10 and 20 minutes: reminders to the cadre
        clock.advance(10 * MINUTE)
        notifier.tick()
    assert events(receiver, "/cadre") == ["raised", "reminder", "reminder"]

    clock.advance(10 * MINUTE)  # 30 minutes, nobody acknowledged: the secretary
    notifier.tick()
    assert events(receiver, "/secretary") == ["escalated"]
    assert receiver.to("/secretary")[0].body["alert"]["escalation_level"] == 1
    assert trail(database, alert_id)[-1] == "escalated"

    for _ in range(2):  # 40 and 50: reminders to the secretary now
        clock.advance(10 * MINUTE)
        notifier.tick()
    assert events(receiver, "/secretary") == ["escalated", "reminder", "reminder"]
    assert events(receiver, "/cadre") == ["raised", "reminder", "reminder"]

    clock.advance(10 * MINUTE)  # 60: the admin
    notifier.tick()
    assert events(receiver, "/admin") == ["escalated"]
    assert receiver.to("/admin")[0].body["alert"]["escalation_level"] == 2

    clock.advance(10 * MINUTE)  # 70: the admin is reminded; nowhere higher to go
    notifier.tick()
    assert events(receiver, "/admin") == ["escalated", "reminder"]

    with database.session() as session:  # the cadre finally answers
        cadre = session.get(User, wired.cadre)
        service.acknowledge(session, scope=scope_for(session, cadre), alert_id=alert_id, now=clock.advance(MINUTE))
    sent = len(receiver.requests)
    for _ in range(12):  # two more hours: nothing more
        clock.advance(10 * MINUTE)
        notifier.tick()
    assert len(receiver.requests) == sent
    assert trail(database, alert_id) == ["raised", "reminded", "reminded", "escalated", "reminded", "reminded",
                                         "escalated", "reminded", "acknowledged"]


def test_a_warning_keeps_its_own_timings(database, wired, receiver, clock, notify_settings):
    raise_alert(database, "m-dong", AlertKind.inactivity, "warning")
    notifier = Notifier(db=database, settings=notify_settings, clock=clock)
    notifier.tick()
    clock.advance(59 * MINUTE)
    notifier.tick()
    assert events(receiver, "/cadre") == ["raised"]
    clock.advance(MINUTE)  # 60 min: a reminder
    notifier.tick()
    assert events(receiver, "/cadre") == ["raised", "reminder"]
    clock.advance(59 * MINUTE)
    notifier.tick()
    assert events(receiver, "/secretary") == []
    clock.advance(MINUTE)  # 120 min: the secretary
    notifier.tick()
    assert events(receiver, "/secretary") == ["escalated"]


def test_info_is_never_sent_on_its_own_nor_escalated(database, wired, receiver, clock, notify_settings):
    alert_id = raise_alert(database, "m-dong", AlertKind.unusual_pattern, "info")
    notifier = Notifier(db=database, settings=notify_settings, clock=clock)
    for _ in range(30):  # ten hours, past 08:00
        notifier.tick()
        clock.advance(20 * MINUTE)
    assert trail(database, alert_id) == ["raised"]
    # Only the cadres' digests went out, and hers lists it.
    assert {r.path: r.body["event"] for r in receiver.requests} == {"/cadre": "digest", "/other_cadre": "digest"}
    (digest,) = receiver.to("/cadre")
    assert [a["id"] for a in digest.body["alerts"]] == [alert_id]


def test_a_warning_that_becomes_an_alarm_is_announced_and_takes_the_alarm_timings(
    database, wired, receiver, clock, notify_settings
):
    alert_id = raise_alert(database, "m-dong", AlertKind.inactivity, "warning")
    notifier = Notifier(db=database, settings=notify_settings, clock=clock)
    notifier.tick()
    clock.advance(5 * MINUTE)
    with database.session() as session:
        sync_episodes(session, kind=AlertKind.inactivity, episodes=[Episode(
            meter_id="m-dong", kind=AlertKind.inactivity, severity="alarm", started_at=T0 - 720 * MINUTE,
            raised_at=T0)], now=clock.now)
    notifier.tick()
    assert events(receiver, "/cadre") == ["raised", "worse"]
    assert receiver.to("/cadre")[1].body["alert"]["severity"] == "alarm"
    clock.advance(25 * MINUTE)  # 30 min after it was raised: the alarm's escalation time
    notifier.tick()
    assert events(receiver, "/secretary") == ["escalated"]
    assert trail(database, alert_id)[-1] == "escalated"


def test_a_household_nobody_looks_after_goes_to_the_secretary_and_an_unlinked_meter_to_the_admin(
    database, wired, receiver, clock, notify_settings
):
    raise_alert(database, "m-next", AlertKind.inactivity, "alarm")  # its cadre is li...
    with database.session() as session:  # ...who has left
        from store.models import HouseholdCadre
        session.query(HouseholdCadre).filter_by(user_id=wired.other_cadre).delete()
    raise_alert(database, "m-loose", AlertKind.meter_offline, "warning")
    Notifier(db=database, settings=notify_settings, clock=clock).tick()
    assert events(receiver, "/secretary") == ["raised"]
    assert events(receiver, "/admin") == ["raised"]
    assert receiver.to("/admin")[0].body["alert"]["household"] == "水表 m-loose（未关联住户）"
    assert events(receiver, "/cadre") == events(receiver, "/other_cadre") == []


def test_a_fleet_outage_goes_to_the_property_manager(database, wired, receiver, clock, notify_settings):
    raise_alert(database, "*", AlertKind.fleet_outage, "alarm")
    Notifier(db=database, settings=notify_settings, clock=clock).tick()
    assert events(receiver, "/manager") == ["raised"]
    assert receiver.requests == receiver.to("/manager")
