"""The readings-store interface: what the ingester writes and the detector and API read.

Times are integer epoch milliseconds (UTC) throughout; frames use the columns in READING_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import pandas as pd

from store.errors import ConfigError

READING_DTYPES = {"meter_id": object, "ts_ms": "int64", "total_l": "float64", "received_ms": "int64"}
READING_COLUMNS = list(READING_DTYPES)


@dataclass(frozen=True, slots=True)
class Reading:
    """One register reading of one meter.

    ``ts_ms`` is when the meter took it, ``received_ms`` when anxin received it.
    ``extra`` keeps optional payload fields (battery, signal, alarm flags).
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


class ReadingsStore(Protocol):
    """A durable, idempotent store of readings keyed by (meter_id, ts_ms)."""

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store readings durably before returning. The same (meter_id, ts_ms) twice is one reading."""
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

    def changes(self, cursor: int | None, *, received_since_ms: int = 0) -> tuple[pd.DataFrame, int]:
        """Readings stored after ``cursor`` in arrival order, and the cursor to pass next time.

        With ``cursor=None`` it returns every reading received at or after ``received_since_ms``.
        """
        ...

    def latest(self, meter_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Per meter (all, or those named): the newest reading (by ts) and the last time anything arrived."""
        ...

    def close(self) -> None: ...


def open_readings_store(url: str) -> ReadingsStore:
    """Open the readings store named by ``url`` (``sqlite:///path``)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from store.sqlite_readings import SqliteReadingsStore

        return SqliteReadingsStore.from_url(url)
    raise ConfigError(f"ANXIN_READINGS_URL: unsupported scheme {scheme!r}; use sqlite:///path/to/anxin.db")


def readings_frame(rows: list | None = None) -> pd.DataFrame:
    """A readings frame (READING_COLUMNS, in order) from row tuples; no rows gives an empty one."""
    return pd.DataFrame(rows or [], columns=READING_COLUMNS).astype(READING_DTYPES)
