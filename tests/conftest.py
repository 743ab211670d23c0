"""Fixtures shared by every test: real Mosquitto, real PostgreSQL, fresh stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from store.db import Database
from store.sqlite_readings import SqliteReadingsStore
from store.influx_readings import InfluxReadingsStore
from tests.servers import InfluxDB, Mosquitto, create_postgres_database, drop_postgres_database


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir=tmp_path / "mosquitto")
    broker.workdir.mkdir()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    """A migrated, empty database: each test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path}/anxin.db")
        db.migrate()
        yield db
        db.dispose()
    else:
        url = create_postgres_database()
        db = Database(url)
        db.migrate()
        yield db
        db.dispose()
        drop_postgres_database(url)


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:
    """A migrated SQLite database, for tests that are not about the database backend."""
    db = Database(f"sqlite:///{tmp_path}/anxin.db")
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory) -> Iterator[InfluxDB]:
    """One InfluxDB server for the session; each test takes its own database in it."""
    server = InfluxDB(workdir=tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx(tmp_path) -> Iterator[InfluxDB]:
    """An InfluxDB server of the test's own, which the test may stop and restart."""
    server = InfluxDB(workdir=tmp_path / "influxdb")
    server.workdir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_url(influx_server, request) -> str:
    return influx_server.url(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "influxdb"])
def readings_store(request, tmp_path):
    """A fresh readings store: each test runs on SQLite and on a real InfluxDB."""
    if request.param == "sqlite":
        store = SqliteReadingsStore(tmp_path / "readings.db")
    else:
        store = InfluxReadingsStore.from_url(request.getfixturevalue("influx_url"))
    yield store
    store.close()


@pytest.fixture
def sqlite_readings(tmp_path) -> Iterator[SqliteReadingsStore]:
    """A SQLite readings store, for tests that are not about the readings backend."""
    store = SqliteReadingsStore(tmp_path / "readings.db")
    yield store
    store.close()
