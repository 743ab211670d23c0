"""Readings in an embedded SQLite file: for small sites, demos and tests.

WAL mode with ``synchronous=FULL`` makes every committed write durable, so the ingester can
acknowledge MQTT as soon as ``write`` returns. ``seq`` numbers readings in commit order and is
the detector's cursor.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from store.errors import ConfigError, StoreUnavailable
from store.readings import READING_COLUMNS, Reading, WriteResult

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

    def _tx(self, *, write: bool = False) -> _Transaction:
        return _Transaction(self._conn(), "BEGIN IMMEDIATE" if write else "BEGIN")

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult()
        rows = [
            (r.meter_id, r.ts_ms, r.total_l, r.received_ms, json.dumps(r.extra) if r.extra else None)
            for r in readings
        ]
        try:
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
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"writing readings to {self.path} failed: {exc}") from exc
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
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT meter_id, ts_ms, total_l, received_ms FROM readings {clause} ORDER BY meter_id, ts_ms"
        return self._frame(sql, params)

    def read_meter(self, meter_id: str, *, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
        """One meter's readings with their optional payload fields, oldest first."""
        sql = "SELECT ts_ms, total_l, received_ms, extra FROM readings WHERE meter_id = ?"
        params: list = [meter_id]
        if start_ms is not None:
            sql += " AND ts_ms >= ?"
            params.append(start_ms)
        if end_ms is not None:
            sql += " AND ts_ms < ?"
            params.append(end_ms)
        with self._tx() as conn:
            rows = conn.execute(sql + " ORDER BY ts_ms", params).fetchall()
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
        frame = _to_frame([row[1:] for row in rows])
        next_cursor = rows[-1][0] if rows else (cursor if cursor is not None else top)
        return frame, next_cursor

    def latest(self) -> pd.DataFrame:
        return self._frame("SELECT meter_id, ts_ms, total_l, received_ms FROM meter_latest ORDER BY meter_id", [])

    def _frame(self, sql: str, params: Iterable) -> pd.DataFrame:
        try:
            with self._tx() as conn:
                rows = conn.execute(sql, list(params)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"reading from {self.path} failed: {exc}") from exc
        return _to_frame(rows)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Transaction:
    """``with`` block that runs one explicit transaction on a shared connection."""

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self.conn = conn
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute(self.begin)
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _latest_rows(readings: Sequence[Reading]) -> list[tuple]:
    newest: dict[str, Reading] = {}
    last_received: dict[str, int] = {}
    for r in readings:
        if r.meter_id not in newest or r.ts_ms > newest[r.meter_id].ts_ms:
            newest[r.meter_id] = r
        last_received[r.meter_id] = max(last_received.get(r.meter_id, 0), r.received_ms)
    return [(m, r.ts_ms, r.total_l, last_received[m]) for m, r in newest.items()]


def _to_frame(rows: list) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=READING_COLUMNS)
    return frame.astype({"meter_id": object, "ts_ms": "int64", "total_l": "float64", "received_ms": "int64"})
