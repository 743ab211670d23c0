"""Fixtures shared by every test: real Mosquitto, real PostgreSQL, fresh stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.db import Database
from store.sqlite_readings import SqliteReadingsStore
from tests.servers import Mosquitto, create_postgres_database, drop_postgres_database


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


@pytest.fixture
def readings_store(tmp_path) -> Iterator[SqliteReadingsStore]:
    store = SqliteReadingsStore(tmp_path / "readings.db")
    yield store
    store.close()
