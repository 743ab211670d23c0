"""Away windows: times a household is registered as away, so its silence is expected.

The inactivity detector raises nothing inside a window and measures a silence that runs past
its end from the end. The detector reads the windows as a frame of epoch milliseconds.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import NotFound, StoreError
from store.models import AwayWindow
from store.times import to_ms

AWAY_COLUMNS = ["meter_id", "start_ms", "end_ms"]
_METER_ID_MAX = 64


class InvalidAwayWindow(StoreError, ValueError):
    """An away window that cannot be stored as given; the message says what to change."""


def add_away_window(
    session: Session,
    *,
    meter_id: str,
    starts_at: datetime,
    ends_at: datetime,
    note: str | None = None,
    user_id: int | None = None,
    now: datetime,
) -> AwayWindow:
    """Register ``meter_id``'s household as away from ``starts_at`` (inclusive) to ``ends_at`` (exclusive)."""
    if not meter_id or len(meter_id) > _METER_ID_MAX:
        raise InvalidAwayWindow(f"meter_id must be 1 to {_METER_ID_MAX} characters, got {meter_id!r}")
    for name, when in (("starts_at", starts_at), ("ends_at", ends_at)):
        if when.tzinfo is None:
            raise InvalidAwayWindow(f"{name} {when.isoformat()} has no UTC offset; give e.g. 2026-11-22T08:00:00+08:00")
    if not ends_at > starts_at:
        raise InvalidAwayWindow(
            f"the window must end after it starts; got {starts_at.isoformat()} to {ends_at.isoformat()}"
        )
    window = AwayWindow(meter_id=meter_id, starts_at=starts_at, ends_at=ends_at, note=note, created_by=user_id,
                        created_at=now)
    session.add(window)
    session.flush()
    return window


def delete_away_window(session: Session, window_id: int) -> None:
    """Remove a window (the household came back early, or it was entered by mistake)."""
    window = session.get(AwayWindow, window_id)
    if window is None:
        raise NotFound(f"away window {window_id} does not exist")
    session.delete(window)
    session.flush()


def away_windows_overlapping(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    """Every window that overlaps [start, end), as meter_id, start_ms, end_ms, by meter and start."""
    query = (
        select(AwayWindow.meter_id, AwayWindow.starts_at, AwayWindow.ends_at)
        .where(AwayWindow.starts_at < end, AwayWindow.ends_at > start)
        .order_by(AwayWindow.meter_id, AwayWindow.starts_at, AwayWindow.id)
    )
    rows = session.execute(query).all()
    return pd.DataFrame(
        {
            "meter_id": pd.Series([r.meter_id for r in rows], dtype=object),
            "start_ms": pd.Series([to_ms(r.starts_at) for r in rows], dtype="int64"),
            "end_ms": pd.Series([to_ms(r.ends_at) for r in rows], dtype="int64"),
        },
        columns=AWAY_COLUMNS,
    )
