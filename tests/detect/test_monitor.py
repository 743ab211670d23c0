"""The live monitor over a real store and database: alerts follow the readings, restarts raise nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from detect.backtest import backtest
from detect.continuous_flow import ContinuousFlowDetector
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.monitor import Monitor
from detect.offline import OfflineDetector
from detect.shard import Shard
from store.alerts import list_alerts, resolve
from store.away import add_away_window, away_windows_overlapping
from store.db import Database
from store.models import Role
from store.readings import Reading
from store.times import from_ms, to_ms
from store.users import create_user

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
    hourly(readings_store, clock, "m2", [5 * i for i in range(15)])  # in use every hour
    monitor(database, readings_store, clock).tick()
    assert open_alerts(database) == [("m1", "inactivity", "open")]
    restarted = monitor(database, readings_store, clock)
    restarted.tick()
    restarted.tick()
    assert open_alerts(database) == [("m1", "inactivity", "open")]


def test_a_tick_that_changes_one_meter_leaves_the_other_alerts_as_people_left_them(database, readings_store):
    """After its first sync the monitor syncs only the meters whose episodes changed: an alert a
    cadre resolved stays resolved, another stays open, until its own episode ends."""
    clock = Clock()
    live = monitor(database, readings_store, clock)
    for meter in ("m1", "m2"):
        hourly(readings_store, clock, meter, [0, 4] + [4] * 12)  # 12 h still
    live.tick()
    assert sorted(open_alerts(database)) == [("m1", "inactivity", "open"), ("m2", "inactivity", "open")]
    with database.session() as session:
        cadre, _ = create_user(session, name="cadre", role=Role.cadre, now=clock.now)
        [m1_alert] = [a for a in list_alerts(session, limit=100)[0] if a.meter_id == "m1"]
        resolve(session, alert_id=m1_alert.id, user_id=cadre.id, note="visited, all well", now=clock.now)
    hourly(readings_store, clock, "m1", [4], start_h=14)  # both still silent: their episodes go on
    hourly(readings_store, clock, "m2", [4], start_h=14)
    live.tick()
    assert sorted(open_alerts(database)) == [("m1", "inactivity", "resolved"), ("m2", "inactivity", "open")]
    hourly(readings_store, clock, "m2", [9], start_h=15)  # m2 in use again: only its episode ends
    live.tick()
    assert sorted(open_alerts(database)) == [("m1", "inactivity", "resolved"), ("m2", "inactivity", "resolved")]
    with database.session() as session:
        assert len(list_alerts(session, limit=100)[0]) == 2  # nothing raised twice


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
    hourly(readings_store, clock, "m1", [10 * i for i in range(24)])  # used every hour; total 230 at hour 23
    live.tick()
    clock.now = T0 + timedelta(hours=43)
    live.tick()
    assert open_alerts(database) == [("m1", "meter_offline", "open")]
    arrived = T0_MS + 44 * H
    clock.now = T0 + timedelta(hours=44)
    readings_store.write([Reading("m1", T0_MS + h * H, 230.0 if h < 38 else 240.0, arrived) for h in range(24, 44)])
    live.tick()
    with database.session() as session:
        alerts = {a.kind: a for a in list_alerts(session, limit=10)[0]}
    assert alerts["meter_offline"].status == "resolved"
    silence = alerts["inactivity"]
    assert silence.status == "resolved"
    # It began at the last use (hour 23) and ended when the batch proving the next use arrived.
    assert (silence.started_at, silence.ended_at) == (T0 + timedelta(hours=23), T0 + timedelta(hours=44))


# --- Continuous flow ------------------------------------------------------------------------------


def test_a_tap_left_running_raises_a_continuous_flow_alert_until_it_is_turned_off(database, sqlite_readings):
    clock = Clock()
    live = Monitor(detectors=[ContinuousFlowDetector().fit()], readings=sqlite_readings, db=database,
                   history_ms=14 * 86_400_000, clock=clock)
    usage = [0, 5, 5, 12, 12, 12, 20]  # an ordinary morning: use, then none
    running = [usage[-1] + 20 * h for h in range(1, 11)]  # then 20 L/h, without a pause, for ten hours
    hourly(sqlite_readings, clock, "m1", usage)
    live.tick()
    for i, total in enumerate(running):
        hourly(sqlite_readings, clock, "m1", [total], start_h=len(usage) + i)
        live.tick()
        raised = [a for a in open_alerts(database) if a[1] == "continuous_flow"]
        assert raised == ([("m1", "continuous_flow", "open")] if i >= 7 else []), i  # 8 hours of flow
    hourly(sqlite_readings, clock, "m1", [running[-1]], start_h=len(usage) + len(running))  # turned off
    live.tick()
    with database.session() as session:
        [alert] = list_alerts(session)[0]
    assert (alert.kind, alert.severity, alert.status) == ("continuous_flow", "alarm", "resolved")
    assert alert.started_at == T0 + timedelta(hours=len(usage) - 1)  # the first hour of flow


# --- Fleet outages --------------------------------------------------------------------------------

MIN = 60_000


def fleet_readings(meters, hours, *, stop=(24, 30), silent=(), dead=()):
    """Hourly readings of ``meters`` households, meter i at minute i; each hour some water is used.

    Ingestion stops from hour ``stop[0]`` to ``stop[1]`` for every meter: the readings taken then
    arrive late, in one batch at stop[1] plus the meter's minute. Meters in ``silent`` send nothing
    from stop[0] on; meters in ``dead`` nothing from hour 12 on.
    """
    readings = []
    for i in range(meters):
        for h in range(hours):
            if (i in silent and h >= stop[0]) or (i in dead and h >= 12):
                break
            ts = T0_MS + h * H + i * MIN
            arrives = T0_MS + stop[1] * H + i * MIN if stop[0] <= h < stop[1] else ts + 5_000
            readings.append(Reading(f"m{i:02d}", ts, float(3 * h + (h * i) % 4), arrives))
    return sorted(readings, key=lambda r: r.received_ms)


def replay(live, store, clock, readings, *, every, until_h):
    """Tick every ``every`` until ``until_h``, storing before each tick what had arrived by then."""
    pending = list(readings)
    tick = T0
    while tick <= T0 + timedelta(hours=until_h):
        arrived = [r for r in pending if r.received_ms <= to_ms(tick)]
        pending = pending[len(arrived):]
        if arrived:
            store.write(arrived)
        clock.now = tick
        live.tick()
        tick += every


def all_alerts(db):
    with db.session() as session:
        return sorted(
            (a.meter_id, a.kind, a.severity, a.started_at, a.raised_at, a.ended_at)
            for a in list_alerts(session, limit=1000)[0]
        )


def every_detector():
    return [InactivityDetector().fit(), OfflineDetector().fit(), ContinuousFlowDetector().fit(),
            FleetOutageDetector().fit()]


def test_six_hours_of_lost_ingestion_raise_one_fleet_alert_and_no_storm_after_it(database, sqlite_readings):
    """30 hourly meters; the pipeline stops for 6 hours and then delivers what it held in one batch."""
    clock = Clock()
    live = Monitor(detectors=every_detector(), readings=sqlite_readings, db=database,
                   history_ms=14 * 86_400_000, clock=clock)
    replay(live, sqlite_readings, clock, fleet_readings(30, 40), every=timedelta(minutes=10), until_h=40)
    alerts = all_alerts(database)
    assert [(a[0], a[1]) for a in alerts] == [("*", "fleet_outage")]  # no meter_offline, no inactivity
    [(_, _, severity, started, raised, ended)] = alerts
    assert (severity, started) == ("alarm", T0 + timedelta(hours=23, seconds=5))
    assert raised == T0 + timedelta(hours=25, minutes=39, seconds=5)  # the 10th meter 2.5 uploads late
    assert ended == T0 + timedelta(hours=30, minutes=20)  # the 21st meter's batch: 9 still silent


def test_the_monitor_ticking_through_a_fleet_outage_agrees_with_one_backtest(database, sqlite_readings):
    """A meter dead before the outage, stragglers that never come back, ticks at odd times: the
    alerts the monitor keeps are exactly the episodes one backtest over the same readings finds."""
    detectors = [InactivityDetector(learn=False).fit(), OfflineDetector().fit(), FleetOutageDetector().fit()]
    readings = fleet_readings(30, 40, silent={3, 17, 28}, dead={5})
    clock = Clock()
    live = Monitor(detectors=detectors, readings=sqlite_readings, db=database, history_ms=14 * 86_400_000,
                   clock=clock)
    replay(live, sqlite_readings, clock, readings, every=timedelta(minutes=37), until_h=40)

    frame = pd.DataFrame(readings, columns=["meter_id", "ts_ms", "total_l", "received_ms", "extra"]).drop(
        columns="extra")
    episodes = backtest(frame, detectors, until_ms=to_ms(clock.now))
    expected = sorted(
        (r.meter_id, r.kind, r.severity, from_ms(r.started_ms), from_ms(r.raised_ms),
         None if pd.isna(r.ended_ms) else from_ms(r.ended_ms))
        for r in episodes.itertuples()
    )
    assert all_alerts(database) == expected
    kinds = sorted((r[0], r[1]) for r in expected)
    assert kinds == [("*", "fleet_outage"), ("m03", "meter_offline"), ("m05", "meter_offline"),
                     ("m17", "meter_offline"), ("m28", "meter_offline")]


# --- Away windows -------------------------------------------------------------------------------


def away_monitor(db, store, clock):
    def away(start_ms, end_ms):
        with db.session() as session:
            return away_windows_overlapping(session, from_ms(start_ms), from_ms(end_ms))

    return Monitor(detectors=[InactivityDetector(learn=False).fit()], readings=store, db=db,
                   history_ms=14 * 86_400_000, clock=clock, away=away)


def register_away(db, meter, start_h, end_h):
    with db.session() as session:
        add_away_window(session, meter_id=meter, starts_at=T0 + timedelta(hours=start_h),
                        ends_at=T0 + timedelta(hours=end_h), note="visiting family", now=T0)


def test_a_household_away_raises_no_inactivity_alert_inside_its_window(database, sqlite_readings):
    clock = Clock()
    register_away(database, "m1", 2, 30)
    live = away_monitor(database, sqlite_readings, clock)
    for h, total in enumerate([0, 4] + [4] * 28 + [9]):  # still from 01:00 to 30:00, then back
        hourly(sqlite_readings, clock, "m1", [total], start_h=h)
        live.tick()
    assert open_alerts(database) == []


def test_a_silence_running_12_hours_past_the_window_is_raised_then(database, sqlite_readings):
    clock = Clock()
    register_away(database, "m1", 2, 20)
    live = away_monitor(database, sqlite_readings, clock)
    for h, total in enumerate([0, 4] + [4] * 32):  # still from 01:00 until 33:00
        hourly(sqlite_readings, clock, "m1", [total], start_h=h)
        live.tick()
        assert open_alerts(database) == ([("m1", "inactivity", "open")] if h >= 32 else []), h
    with database.session() as session:
        [alert] = list_alerts(session)[0]
    assert alert.raised_at == T0 + timedelta(hours=32, seconds=5)  # 12 hours after the window ended


# --- Shards -------------------------------------------------------------------------------------


def test_two_shards_over_one_store_keep_the_same_alerts_as_one_monitor(database, sqlite_readings, tmp_path):
    """Meters gone silent, a dead meter and a still household, split between two detector shards
    that share the alerts database: together they keep exactly the alerts one monitor keeps, and
    neither resolves the other's."""
    readings = fleet_readings(12, 30, stop=(20, 20), silent={3, 7}, dead={5})  # silent from hour 20
    readings += [Reading("still", T0_MS + h * H, 10.0 if h < 2 else 14.0, T0_MS + h * H + 5_000) for h in range(30)]
    readings.sort(key=lambda r: r.received_ms)
    shared = Database(f"sqlite:///{tmp_path}/shards.db")
    shared.migrate()
    clock = Clock()

    def build(db, shard):
        return Monitor(detectors=every_detector(), readings=sqlite_readings, db=db, history_ms=14 * 86_400_000,
                       clock=clock, shard=shard)

    monitors = [build(database, Shard()), build(shared, Shard.parse("0/2")), build(shared, Shard.parse("1/2"))]
    pending, tick = list(readings), T0
    while tick <= T0 + timedelta(hours=30):
        arrived = [r for r in pending if r.received_ms <= to_ms(tick)]
        pending = pending[len(arrived):]
        if arrived:
            sqlite_readings.write(arrived)
        clock.now = tick
        for live in monitors:
            live.tick()
        tick += timedelta(minutes=41)

    alerts = all_alerts(database)
    assert sorted((a[0], a[1]) for a in alerts) == [("m03", "meter_offline"), ("m05", "meter_offline"),
                                                    ("m07", "meter_offline"), ("still", "inactivity")]
    assert {Shard.parse("1/2").owns_one(a[0]) for a in alerts} == {False, True}  # both shards had work
    assert all_alerts(shared) == alerts
    shared.dispose()
