"""Builds the running parts (ingester, detector, API) from the settings: the composition root.

This is the one module outside ``ingest/`` that imports it, so that ``anxin run`` and
``anxin demo`` can start the ingester beside the detector and the API.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

import pandas as pd

from api.notify.runner import Notifier
from api.settings import DetectSettings, Settings, load_settings
from detect.continuous_flow import ContinuousFlowDetector
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.monitor import Monitor
from detect.offline import OfflineDetector
from detect.pattern import UnusualPatternDetector
from detect.shard import Shard
from ingest.metrics import IngestMetrics, start_metrics_server
from ingest.flood import FloodGate
from ingest.lean_mqtt import LeanMqttSource
from ingest.mqtt import MqttOptions, MqttSource, make_client
from ingest.payload import PayloadRules
from ingest.service import Ingester
from store.away import away_windows_overlapping
from store.db import Database
from store.dead_letters import Rejection, add_dead_letters
from store.readings import ReadingsStore, open_readings_store
from store.times import from_ms, utc_now

log = logging.getLogger(__name__)


def build_detectors(params: DetectSettings, *, timezone: str = "Asia/Shanghai") -> list:
    """The detectors live and in backtests, with the configured thresholds (learning ones unfitted
    on history: the monitor and the backtest refit them as they go)."""
    return [
        InactivityDetector(
            ceiling_h=params.inactivity_hours,
            min_use_l=params.min_use_l,
            learn=params.learn,
            trickle_l_per_h=params.trickle_l_per_h,
            trickle_gap_h=params.trickle_gap_h,
            history_days=params.learn_days,
            usual_quantile=params.usual_quantile,
            warning_margin_h=params.warning_margin_h,
            min_warning_h=params.min_warning_h,
            timezone=timezone,
        ).fit(),
        OfflineDetector(
            tolerance=params.offline_tolerance,
            min_hours=params.offline_min_hours,
            max_late_h=params.offline_max_late_hours,
            default_cadence_h=params.offline_default_cadence_hours,
        ).fit(),
        UnusualPatternDetector(z_threshold=params.unusual_pattern_z, timezone=timezone).fit(),
        ContinuousFlowDetector(
            min_hours=params.continuous_flow_hours,
            min_excess_l_per_h=params.continuous_flow_excess_l_per_h,
            timezone=timezone,
        ).fit(),
        FleetOutageDetector(
            min_meters=params.fleet_min_meters,
            min_fraction=params.fleet_min_fraction,
            window_h=params.fleet_window_h,
        ).fit(),
    ]


class Stores:
    """The database (alerts, users, dead letters) and the readings store, opened once."""

    def __init__(self, settings: Settings, *, writer: str | None = None) -> None:
        self.db = Database(settings.database_url)
        self.db.migrate()
        # ``writer`` names this process in InfluxDB's arrival log; the MQTT client id is unique per ingester.
        writer = writer or settings.mqtt_client_id
        self.readings: ReadingsStore = open_readings_store(settings.readings_url, writer=writer)

    def close(self) -> None:
        self.readings.close()
        self.db.dispose()


def metrics_registry() -> CollectorRegistry:
    """The registry a process serves at /metrics: the process's and Python's own metrics, then ours."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def payload_rules(settings: Settings) -> PayloadRules:
    return PayloadRules(max_payload_bytes=settings.max_payload_bytes, max_clock_skew_s=settings.max_clock_skew_s)


def build_ingester(
    settings: Settings,
    stores: Stores,
    *,
    client_factory: Callable = make_client,
    clock: Callable = utc_now,
    registry: CollectorRegistry | None = None,
) -> tuple[MqttSource | LeanMqttSource, Ingester]:
    """The MQTT source and the ingester; the ingester's metrics go to ``registry`` (a private one if None)."""
    mqtt = settings.mqtt
    options = MqttOptions(
        host=mqtt.host,
        port=mqtt.port,
        topic=settings.mqtt_topic,
        client_id=settings.mqtt_client_id,
        protocol=settings.mqtt_protocol,
        username=mqtt.username,
        password=mqtt.password,
    )
    source: MqttSource | LeanMqttSource
    if settings.mqtt_client == "lean":
        source = LeanMqttSource(options, max_queued=settings.ingest_queue_messages)
    else:
        source = MqttSource(options, client_factory=client_factory, max_queued=settings.ingest_queue_messages)

    def dead_letter(rejections: Sequence[Rejection]) -> None:
        with stores.db.session() as session:
            add_dead_letters(session, rejections)

    ingester = Ingester(
        source=source,
        readings=stores.readings,
        dead_letters=dead_letter,
        rules=payload_rules(settings),
        flood=FloodGate(per_minute=settings.ingest_meter_messages_per_min, burst=settings.ingest_meter_burst),
        clock=clock,
        metrics=IngestMetrics(registry),
    )
    return source, ingester


def serve_ingest_metrics(settings: Settings, registry: CollectorRegistry):
    """Serve ``registry`` at ANXIN_INGEST_METRICS_HOST:PORT/metrics; None if the port is 0.

    Raises OSError if the port cannot be bound; the caller says which setting to change.
    """
    if settings.ingest_metrics_port == 0:
        return None
    server, _ = start_metrics_server(registry, host=settings.ingest_metrics_host, port=settings.ingest_metrics_port)
    log.info("serving the ingester's metrics at http://%s:%d/metrics", settings.ingest_metrics_host,
             settings.ingest_metrics_port)
    return server


def away_windows(db: Database) -> Callable[[int, int], pd.DataFrame]:
    """The monitor's source of away windows: those in the database overlapping [start_ms, end_ms)."""

    def read(start_ms: int, end_ms: int) -> pd.DataFrame:
        with db.session() as session:
            return away_windows_overlapping(session, from_ms(start_ms), from_ms(end_ms))

    return read


def build_monitor(settings: Settings, stores: Stores, *, clock: Callable = utc_now) -> Monitor:
    return Monitor(
        detectors=build_detectors(settings.detect, timezone=settings.timezone),
        readings=stores.readings,
        db=stores.db,
        history_ms=int(settings.detect_history_days * 86_400_000),
        clock=clock,
        refit_ms=int(settings.detect.refit_days * 86_400_000),
        away=away_windows(stores.db),
        shard=Shard.parse(settings.detect_shard),
    )


class Background:
    """Runs the ingester and the detector in threads that stop together.

    If one dies on an unexpected error, everything stops (the API too, through SIGTERM) and
    ``failed`` is set, so the process exits non-zero and its supervisor restarts it.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.failed = False
        self.threads: list[threading.Thread] = []

    def start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _guard(self, name: str, target: Callable[[threading.Event], None]) -> None:
        try:
            target(self.stop)
        except Exception:
            log.exception("%s stopped on an unexpected error; stopping anxin", name)
            self.failed = True
            self.stop.set()
            os.kill(os.getpid(), signal.SIGTERM)  # stops uvicorn too, where it runs

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout_s)


def start_ingester(background: Background, source: MqttSource | LeanMqttSource, ingester: Ingester) -> None:
    source.start()

    def run(stop: threading.Event) -> None:
        try:
            ingester.run(stop)
        finally:
            source.stop()

    background.start("ingester", run)


def start_detector(background: Background, monitor: Monitor, tick_s: float) -> None:
    background.start("detector", lambda stop: monitor.run(stop, tick_s))


def build_notifier(settings: Settings, stores: Stores, *, clock: Callable = utc_now) -> Notifier:
    """The notifier: escalations, reminders, the daily digest and the outbox (``api/notify``)."""
    return Notifier(db=stores.db, settings=settings, clock=clock)


def start_notifier(background: Background, notifier: Notifier) -> None:
    background.start("notifier", notifier.run)


def publish_replay(settings: Settings, readings, *, start_ms: int, speed: float, stop: threading.Event) -> int:
    """Publish (simulated) readings to ANXIN_MQTT_URL, replaying the past ``speed`` times faster."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from ingest.publish import ReplayClock, publish_readings

    target = settings.mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"anxin-simulator-{os.getpid()}",
                         protocol=mqtt.MQTTv5 if settings.mqtt_protocol == "5" else mqtt.MQTTv311)
    if target.username:
        client.username_pw_set(target.username, target.password)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        return publish_readings(readings, client=client, clock=ReplayClock(start_ms, speed), stop=stop,
                                timezone=settings.timezone)
    finally:
        client.disconnect()
        client.loop_stop()


def freeze_startup_objects() -> int:
    """Take what a built service holds for its lifetime (the imported modules, their functions
    and classes, the settings and stores) out of the garbage collector's full collections, and
    return how many objects that is.

    A full collection walks every object the collector tracks, and stops every thread while it
    does. With pandas, scikit-learn, SQLAlchemy and FastAPI imported that is about 220,000
    objects and 0.15 s on the 2-core machine: once or twice in each detector tick, and in the
    API a pause of every request in flight (its p99 on PostgreSQL fell about threefold; the
    API section of bench/RESULTS.md). Frozen, a full collection walks only what was made since. Startup's
    own garbage is collected first, since frozen objects are never collected.
    """
    gc.collect()
    gc.freeze()
    count = gc.get_freeze_count()
    log.info("%d objects made at startup are out of the garbage collector's full collections", count)
    return count


def worker_app():
    """The API of one ``anxin api`` worker process (``ANXIN_API_WORKERS`` > 1), built from the environment."""
    from api.app import create_app
    from api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format)
    stores = Stores(settings)
    application = create_app(settings=settings, db=stores.db, readings=stores.readings,
                             metrics_registry=metrics_registry())
    freeze_startup_objects()
    return application


def serve_api(application, *, host: str, port: int, background: Background | None = None,
              log_level: str = "info", log_format: str = "text") -> None:
    """Serve with uvicorn until SIGINT or SIGTERM, then let the caller stop the background threads.

    uvicorn re-raises the signal it caught once it has shut down; with our handler installed
    first, that lands here (setting ``background.stop``) instead of killing the process before
    the ingester and detector have stopped cleanly. With ``log_format="json"`` uvicorn's own
    loggers are left to pass their records to ours, so its lines are JSON too.
    """
    import uvicorn

    stop = background.stop if background is not None else threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logging_config = {"log_config": None} if log_format == "json" else {}
    uvicorn.run(application, host=host, port=port, log_level=log_level, **logging_config)
