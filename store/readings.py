"""The readings-store interface: what the ingester writes and the detector and API read.

Times are integer epoch milliseconds (UTC) throughout; frames use the columns in READING_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import pandas as pd

from store.errors import ConfigError

READING_DTYPES = {"meter_id": object, "ts_ms": "int64", "total_l": "float64", "received_ms": "int64"}
READING_COLUMNS = list(READING_DTYPES)
READINGS_CSV_COLUMNS = ["meter_id", "ts", "total_l"]  # the readings-CSV contract; received_at is optional
HOURLY_DTYPES = {
    "meter_id": object, "hour_ms": "int64", "total_l": "float64", "first_l": "float64", "n": "int64",
    "received_ms": "int64",
}
HOURLY_COLUMNS = list(HOURLY_DTYPES)


class Reading(NamedTuple):
    """One register reading of one meter.

    ``ts_ms`` is when the meter took it, ``received_ms`` when anxin received it.
    ``extra`` keeps optional payload fields (battery, signal, alarm flags).

    A named tuple rather than a frozen dataclass: the ingester makes one per reading, and a tuple
    costs a third as much to build; a reading without ``extra`` is also a row SQLite binds as it is.
    """

    meter_id: str
    ts_ms: int
    total_l: float
    received_ms: int
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class WriteResult:
    """What a write did: new readings stored, and duplicates whose total disagrees with the stored one."""

    inserted: int = 0
    conflicts: list[tuple[Reading, float]] = field(default_factory=list)
    refused: list[tuple[Reading, str]] = field(default_factory=list)  # with the reason the store gave


class ReadingsStore(Protocol):
    """A durable, idempotent store of readings keyed by (meter_id, ts_ms)."""

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store readings durably before returning. The same (meter_id, ts_ms) twice is one reading.

        A reading the store cannot keep (older than its retention) comes back in ``refused``.
        """
        ...

    def read(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Readings with start_ms <= ts_ms < end_ms, ordered by meter_id then ts_ms."""
        ...

    def read_meter(self, meter_id: str, *, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
        """One meter's readings oldest first, as dicts with ts_ms, total_l, received_ms and extra."""
        ...

    def read_hourly(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """The hourly series (HOURLY_COLUMNS) for hours with start_ms <= hour_ms < end_ms."""
        ...

    def changes(self, cursor: int | None, *, received_since_ms: int = 0) -> tuple[pd.DataFrame, int]:
        """Readings stored after ``cursor`` in arrival order, and the cursor to pass next time.

        With ``cursor=None`` it returns every reading received at or after ``received_since_ms``.
        A reading stored again (redelivered after a crash) may come through again: consumers
        ignore a reading that is not newer than one they have seen.
        """
        ...

    def latest(self, meter_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Per meter (all, or those named): the newest reading (by ts) and the last time anything arrived."""
        ...

    def close(self) -> None: ...


def open_readings_store(url: str, **options) -> ReadingsStore:
    """Open the readings store named by ``url``: ``sqlite:///path`` or ``influxdb://[token@]host:port/db``.

    ``options`` go to the InfluxDB store (``writer``, the ingester's id in the arrival log).
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from store.sqlite_readings import SqliteReadingsStore

        return SqliteReadingsStore.from_url(url)
    if scheme in ("influxdb", "influxdbs"):
        from store.influx_readings import InfluxReadingsStore

        return InfluxReadingsStore.from_url(url, **options)
    raise ConfigError(
        f"ANXIN_READINGS_URL: unsupported scheme {scheme!r}; use sqlite:///path/to/anxin.db"
        " or influxdb://[token@]host:8086/database"
    )


def readings_frame(rows: list | None = None) -> pd.DataFrame:
    """A readings frame (READING_COLUMNS, in order) from row tuples; no rows gives an empty one."""
    return pd.DataFrame(rows or [], columns=READING_COLUMNS).astype(READING_DTYPES)


def hourly_frame(rows: list | None = None) -> pd.DataFrame:
    """An hourly-series frame (HOURLY_COLUMNS, in order) from row tuples."""
    return pd.DataFrame(rows or [], columns=HOURLY_COLUMNS).astype(HOURLY_DTYPES)


def hourly_from_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """The hourly series of a readings frame: per meter and hour the last and first total, the count
    and the latest arrival. The InfluxDB store keeps it precomputed; the SQLite store derives it.

    >>> frame = readings_frame([("m", 60_000, 1.0, 9), ("m", 120_000, 3.0, 7), ("m", 3_600_000, 4.0, 8)])
    >>> hourly_from_readings(frame).values.tolist()
    [['m', 0, 3.0, 1.0, 2, 9], ['m', 3600000, 4.0, 4.0, 1, 8]]
    """
    if readings.empty:
        return hourly_frame()
    ordered = readings.sort_values(["meter_id", "ts_ms"], kind="stable")
    hour = ordered["ts_ms"] // 3_600_000 * 3_600_000
    grouped = ordered.groupby([ordered["meter_id"], hour.rename("hour_ms")], sort=True)
    frame = grouped.agg(
        total_l=("total_l", "last"), first_l=("total_l", "first"), n=("total_l", "size"),
        received_ms=("received_ms", "max"),
    ).reset_index()
    return frame[HOURLY_COLUMNS].astype(HOURLY_DTYPES)
