"""The notifier visits only the alerts that ``due_alert_ids`` names: it must never leave out one that
``notify_round`` would act on. Checked minute by minute over three hours, on SQLite and PostgreSQL,
for the default timings, with reminders off (so escalations are due on their own), and odd ones."""

from __future__ import annotations

import pytest

from api.notify.escalation import RoundReport, due_alert_ids, notify_round
from api.notify.runner import Notifier
from api.settings import Settings
from store.alerts import Episode, sync_episodes
from store.models import Alert, AlertStatus
from tests.api.notify.conftest import MINUTE, T0, FakeClock, add_channel, build_site

TIMINGS = {
    "defaults": {},
    "reminders off": {"alarm_remind_min": 0, "warning_remind_min": 0},
    "odd": {"alarm_escalate_min": 25, "alarm_remind_min": 7, "warning_escalate_min": 50, "warning_remind_min": 0},
}


def sync(db, meter: str, severity: str, at, started=T0 - 720 * MINUTE) -> None:
    with db.session() as session:
        sync_episodes(session, kind="inactivity", episodes=[Episode(meter, "inactivity", severity, started, at)],
                      now=at, meters=[meter])


@pytest.mark.parametrize("timings", list(TIMINGS))
def test_no_alert_with_something_due_is_left_out(database, receiver, timings):
    site = build_site(database)
    for name in ("cadre", "other_cadre", "secretary", "admin"):
        add_channel(database, getattr(site, name), f"{receiver.url}/{name}")
    settings = Settings(timezone="Asia/Shanghai", notify={"public_url": "https://anxin.example/", **TIMINGS[timings]})
    clock = FakeClock(T0)
    notifier = Notifier(db=database, settings=settings, clock=clock)
    sync(database, "m-dong", "alarm", T0)
    sync(database, "m-next", "warning", T0 + 5 * MINUTE)
    sync(database, "m-unlinked", "info", T0 + 5 * MINUTE)
    left_out = acted = 0
    for minute in range(181):
        now = clock.now = T0 + minute * MINUTE
        if minute == 8:  # the warning becomes an alarm: "worse" is due at once, before any timing
            sync(database, "m-next", "alarm", now)
        with database.session() as session:
            due = set(due_alert_ids(session, now=now, settings=settings.notify))
            open_ids = set(session.scalars(Alert.__table__.select().with_only_columns(Alert.id)
                                           .where(Alert.status == AlertStatus.open)))
        for alert_id in sorted(open_ids - due):
            left_out += 1
            report = RoundReport()
            with database.sessions() as session:  # what a round would do, rolled back
                alert = session.get(Alert, alert_id)
                notified_at = alert.notified_at
                notify_round(session, alert, now=now, settings=settings.notify, tz=settings.tz,
                             public_url="https://anxin.example/", report=report)
                assert report == RoundReport() and alert.notified_at == notified_at, (
                    f"minute {minute}: alert {alert_id} ({alert.severity}) was left out with {report} due")
                session.rollback()
        done = notifier.tick().alerts
        acted += done.raised + done.escalated + done.reminded + done.worse
    assert left_out > 100 and acted >= 5  # the filter left alerts out, and the notifier did its work
