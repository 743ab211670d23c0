"""The relational database: engine, sessions, and schema migration to the newest revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from store.errors import ConfigError, InvalidData, StoreUnavailable
from store.sqlite_readings import sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ANXIN_DATABASE_URL: ``sqlite:///file.db`` or ``postgresql://...``."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            if not url.startswith("sqlite:///:memory:"):
                Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except ArgumentError as exc:
        raise ConfigError(
            f"ANXIN_DATABASE_URL {url!r} is not a database URL; use sqlite:///./anxin.db or "
            "postgresql://user@host:5432/anxin"
        ) from exc
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot migrate the database at {engine.url!r}: {exc.orig}") from exc


class Database:
    """The engine and a session factory, built once and passed down."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        A lost or refused connection is raised as StoreUnavailable, which callers retry; a value the
        database refuses as data (PostgreSQL refuses NUL characters in text) as InvalidData.
        """
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                session.rollback()
                if exc.connection_invalidated or isinstance(exc, OperationalError):
                    raise StoreUnavailable(f"the database is unavailable: {exc.orig}") from exc
                if isinstance(exc, DataError):
                    raise InvalidData(f"the database cannot store a value given: {str(exc.orig).splitlines()[0]}") \
                        from exc
                raise
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
