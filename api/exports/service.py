"""What analysts take away: plain functions that know nothing of HTTP.

Everything exported names meters and households by pseudonym, whoever asks, and carries no
personal data: no names, phones or notes. An analyst joins the two files on the meter pseudonym.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.errors import InvalidRequest
from api.timefmt import local
from detect.csvio import write_readings_csv
from store.models import Alert, AlertStatus, Role
from store.pseudonyms import pseudonym
from store.readings import ReadingsStore
from store.times import to_ms

EXPORTERS = (Role.admin, Role.secretary, Role.analyst)
OUTCOME_COLUMNS = ["alert_id", "meter", "household", "kind", "severity", "started_at", "raised_at",
                   "acknowledged_at", "resolved_at", "escalation_level", "outcome"]
MAX_READINGS_WINDOW = timedelta(days=31)


def outcomes_csv(session: Session, *, scope: Scope, key: str, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """The alerts raised in [start, end) that a person resolved, with the outcome she recorded, as CSV.

    Alerts that resolved themselves, or were resolved without an outcome, are left out: they are not labels.
    """
    roles.require(scope, *EXPORTERS, doing="export alert outcomes")
    query = (
        select(Alert)
        .where(scope.alert_visible(), Alert.status == AlertStatus.resolved, Alert.outcome.is_not(None),
               Alert.raised_at >= start, Alert.raised_at < end)
        .order_by(Alert.raised_at, Alert.id)
    )
    rows = [
        {
            "alert_id": a.id,
            "meter": pseudonym(a.meter_id, key=key) if a.meter_id != "*" else "*",
            "household": "" if a.household_id is None else pseudonym(str(a.household_id), key=key, prefix="h"),
            "kind": a.kind,
            "severity": a.severity,
            "started_at": local(a.started_at, tz).isoformat(),
            "raised_at": local(a.raised_at, tz).isoformat(),
            "acknowledged_at": "" if a.acknowledged_at is None else local(a.acknowledged_at, tz).isoformat(),
            "resolved_at": local(a.resolved_at, tz).isoformat(),
            "escalation_level": a.escalation_level,
            "outcome": a.outcome,
        }
        for a in session.scalars(query)
    ]
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS).to_csv(index=False)


def readings_csv(
    session: Session, *, scope: Scope, readings: ReadingsStore, key: str, start: datetime, end: datetime,
    timezone: str,
) -> str:
    """The readings of the meters ``scope`` may see in [start, end), in the readings-CSV format
    (``anxin backtest`` and the notebooks read it), with each meter id replaced by its pseudonym."""
    roles.require(scope, *EXPORTERS, doing="export readings")
    if start >= end:
        raise InvalidRequest(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    if end - start > MAX_READINGS_WINDOW:
        raise InvalidRequest(f"ask for at most {MAX_READINGS_WINDOW.days} days of readings at a time")
    visible = scope.meters()
    meter_ids = None if visible is None else sorted(session.scalars(visible))
    frame = readings.read(meter_ids=meter_ids, start_ms=to_ms(start), end_ms=to_ms(end)) \
        if meter_ids is None or meter_ids else None
    out = io.StringIO()
    if frame is None or frame.empty:
        out.write("meter_id,ts,total_l,received_at\n")
        return out.getvalue()
    frame = frame.assign(meter_id=frame["meter_id"].map(lambda m: pseudonym(m, key=key)))
    write_readings_csv(frame, out, timezone)
    return out.getvalue()
