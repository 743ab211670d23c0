"""Readings in an embedded SQLite file: for small sites, demos and tests.

WAL mode with ``synchronous=FULL`` makes every committed write durable, so the ingester can
acknowledge MQTT as soon as ``write`` returns. ``seq`` numbers readings in commit order and is
the detector's cursor.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from store.errors import ConfigError, StoreUnavailable
from store.readings import READING_DTYPES, Reading, WriteResult, hourly_from_readings, readings_frame

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    meter_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    total_l REAL NOT NULL,
    received_ms INTEGER NOT NULL,
    extra TEXT,
    UNIQUE (meter_id, ts_ms)
);
CREATE INDEX IF NOT EXISTS readings_received ON readings (received_ms);
CREATE TABLE IF NOT EXISTS meter_latest (
    meter_id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    total_l REAL NOT NULL,
    received_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

_UPSERT_LATEST = """
INSERT INTO meter_latest (meter_id, ts_ms, total_l, received_ms) VALUES (?, ?, ?, ?)
ON CONFLICT (meter_id) DO UPDATE SET
    ts_ms = CASE WHEN excluded.ts_ms > ts_ms THEN excluded.ts_ms ELSE ts_ms END,
    total_l = CASE WHEN excluded.ts_ms > ts_ms THEN excluded.total_l ELSE total_l END,
    received_ms = MAX(received_ms, excluded.received_ms)
"""


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"{url!r} is not a SQLite URL; write sqlite:///./anxin.db or sqlite:////abs/path.db")
    return url[len(prefix) :]


class SqliteReadingsStore:
    """A ReadingsStore in one SQLite file; safe to share between threads (one connection each)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> SqliteReadingsStore:
        return cls(sqlite_path(url))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open readings database {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; any SQLite error in it is raised as StoreUnavailable, for callers to retry."""
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the readings database {self.path} failed: {exc}") from exc

    def _writer_conn(self) -> sqlite3.Connection:
        """This thread's connection, with the writer's larger page cache.

        The (meter_id, ts_ms) index takes inserts all over itself, so a writer keeps 64 MiB of it in
        memory. Readers (every API thread, the detector) keep SQLite's default 2 MiB: a cache is per
        connection, and dozens of reader threads each filling 64 MiB on a quiet site would be gigabytes.
        """
        conn = self._conn()
        if not getattr(self._local, "writer", False):
            try:
                conn.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"the readings database {self.path} failed: {exc}") from exc
            self._local.writer = True
        return conn

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult()
        self._writer_conn()
        rows = _rows(readings)
        with self._tx(write=True) as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO readings (meter_id, ts_ms, total_l, received_ms, extra)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            inserted = conn.total_changes - before
            conflicts = self._conflicts(conn, readings) if inserted < len(readings) else []
            conn.executemany(_UPSERT_LATEST, _latest_rows(readings))
        return WriteResult(inserted=inserted, conflicts=conflicts)

    @staticmethod
    def _conflicts(conn: sqlite3.Connection, readings: Sequence[Reading]) -> list[tuple[Reading, float]]:
        # Rare path: some rows were duplicates. Report those whose stored total differs.
        conflicts = []
        for r in readings:
            row = conn.execute(
                "SELECT total_l FROM readings WHERE meter_id = ? AND ts_ms = ?", (r.meter_id, r.ts_ms)
            ).fetchone()
            if row is not None and row[0] != r.total_l:
                conflicts.append((r, row[0]))
        return conflicts

    def read(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        clause, params = _where(meter_ids, start_ms, end_ms)
        sql = f"SELECT meter_id, ts_ms, total_l, received_ms FROM readings {clause} ORDER BY meter_id, ts_ms"
        return self._frame(sql, params)

    def read_hourly(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Derived on read: small sites do not need the series kept."""
        # An hour is in [start_ms, end_ms) when its readings are in [start_ms, end_ms) rounded up to hours.
        start, end = (None if t is None else -(-t // 3_600_000) * 3_600_000 for t in (start_ms, end_ms))
        return hourly_from_readings(self.read(meter_ids=meter_ids, start_ms=start, end_ms=end))

    def read_meter(self, meter_id: str, *, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
        """One meter's readings with their optional payload fields, oldest first."""
        clause, params = _where([meter_id], start_ms, end_ms)
        with self._tx() as conn:
            rows = conn.execute(f"SELECT ts_ms, total_l, received_ms, extra FROM readings {clause} ORDER BY ts_ms",
                                params).fetchall()
        return [
            {"ts_ms": ts, "total_l": total, "received_ms": rec, "extra": json.loads(extra) if extra else None}
            for ts, total, rec, extra in rows
        ]

    def changes(self, cursor: int | None, *, received_since_ms: int = 0) -> tuple[pd.DataFrame, int]:
        with self._tx() as conn:
            if cursor is None:
                sql = "SELECT seq, meter_id, ts_ms, total_l, received_ms FROM readings WHERE received_ms >= ?"
                params = [received_since_ms]
                top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM readings").fetchone()[0]
                sql += " AND seq <= ?"
                params.append(top)
            else:
                sql = "SELECT seq, meter_id, ts_ms, total_l, received_ms FROM readings WHERE seq > ?"
                params = [cursor]
            rows = conn.execute(sql + " ORDER BY seq", params).fetchall()
        frame = _changes_frame(rows)
        next_cursor = rows[-1][0] if rows else (cursor if cursor is not None else top)
        return frame, next_cursor

    def latest(self, meter_ids: Sequence[str] | None = None) -> pd.DataFrame:
        clause, params = _where(meter_ids, None, None)
        return self._frame(f"SELECT meter_id, ts_ms, total_l, received_ms FROM meter_latest {clause} ORDER BY meter_id",
                           params)

    def _frame(self, sql: str, params: list) -> pd.DataFrame:
        with self._tx() as conn:
            return readings_frame(conn.execute(sql, params).fetchall())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _rows(readings: Sequence[Reading]) -> Sequence[tuple]:
    """The rows to insert: the readings themselves when none has optional fields (the common case, no copy),
    else each with its ``extra`` as JSON text (or NULL when empty)."""
    extras = list(map(_EXTRA, readings))
    if extras.count(None) == len(extras):
        return readings
    return [(r.meter_id, r.ts_ms, r.total_l, r.received_ms, json.dumps(r.extra) if r.extra else None)
            for r in readings]


_EXTRA = operator.attrgetter("extra")


def _changes_frame(rows: list[tuple]) -> pd.DataFrame:
    """The readings of ``changes``' rows (seq, then the reading's columns), built column by column:
    a tick reads one reading per meter, and pandas builds a frame from row tuples at half the speed."""
    if not rows:
        return readings_frame()
    table = np.array(rows, dtype=object)
    return pd.DataFrame({column: pd.Series(table[:, i + 1], dtype=dtype)  # meter ids stay objects, as elsewhere
                         for i, (column, dtype) in enumerate(READING_DTYPES.items())})


def _latest_rows(readings: Sequence[Reading]) -> list[tuple]:
    """Per meter of the batch: its newest reading (the first of equal ts) and the latest receive time."""
    newest: dict[str, Reading] = {}
    last_received: dict[str, int] = {}
    for r in readings:  # one dict look-up a reading in the common case: a batch's meters repeat
        meter_id = r.meter_id
        best = newest.get(meter_id)
        if best is None:
            newest[meter_id] = r
            last_received[meter_id] = max(0, r.received_ms)
            continue
        if r.ts_ms > best.ts_ms:
            newest[meter_id] = r
        if r.received_ms > last_received[meter_id]:
            last_received[meter_id] = r.received_ms
    return [(m, r.ts_ms, r.total_l, last_received[m]) for m, r in newest.items()]


def _where(meter_ids: Sequence[str] | None, start_ms: int | None, end_ms: int | None) -> tuple[str, list]:
    """A WHERE clause and its parameters for the filters that are given."""
    where, params = [], []
    if meter_ids is not None:
        where.append(f"meter_id IN ({','.join('?' * len(meter_ids))})")
        params.extend(meter_ids)
    if start_ms is not None:
        where.append("ts_ms >= ?")
        params.append(start_ms)
    if end_ms is not None:
        where.append("ts_ms < ?")
        params.append(end_ms)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params
