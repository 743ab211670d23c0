"""The ``anxin`` command line: one entry point for the ingester, the detector, the API and the tools."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from api.logs import configure_logging
from api.settings import Settings, load_settings
from store.models import Role

app = typer.Typer(help="anxin (安心): watches over elderly people who live alone, through their water meters.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
users_app = typer.Typer(help="Manage API users and their tokens.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
communities_app = typer.Typer(help="Manage communities.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(communities_app, name="communities")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    str | None, typer.Option("--config", help="TOML settings file (instead of ANXIN_CONFIG).", show_default=False)
]
HostOption = Annotated[str | None, typer.Option("--host", help="Address the API listens on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port the API listens on.")]


def settings_or_exit(config: str | None = None, **overrides) -> Settings:
    """Load the settings, or say what is wrong with them and exit with status 2."""
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, ValueError) as exc:
        typer.echo(f"anxin: bad settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def setup_logging(settings: Settings | None = None) -> None:
    """Log INFO and above to stderr, in ANXIN_LOG_FORMAT (text lines, or one JSON object a line)."""
    configure_logging(settings.log_format if settings is not None else "text")


@app.command()
def ingest(config: ConfigOption = None) -> None:
    """Read meter messages from MQTT, validate them and store them."""
    from api.wiring import (
        Background,
        Stores,
        build_ingester,
        freeze_startup_objects,
        metrics_registry,
        serve_ingest_metrics,
        start_ingester,
    )

    settings = settings_or_exit(config)
    setup_logging(settings)
    registry = metrics_registry()
    try:
        metrics_server = serve_ingest_metrics(settings, registry)
    except OSError as exc:
        typer.echo(f"anxin ingest: cannot serve metrics on {settings.ingest_metrics_host}:"
                   f"{settings.ingest_metrics_port} ({exc}); set ANXIN_INGEST_METRICS_PORT to a free port, "
                   "or to 0 to serve none", err=True)
        raise typer.Exit(2) from exc
    stores = Stores(settings)
    background = Background()
    parts = build_ingester(settings, stores, registry=registry)
    freeze_startup_objects()
    start_ingester(background, *parts)
    _wait_for_signal(background)
    stores.close()
    if metrics_server is not None:
        metrics_server.shutdown()
    _exit_if_failed(background)


@app.command()
def detect(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
) -> None:
    """Run the detectors on a tick over the stored readings and keep the alerts up to date."""
    from api.wiring import Background, Stores, build_monitor, freeze_startup_objects, start_detector

    settings = settings_or_exit(config)
    setup_logging(settings)
    stores = Stores(settings)
    monitor = build_monitor(settings, stores)
    freeze_startup_objects()
    if once:
        monitor.tick()
    else:
        background = Background()
        start_detector(background, monitor, settings.detect_tick_s)
        _wait_for_signal(background)
        _exit_if_failed(background)
    stores.close()


@app.command()
def notify(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one round and exit.")] = False,
) -> None:
    """Send the notices: new alerts, escalations, reminders and the daily digest, with retries."""
    from api.wiring import Background, Stores, build_notifier, freeze_startup_objects, start_notifier

    settings = settings_or_exit(config)
    setup_logging(settings)
    stores = Stores(settings)
    notifier = build_notifier(settings, stores)
    freeze_startup_objects()
    if once:
        notifier.tick()
    else:
        background = Background()
        start_notifier(background, notifier)
        _wait_for_signal(background)
        _exit_if_failed(background)
    stores.close()


@app.command()
def api(host: HostOption = None, port: PortOption = None, config: ConfigOption = None) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from api.wiring import Stores

    settings = settings_or_exit(config, api_host=host, api_port=port)
    setup_logging(settings)
    stores = Stores(settings)  # migrates the schema once, before any worker starts
    if settings.api_workers > 1:
        stores.close()
        _serve_workers(settings, config)
        return
    _serve(settings, stores)
    stores.close()


@app.command()
def run(host: HostOption = None, port: PortOption = None, config: ConfigOption = None) -> None:
    """Run the ingester, the detector and the API in one process, for a small site."""
    from api.wiring import (
        Background,
        Stores,
        build_ingester,
        build_monitor,
        build_notifier,
        metrics_registry,
        start_detector,
        start_ingester,
        start_notifier,
    )

    settings = settings_or_exit(config, api_host=host, api_port=port)
    setup_logging(settings)
    stores = Stores(settings)
    background = Background()
    registry = metrics_registry()  # the API's /metrics serves the ingester's metrics too
    start_ingester(background, *build_ingester(settings, stores, registry=registry))
    start_detector(background, build_monitor(settings, stores), settings.detect_tick_s)
    start_notifier(background, build_notifier(settings, stores))
    try:
        _serve(settings, stores, background, registry)
    finally:
        background.shutdown()
        stores.close()
    _exit_if_failed(background)


@app.command()
def backtest(
    readings: Annotated[Path, typer.Option("--readings", help="Readings CSV: meter_id,ts,total_l[,received_at].")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the alerts CSV.")],
    timezone: Annotated[str | None, typer.Option("--timezone", help="Offset used in the output times.")] = None,
    away: Annotated[Path | None, typer.Option(
        "--away", help="Away windows CSV: meter_id,start,end (no inactivity alert inside them).",
        show_default=False)] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", min=1, help="Worker processes, each replaying a shard of the meters (the same alerts as one).")] = 1,
    config: ConfigOption = None,
) -> None:
    """Replay a readings CSV through the live detectors, in data time, without look-ahead."""
    from api.wiring import build_detectors
    from detect.allocator import keep_freed_memory
    from detect.backtest import backtest as run_backtest
    from detect.backtest import read_away_csv, write_alerts_csv
    from detect.csvio import CsvFormatError, read_readings_csv

    keep_freed_memory()  # a batch job: freed arrays are reused, not mapped afresh at every refit
    settings = settings_or_exit(config, timezone=timezone)
    try:
        frame = read_readings_csv(readings)
        windows = read_away_csv(away) if away is not None else None
    except (CsvFormatError, FileNotFoundError) as exc:
        typer.echo(f"anxin backtest: {exc}", err=True)
        raise typer.Exit(2) from exc
    episodes = run_backtest(frame, build_detectors(settings.detect, timezone=settings.timezone),
                            refit_days=settings.detect.refit_days, away=windows, jobs=jobs)
    write_alerts_csv(episodes, out, settings.timezone)
    counts = episodes["kind"].value_counts().to_dict()
    typer.echo(f"{len(frame)} readings of {frame['meter_id'].nunique()} meters -> {len(episodes)} alerts {counts}: "
               f"{out}")


@app.command()
def evaluate(
    readings: Annotated[Path | None, typer.Option(
        "--readings", help="Readings CSV: meter_id,ts,total_l[,received_at].")] = None,
    incidents: Annotated[Path | None, typer.Option(
        "--incidents", help="Incidents CSV: meter_id,kind,start_ms,end_ms (as simulate --labels writes).")] = None,
    simulated: Annotated[bool, typer.Option(
        "--simulate", help="Evaluate on simulated households with the standard incident mix instead.")] = False,
    households: Annotated[int, typer.Option(help="With --simulate: how many households.")] = 50,
    days: Annotated[float, typer.Option(help="With --simulate: days simulated.")] = 90.0,
    cadence_s: Annotated[int, typer.Option("--cadence-s", help="With --simulate: seconds between readings.")] = 3600,
    upload_every_s: Annotated[int | None, typer.Option(
        "--upload-every-s", help="With --simulate: readings are uploaded in batches this many seconds apart.")] = None,
    random_state: Annotated[int, typer.Option("--random-state", help="With --simulate: random seed.")] = 0,
    horizon_h: Annotated[float | None, typer.Option(
        "--horizon-h", help="Hours after its start an incident may be detected; default: its duration.",
        show_default=False)] = None,
    margin_h: Annotated[float, typer.Option(
        "--margin-h", help="Hours after an incident's end in which an alert is not counted as false.")] = 24.0,
    config: ConfigOption = None,
) -> None:
    """Compare the configured detectors with the 12-hour rule on labelled incidents (a Markdown table)."""
    import time

    import pandas as pd

    from api.wiring import build_detectors
    from detect.allocator import keep_freed_memory
    from detect.csvio import CsvFormatError, read_readings_csv
    from detect.evaluate import compare, read_incidents_csv, standard_incidents, to_markdown, twelve_hour_rule
    from detect.simulate import simulate as run_simulation

    keep_freed_memory()  # a batch job, as backtest
    settings = settings_or_exit(config)
    if simulated == (readings is not None) or (readings is not None) != (incidents is not None):
        typer.echo("anxin evaluate: give either --readings FILE.csv --incidents LABELS.csv, or --simulate", err=True)
        raise typer.Exit(2)
    began = time.perf_counter()
    try:
        if simulated:
            start = pd.Timestamp("2026-01-01", tz=settings.timezone)
            mix = standard_incidents(households, start=start, days=days, random_state=random_state)
            sim = run_simulation(households=households, start=start, days=days, cadence_s=cadence_s, incidents=mix,
                                 upload_every_s=upload_every_s, random_state=random_state,
                                 timezone=settings.timezone)
            frame, labels = sim.readings, sim.incidents
        else:
            frame, labels = read_readings_csv(readings), read_incidents_csv(incidents)
        table = compare(frame, labels, {
            "anxin (configured)": build_detectors(settings.detect, timezone=settings.timezone),
            "12-hour rule": twelve_hour_rule(),
        }, horizon_h=horizon_h, margin_h=margin_h, refit_days=settings.detect.refit_days)
    except (CsvFormatError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"anxin evaluate: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(to_markdown(table))
    kinds = labels["kind"].value_counts().to_dict()
    typer.echo(f"{len(frame)} readings of {frame['meter_id'].nunique()} meters, {len(labels)} incidents {kinds}; "
               f"{time.perf_counter() - began:.1f} s", err=True)


@app.command("import")
def import_(
    readings: Annotated[Path, typer.Argument(help="Readings CSV: meter_id,ts,total_l[,received_at].")],
    config: ConfigOption = None,
) -> None:
    """Backfill a readings CSV into the readings store; bad rows become dead letters, reruns store nothing twice."""
    from api.wiring import Stores, payload_rules
    from ingest.backfill import import_readings_csv
    from store.dead_letters import add_dead_letters
    from store.errors import CsvFormatError, StoreError

    settings = settings_or_exit(config)
    setup_logging(settings)
    stores = Stores(settings, writer="import")

    def dead_letter(rejections) -> None:
        with stores.db.session() as session:
            add_dead_letters(session, rejections)

    def progress(report) -> None:
        typer.echo(f"  {report.rows:,} rows, {report.rows_per_s:,.0f} rows/s", err=True)

    try:
        report = import_readings_csv(readings, stores.readings, dead_letters=dead_letter, rules=payload_rules(settings),
                                     now_ms=int(datetime.now(UTC).timestamp() * 1000), progress=progress)
    except (CsvFormatError, FileNotFoundError) as exc:
        typer.echo(f"anxin import: {exc}", err=True)
        raise typer.Exit(2) from exc
    except StoreError as exc:
        typer.echo(f"anxin import: the store failed ({exc}); run the import again, nothing is stored twice", err=True)
        raise typer.Exit(1) from exc
    finally:
        stores.close()
    typer.echo(f"{report.rows} rows: {report.stored} stored, {report.duplicates} already stored, "
               f"{report.rejected} dead-lettered, in {report.seconds:.1f} s ({report.rows_per_s:,.0f} rows/s)")


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option("--out", help="Write the readings CSV here.")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Write the incidents CSV here.")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish to MQTT (ANXIN_MQTT_URL).")] = False,
    households: Annotated[int, typer.Option(help="How many households.")] = 20,
    days: Annotated[float, typer.Option(help="Length of the simulation in days.")] = 7.0,
    start: Annotated[str | None, typer.Option(help="ISO 8601 start; default: --days before now.")] = None,
    cadence_s: Annotated[int, typer.Option("--cadence-s", help="Seconds between readings.")] = 900,
    upload_every_s: Annotated[int | None, typer.Option("--upload-every-s", help="Batch uploads every N s.")] = None,
    incident: Annotated[list[str] | None, typer.Option(
        "--incident", help="KIND:METER:START_H[:DURATION_H], hours after the start; KIND is still, "
        "still_drip, dead_meter or tap_running. Repeatable.")] = None,
    speed: Annotated[float, typer.Option(help="With --publish: how much faster than real time to replay the past.")] = 600.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Simulate elderly single-person households: write a readings CSV, or publish over MQTT."""
    import pandas as pd

    from detect.csvio import write_readings_csv
    from detect.simulate import simulate as run_simulation

    settings = settings_or_exit(config)
    if not (out or publish):
        typer.echo("anxin simulate: say where the readings go: --out FILE.csv and/or --publish", err=True)
        raise typer.Exit(2)
    begin = pd.Timestamp(start) if start else pd.Timestamp.now(tz=UTC).floor("min") - pd.Timedelta(days=days)
    if begin.tzinfo is None:
        typer.echo("anxin simulate: --start needs an offset, e.g. 2026-11-01T00:00:00+08:00", err=True)
        raise typer.Exit(2)
    try:
        incidents = [_parse_incident(text, begin) for text in incident or []]
        sim = run_simulation(households=households, start=begin, days=days, cadence_s=cadence_s,
                             upload_every_s=upload_every_s, incidents=incidents, random_state=seed,
                             timezone=settings.timezone)
    except ValueError as exc:
        typer.echo(f"anxin simulate: {exc}", err=True)
        raise typer.Exit(2) from exc
    if out:
        write_readings_csv(sim.readings, out, settings.timezone)
        typer.echo(f"wrote {len(sim.readings)} readings of {households} households to {out}")
    if labels:
        sim.incidents.to_csv(labels, index=False)
    if publish:
        import threading

        from api.wiring import publish_replay

        setup_logging(settings)
        stop = threading.Event()
        signal_stops(stop)
        sent = publish_replay(settings, sim.readings, start_ms=int(begin.timestamp() * 1000), speed=speed, stop=stop)
        typer.echo(f"published {sent} messages")


def _parse_incident(text: str, begin):
    """``KIND:METER:START_H[:DURATION_H]`` as an Incident starting START_H hours after ``begin``."""
    import pandas as pd

    from detect.simulate import Incident

    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"--incident {text!r} must be KIND:METER:START_H[:DURATION_H]")
    kind, meter, start_h = parts[:3]
    duration = pd.Timedelta(hours=float(parts[3])) if len(parts) == 4 else None
    return Incident(meter_id=meter, kind=kind, start=begin + pd.Timedelta(hours=float(start_h)),
                        duration=duration)


@app.command()
def demo(
    mqtt_url: Annotated[str | None, typer.Option("--mqtt-url", help="Use this broker instead of an embedded one.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    households: Annotated[int, typer.Option(help="How many simulated households.")] = 12,
    speed: Annotated[float, typer.Option(help="Replay speed of the simulated past.")] = 600.0,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the demo keeps its SQLite file.")] = Path("demo-data"),
) -> None:
    """Everything on one machine: broker, simulator, ingester, detector and API, on SQLite."""
    from api.demo import run_demo

    setup_logging(settings_or_exit())
    run_demo(mqtt_url=mqtt_url, host=host, port=port, households=households, speed=speed, data_dir=data_dir)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[Role, typer.Option("--role", help="What the user may do.")],
    community: Annotated[str | None, typer.Option(
        "--community", help="The community she belongs to (every role but admin; an analyst without one sees "
        "every community).", show_default=False)] = None,
    password: Annotated[bool, typer.Option(
        "--password", help="Ask for a password (twice, hidden) for signing in on the web page.")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a user; the token is printed once, as the last line, and only its hash is stored."""
    from api.users.service import community_problem
    from store.db import Database
    from store.registry import community_by_name
    from store.users import UserExists, create_user

    if role == Role.admin and community is not None:
        typer.echo("anxin users create: an admin belongs to no community; leave out --community", err=True)
        raise typer.Exit(2)
    if community is None and (problem := community_problem(role, None)):
        typer.echo(f"anxin users create: {problem.split(':')[0]}: give --community NAME "
                   "(`anxin communities create NAME` makes one)", err=True)
        raise typer.Exit(2)
    secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    if secret is not None and len(secret) < 8:
        typer.echo("anxin users create: the password needs at least 8 characters", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit(config)
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.session() as session:
            community_id = None
            if community is not None:
                found = community_by_name(session, community)
                if found is None:
                    typer.echo(f"anxin users create: there is no community named {community!r}; create it with "
                               f"`anxin communities create {community}`", err=True)
                    raise typer.Exit(1)
                community_id = found.id
            user, token = create_user(session, name=name, role=role, now=datetime.now(UTC),
                                      community_id=community_id, password=secret)
    except UserExists as exc:
        typer.echo(f"anxin users create: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created {role.value} {name!r} (id {user.id}); keep this token, it is not shown again:")
    typer.echo(token)


@communities_app.command("create")
def communities_create(
    name: Annotated[str, typer.Argument(help="The community's name, unique.")],
    cadres_see_all: Annotated[bool, typer.Option(
        "--cadres-see-all", help="Every cadre of the community sees all its households.")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a community; its secretary then sets it up (users create --role secretary --community NAME)."""
    from store.db import Database
    from store.registry import NameTaken, create_community

    settings = settings_or_exit(config)
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.session() as session:
            created = create_community(session, name=name, now=datetime.now(UTC), cadres_see_all=cadres_see_all)
            community_id = created.id
    except NameTaken as exc:
        typer.echo(f"anxin communities create: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created community {name!r} (id {community_id})")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Migrate the database to the newest schema."""
    from store.db import Database

    Database(settings_or_exit(config).database_url).migrate()
    typer.echo("database is at the newest schema")


def _serve(settings: Settings, stores, background=None, registry=None) -> None:
    from api.app import create_app
    from api.wiring import freeze_startup_objects, metrics_registry, serve_api

    application = create_app(settings=settings, db=stores.db, readings=stores.readings,
                             metrics_registry=registry if registry is not None else metrics_registry())
    freeze_startup_objects()
    serve_api(application, host=settings.api_host, port=settings.api_port, background=background,
              log_format=settings.log_format)


def _serve_workers(settings: Settings, config: str | None) -> None:
    """Serve with ``settings.api_workers`` uvicorn processes on one socket.

    Each worker is a fresh interpreter that builds its own settings and stores
    (``api.wiring.worker_app``), from the same environment and config file as this process.
    """
    import os

    import uvicorn

    if config is not None:
        os.environ["ANXIN_CONFIG"] = str(Path(config).resolve())  # the workers' settings come from the same file
    logging_config = {"log_config": None} if settings.log_format == "json" else {}
    # A worker imports the detectors and opens the stores before it answers uvicorn's health check:
    # seconds on a busy machine, more than uvicorn's default 5 s wait.
    uvicorn.run("api.wiring:worker_app", factory=True, host=settings.api_host, port=settings.api_port,
                workers=settings.api_workers, timeout_worker_healthcheck=60, log_level="info", **logging_config)


def signal_stops(stop) -> None:
    """SIGINT and SIGTERM set ``stop``, so work in progress finishes cleanly."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


def _wait_for_signal(background) -> None:
    signal_stops(background.stop)
    while not background.stop.wait(1.0):
        pass
    background.shutdown()


def _exit_if_failed(background) -> None:
    if background.failed:
        typer.echo("anxin: a component failed; see the log above", err=True)
        raise typer.Exit(1)


def main() -> None:
    app()
