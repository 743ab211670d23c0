"""Away windows: times a household is registered as away, so its silence is expected.

The inactivity detector raises nothing inside a window and measures a silence that runs past
its end from the end. A window belongs to a household (registered by its cadre) or, in older
data and in backtests, to a meter. The detector reads the windows as a frame of epoch
milliseconds per meter: a household's window applies to each meter that served the household
during it, for the part of the window the meter served it.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import NotFound, StoreError
from store.models import AwayWindow, MeterLink
from store.times import to_ms

AWAY_COLUMNS = ["meter_id", "start_ms", "end_ms"]
_METER_ID_MAX = 64


class InvalidAwayWindow(StoreError, ValueError):
    """An away window that cannot be stored as given; the message says what to change."""


def add_away_window(
    session: Session,
    *,
    meter_id: str | None = None,
    household_id: int | None = None,
    starts_at: datetime,
    ends_at: datetime,
    note: str | None = None,
    user_id: int | None = None,
    now: datetime,
) -> AwayWindow:
    """Register a household (or one meter's) as away from ``starts_at`` (inclusive) to ``ends_at`` (exclusive)."""
    if (meter_id is None) == (household_id is None):
        raise InvalidAwayWindow("give either a household_id or a meter_id for an away window, not both or neither")
    if meter_id is not None and (not meter_id or len(meter_id) > _METER_ID_MAX):
        raise InvalidAwayWindow(f"meter_id must be 1 to {_METER_ID_MAX} characters, got {meter_id!r}")
    for name, when in (("starts_at", starts_at), ("ends_at", ends_at)):
        if when.tzinfo is None:
            raise InvalidAwayWindow(f"{name} {when.isoformat()} has no UTC offset; give e.g. 2026-11-22T08:00:00+08:00")
    if not ends_at > starts_at:
        raise InvalidAwayWindow(
            f"the window must end after it starts; got {starts_at.isoformat()} to {ends_at.isoformat()}"
        )
    window = AwayWindow(meter_id=meter_id, household_id=household_id, starts_at=starts_at, ends_at=ends_at, note=note,
                        created_by=user_id, created_at=now)
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


def household_windows(session: Session, household_id: int, *, ending_after: datetime | None = None) -> list[AwayWindow]:
    """A household's windows by start; only those that end after ``ending_after`` if given."""
    query = select(AwayWindow).where(AwayWindow.household_id == household_id)
    if ending_after is not None:
        query = query.where(AwayWindow.ends_at > ending_after)
    return list(session.scalars(query.order_by(AwayWindow.starts_at, AwayWindow.id)))


def away_windows_overlapping(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    """Every window that overlaps [start, end), per meter, as meter_id, start_ms, end_ms, by meter and start."""
    overlaps = (AwayWindow.starts_at < end, AwayWindow.ends_at > start)
    rows = [
        (r.meter_id, to_ms(r.starts_at), to_ms(r.ends_at))
        for r in session.execute(
            select(AwayWindow.meter_id, AwayWindow.starts_at, AwayWindow.ends_at).where(
                AwayWindow.meter_id.is_not(None), *overlaps)
        )
    ]
    # A household's window, cut to each link of a meter that served the household during it.
    served = session.execute(
        select(MeterLink.meter_id, MeterLink.linked_at, MeterLink.unlinked_at, AwayWindow.starts_at,
               AwayWindow.ends_at)
        .join(MeterLink, MeterLink.household_id == AwayWindow.household_id)
        .where(*overlaps, MeterLink.linked_at < AwayWindow.ends_at,
               MeterLink.unlinked_at.is_(None) | (MeterLink.unlinked_at > AwayWindow.starts_at))
    )
    for r in served:
        until = r.ends_at if r.unlinked_at is None else min(r.ends_at, r.unlinked_at)
        rows.append((r.meter_id, to_ms(max(r.starts_at, r.linked_at)), to_ms(until)))
    frame = pd.DataFrame(
        {
            "meter_id": pd.Series([r[0] for r in rows], dtype=object),
            "start_ms": pd.Series([r[1] for r in rows], dtype="int64"),
            "end_ms": pd.Series([r[2] for r in rows], dtype="int64"),
        },
        columns=AWAY_COLUMNS,
    )
    return frame.sort_values(["meter_id", "start_ms", "end_ms"], kind="stable", ignore_index=True)
