"""Each meter's state, derived from its unresolved alerts, and a window of its readings."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.access import Scope
from api.errors import InvalidRequest, PermissionDenied
from store.times import from_ms, to_ms
from store.alerts import unresolved_by_meter
from store.errors import NotFound
from store.models import Alert, AlertKind
from store.readings import ReadingsStore, readings_frame

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=31)
DEFAULT_HOURLY_WINDOW = timedelta(days=30)
MAX_HOURLY_WINDOW = timedelta(days=366)  # the hourly series is cheap: a year is 8,784 points


class MeterState(enum.StrEnum):
    """A meter's state from its unresolved alerts; the first that applies wins."""

    offline = "offline"  # an unresolved meter_offline alert: the meter is silent, its data is stale
    flowing = "flowing"  # an unresolved continuous_flow alert: water has run for hours
    inactive = "inactive"  # an unresolved inactivity alert: nobody has used water
    ok = "ok"  # none of these (an unusual_pattern alert is information, not a state)


# A fleet_outage alert is the whole fleet's (meter_id "*"), so it is no meter's state.
_STATE_OF_KIND = {
    AlertKind.meter_offline: MeterState.offline,
    AlertKind.continuous_flow: MeterState.flowing,
    AlertKind.inactivity: MeterState.inactive,
}


@dataclass(frozen=True, slots=True)
class MeterSummary:
    meter_id: str
    state: MeterState
    last_ts: datetime
    last_total_l: float
    last_received_at: datetime
    open_alerts: list[int]


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    ts: datetime
    total_l: float
    received_at: datetime
    extra: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ReadingWindow:
    meter_id: str
    start: datetime
    end: datetime
    items: list[ReadingRecord]


@dataclass(frozen=True, slots=True)
class HourRecord:
    hour: datetime
    total_l: float
    first_l: float
    readings: int


@dataclass(frozen=True, slots=True)
class HourlyWindow:
    meter_id: str
    start: datetime
    end: datetime
    items: list[HourRecord]


def state_of(alerts: list[Alert]) -> MeterState:
    """offline, else flowing, else inactive if an unresolved alert says so; ok otherwise."""
    states = {_STATE_OF_KIND.get(a.kind) for a in alerts}
    return next((state for state in MeterState if state in states), MeterState.ok)


def ensure_may_read(scope: Scope) -> None:
    """Analysts read meters by pseudonym, in the exports; raw meter ids are for the people who act."""
    if scope.pseudonymous:
        raise PermissionDenied(
            f"{scope.user.name} has role {scope.role.value}, which sees meters only by pseudonym: "
            "GET /api/v1/exports has the readings and alert outcomes for analysts"
        )


def visible_meter(session: Session, *, scope: Scope, meter_id: str) -> None:
    """NotFound unless the user may read the meter (one that served a household of hers)."""
    ensure_may_read(scope)
    scope.ensure_meter(session, meter_id)


def list_meters(
    session: Session, *, scope: Scope, readings: ReadingsStore, limit: int = 100, offset: int = 0
) -> tuple[list[MeterSummary], int]:
    """Every meter the user may see that has sent a reading, by meter_id, and how many there are."""
    ensure_may_read(scope)
    visible = scope.meters()
    if visible is None:
        latest = readings.latest()
    else:
        meter_ids = list(session.scalars(visible))
        latest = readings.latest(meter_ids) if meter_ids else readings_frame()  # [] may mean "all" to a store
    latest = latest.sort_values("meter_id", kind="stable")
    page = latest.iloc[offset : offset + limit]
    unresolved = unresolved_by_meter(session) if len(page) else {}
    items = []
    for row in page.itertuples(index=False):
        alerts = unresolved.get(row.meter_id, [])
        items.append(
            MeterSummary(
                meter_id=row.meter_id,
                state=state_of(alerts),
                last_ts=from_ms(row.ts_ms),
                last_total_l=float(row.total_l),
                last_received_at=from_ms(row.received_ms),
                open_alerts=sorted(a.id for a in alerts),
            )
        )
    return items, len(latest)


def _show(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def window(
    start: datetime | None, end: datetime | None, now: datetime, default: timedelta, limit: timedelta
) -> tuple[datetime, datetime]:
    end = now if end is None else end
    start = end - default if start is None else start
    if start >= end:
        raise InvalidRequest(f"start ({_show(start)}) must be before end ({_show(end)})")
    if end - start > limit:
        raise InvalidRequest(
            f"the window from {_show(start)} to {_show(end)} spans {(end - start) / timedelta(days=1):.1f} days; "
            f"ask for at most {limit.days} days at a time, giving both start and end"
        )
    return start, end


def _known_or_raise(readings: ReadingsStore, meter_id: str) -> None:
    if readings.latest([meter_id]).empty:
        raise NotFound(f"meter {meter_id!r} has never sent a reading; GET /api/v1/meters lists the known meters")


def read_hourly(
    *, readings: ReadingsStore, meter_id: str, start: datetime | None, end: datetime | None, now: datetime
) -> HourlyWindow:
    """One meter's hourly series for the hours with start <= hour < end (default: the last 30 days)."""
    start, end = window(start, end, now, DEFAULT_HOURLY_WINDOW, MAX_HOURLY_WINDOW)
    frame = readings.read_hourly(meter_ids=[meter_id], start_ms=to_ms(start), end_ms=to_ms(end))
    if frame.empty:
        _known_or_raise(readings, meter_id)
    items = [
        HourRecord(hour=from_ms(int(h)), total_l=float(t), first_l=float(f), readings=int(n))
        for h, t, f, n in frame[["hour_ms", "total_l", "first_l", "n"]].itertuples(index=False, name=None)
    ]
    return HourlyWindow(meter_id=meter_id, start=start, end=end, items=items)


def read_window(
    *,
    readings: ReadingsStore,
    meter_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ReadingWindow:
    """One meter's readings with start <= ts < end, oldest first.

    ``end`` defaults to ``now`` and ``start`` to seven days before ``end``; a window may span at
    most 31 days. Raises NotFound if the meter has never sent a reading.
    """
    start, end = window(start, end, now, DEFAULT_WINDOW, MAX_WINDOW)
    rows = readings.read_meter(meter_id, start_ms=to_ms(start), end_ms=to_ms(end))
    if not rows:
        _known_or_raise(readings, meter_id)
    items = [
        ReadingRecord(
            ts=from_ms(r["ts_ms"]), total_l=float(r["total_l"]), received_at=from_ms(r["received_ms"]), extra=r["extra"]
        )
        for r in rows
    ]
    return ReadingWindow(meter_id=meter_id, start=start, end=end, items=items)
