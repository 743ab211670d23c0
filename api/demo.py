"""``anxin demo``: the whole service on one machine, fed by simulated households.

The simulator replays the last 14 hours of a dozen households at high speed, then carries on in
real time, so every timestamp is real. One household went still 13 hours ago: its inactivity
alert appears once the replay reaches the twelfth hour of silence, about 80 seconds in.

The demo community has one building whose flats are the simulated households, a cadre who looks
after all of them, a secretary and a property manager, so the cadres' page at / shows the alert.
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import UTC
from pathlib import Path

import pandas as pd

from api.settings import Settings, load_settings
from api.wiring import (
    Background,
    Stores,
    build_ingester,
    build_monitor,
    build_notifier,
    metrics_registry,
    publish_replay,
    serve_api,
    start_detector,
    start_ingester,
    start_notifier,
)
from detect.simulate import Incident, simulate
from ingest.broker import EmbeddedBroker, free_port
from store import registry
from store.alerts import list_alerts
from store.links import link_meter
from store.models import Role
from store.times import to_ms, utc_now
from store.users import create_user

log = logging.getLogger(__name__)

BACKFILL = pd.Timedelta(hours=14)
STILL_METER = "m0002"  # its resident goes still 13 h before the demo starts
DEAD_METER = "m0005"  # its meter dies 11 h before the demo starts
DEMO_PASSWORD = "anxin-demo"  # the demo's people sign in on the page with it; the demo is local only


def run_demo(*, mqtt_url: str | None, host: str, port: int, households: int, speed: float, data_dir: Path) -> None:
    protocol = "5"
    if mqtt_url is None:
        broker = EmbeddedBroker(free_port())
        broker.start()
        mqtt_url, protocol = broker.url, "3.1.1"  # amqtt speaks MQTT 3.1.1
    if data_dir.exists():
        shutil.rmtree(data_dir)  # every demo starts from nothing
    data_dir.mkdir(parents=True)
    settings = _demo_settings(mqtt_url, protocol, host, port, data_dir)
    stores = Stores(settings)
    start = pd.Timestamp.now(tz=UTC).floor("min") - BACKFILL
    with stores.db.session() as session:
        _, token = create_user(session, name="demo", role=Role.admin, now=utc_now())
        _seed_community(session, households=households, linked_at=start.to_pydatetime())

    sim = simulate(
        households=households,
        start=start,
        days=(BACKFILL + pd.Timedelta(days=2)) / pd.Timedelta(days=1),
        cadence_s=900,
        incidents=[
            Incident(meter_id=STILL_METER, kind="still", start=start + pd.Timedelta(hours=1)),
            Incident(meter_id=DEAD_METER, kind="dead_meter", start=start + pd.Timedelta(hours=3)),
        ],
        timezone=settings.timezone,
    )
    background = Background()
    registry = metrics_registry()  # the ingester's metrics, served by the API's /metrics
    start_ingester(background, *build_ingester(settings, stores, registry=registry))
    start_detector(background, build_monitor(settings, stores), settings.detect_tick_s)
    start_notifier(background, build_notifier(settings, stores))
    start_ms = to_ms(start)
    background.start("simulator", lambda stop: publish_replay(settings, sim.readings, start_ms=start_ms,
                                                              speed=speed, stop=stop))
    base = f"http://{host}:{port}"
    background.start("alert-printer", lambda stop: _print_alerts(stores, token, base, stop))
    print(_banner(base, token, households), flush=True)

    from api.app import create_app

    try:
        serve_api(create_app(settings=settings, db=stores.db, readings=stores.readings, metrics_registry=registry),
                  host=host, port=port, background=background, log_level="warning", log_format=settings.log_format)
    finally:
        background.shutdown()
        stores.close()


def _seed_community(session, *, households: int, linked_at) -> None:
    """示范社区: one building whose flats are served by the simulated meters m0000, m0001, ...; a cadre
    who looks after every flat, a secretary and a property manager, all signing in with DEMO_PASSWORD."""
    now = utc_now()
    community = registry.create_community(session, name="示范社区", now=now)
    building = registry.create_building(session, community_id=community.id, name="1号楼")
    cadre, _ = create_user(session, name="cadre", role=Role.cadre, now=now, community_id=community.id,
                           password=DEMO_PASSWORD)
    create_user(session, name="secretary", role=Role.secretary, now=now, community_id=community.id,
                password=DEMO_PASSWORD)
    manager, _ = create_user(session, name="manager", role=Role.property_manager, now=now,
                             community_id=community.id, password=DEMO_PASSWORD)
    registry.add_manager(session, building_id=building.id, user_id=manager.id)
    for i in range(households):
        flat = registry.create_household(session, building_id=building.id, unit=f"{101 + i}", now=now)
        link_meter(session, meter_id=f"m{i:04d}", household_id=flat.id, at=linked_at)
        registry.create_resident(session, household_id=flat.id, display_name=f"住户{i + 1:02d}")
        registry.assign_cadre(session, household_id=flat.id, user_id=cadre.id)


def _demo_settings(mqtt_url: str, protocol: str, host: str, port: int, data_dir: Path) -> Settings:
    db_url = f"sqlite:///{data_dir}/anxin.db"
    return load_settings(
        mqtt_url=mqtt_url, mqtt_protocol=protocol, mqtt_client_id="anxin-demo-ingest",
        readings_url=db_url, database_url=db_url, detect_tick_s=5.0, api_host=host, api_port=port,
    )


def _print_alerts(stores: Stores, token: str, base: str, stop: threading.Event) -> None:
    """Tell the person watching when an alert appears, and how to acknowledge it."""
    seen: set[int] = set()
    while not stop.wait(2.0):
        with stores.db.session() as session:
            alerts, _ = list_alerts(session, statuses=["open"], limit=50)
        for alert in alerts:
            if alert.id in seen:
                continue
            seen.add(alert.id)
            print(
                f"\nALERT #{alert.id}: {alert.kind} ({alert.severity}) on meter {alert.meter_id}, "
                f"since {alert.started_at:%Y-%m-%d %H:%M} UTC\n"
                f"  acknowledge it: curl -s -X POST -H 'Authorization: Bearer {token}' "
                f"{base}/api/v1/alerts/{alert.id}/ack\n",
                flush=True,
            )


def _banner(base: str, token: str, households: int) -> str:
    return f"""
anxin demo is running: {households} simulated households, replaying the last 14 hours fast, then live.
  cadres' page {base}/  sign in as cadre (or secretary, manager) with password {DEMO_PASSWORD}
  API docs     {base}/docs
  demo token   {token}
  open alerts  curl -s -H 'Authorization: Bearer {token}' '{base}/api/v1/alerts?status=open'
  meters       curl -s -H 'Authorization: Bearer {token}' {base}/api/v1/meters
Household {STILL_METER} went still 13 hours ago: its inactivity alert appears in about 90 seconds.
Meter {DEAD_METER} died 11 hours ago in the replay: it is reported offline to the property manager once
its silence exceeds the allowed gap (at least an hour of real time after its last upload).
Press Ctrl+C to stop.
"""
