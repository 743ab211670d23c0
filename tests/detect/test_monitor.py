"""The live monitor over a real store and database: alerts follow the readings, restarts raise nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detect.inactivity import InactivityDetector
from detect.monitor import Monitor
from detect.offline import OfflineDetector
from store.alerts import list_alerts
from store.readings import Reading

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = 3_600_000
T0_MS = int(T0.timestamp() * 1000)


class Clock:
    """A clock the test moves by hand: the monitor's time seam."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def monitor(db, store, clock):
    detectors = [InactivityDetector().fit(), OfflineDetector().fit()]
    return Monitor(detectors=detectors, readings=store, db=db, history_ms=14 * 86_400_000, clock=clock)


def hourly(store, clock, meter, totals, start_h=0):
    for i, total in enumerate(totals):
        ts = T0_MS + (start_h + i) * H
        clock.now = T0 + timedelta(milliseconds=ts - T0_MS + 5_000)
        store.write([Reading(meter, ts, float(total), ts + 5_000)])


def open_alerts(db):
    with db.session() as session:
        return [(a.meter_id, a.kind, a.status) for a in list_alerts(session, limit=100)[0]]


def test_alerts_follow_the_readings_tick_by_tick(database, readings_store):
    clock = Clock()
    live = monitor(database, readings_store, clock)
    hourly(readings_store, clock, "m1", [0, 4] + [4] * 11)  # 11 h still
    live.tick()
    assert open_alerts(database) == []
    hourly(readings_store, clock, "m1", [4], start_h=13)  # 12 h
    live.tick()
    assert open_alerts(database) == [("m1", "inactivity", "open")]
    hourly(readings_store, clock, "m1", [9], start_h=14)  # water used again
    live.tick()
    assert open_alerts(database) == [("m1", "inactivity", "resolved")]


def test_a_restarted_monitor_rebuilds_its_state_and_raises_nothing_twice(database, readings_store):
    clock = Clock()
    hourly(readings_store, clock, "m1", [0, 4] + [4] * 13)
    hourly(readings_store, clock, "m2", list(range(15)))
    monitor(database, readings_store, clock).tick()
    assert open_alerts(database) == [("m1", "inactivity", "open")]
    restarted = monitor(database, readings_store, clock)
    restarted.tick()
    restarted.tick()
    assert open_alerts(database) == [("m1", "inactivity", "open")]


def test_a_meter_that_stops_reporting_goes_offline_and_back(database, readings_store):
    clock = Clock()
    live = monitor(database, readings_store, clock)
    hourly(readings_store, clock, "m1", list(range(6)))
    live.tick()
    clock.now += timedelta(hours=3)
    live.tick()
    assert open_alerts(database) == [("m1", "meter_offline", "open")]
    hourly(readings_store, clock, "m1", [9], start_h=9)
    live.tick()
    assert open_alerts(database) == [("m1", "meter_offline", "resolved")]


def test_a_database_outage_is_retried_not_fatal(readings_store, postgres_url):
    from store.db import Database
    from store.errors import StoreUnavailable

    clock = Clock()
    hourly(readings_store, clock, "m1", [0, 4] + [4] * 13)
    down = Database("postgresql://postgres@127.0.0.1:1/anxin")  # nothing listens on port 1
    live = monitor(down, readings_store, clock)
    with pytest.raises(StoreUnavailable):
        live.tick()
    up = Database(postgres_url)  # the database is back; the same monitor carries on
    up.migrate()
    live.db = up
    live.tick()
    assert open_alerts(up) == [("m1", "inactivity", "open")]
    up.dispose()


def test_a_batch_20_hours_late_ends_the_offline_alert_and_records_the_silence_it_proves(database, readings_store):
    """Hourly uploads stop; 20 hours later the missed readings arrive as one batch. In them, the
    register stood still for 15 hours and then moved: that silence is recorded (already over)."""
    clock = Clock()
    live = monitor(database, readings_store, clock)
    hourly(readings_store, clock, "m1", list(range(24)))  # used every hour; total 23 at hour 23
    live.tick()
    clock.now = T0 + timedelta(hours=43)
    live.tick()
    assert open_alerts(database) == [("m1", "meter_offline", "open")]
    arrived = T0_MS + 44 * H
    clock.now = T0 + timedelta(hours=44)
    readings_store.write([Reading("m1", T0_MS + h * H, 23.0 if h < 38 else 30.0, arrived) for h in range(24, 44)])
    live.tick()
    with database.session() as session:
        alerts = {a.kind: a for a in list_alerts(session, limit=10)[0]}
    assert alerts["meter_offline"].status == "resolved"
    silence = alerts["inactivity"]
    assert silence.status == "resolved"
    # It began at the last use (hour 23) and ended when the batch proving the next use arrived.
    assert (silence.started_at, silence.ended_at) == (T0 + timedelta(hours=23), T0 + timedelta(hours=44))
