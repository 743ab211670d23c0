"""Alert records and their lifecycle: open, then acknowledged, then resolved.

The detector calls ``sync_episodes`` every tick with the episodes it currently sees; people call
``acknowledge``, ``add_note`` and ``resolve``. One alert exists per episode (meter, kind,
started_at), and at most one unresolved alert per meter and kind. Every change is kept in the
audit trail (``AlertEvent``), by whom (None: anxin itself) and when.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from store.batches import chunks, one_of
from store.bulk import insert_rows, insert_rows_returning_ids
from store.errors import InvalidTransition, NotFound
from store.links import current_households
from store.models import (
    SEVERITY_RANK,
    Alert,
    AlertAction,
    AlertEvent,
    AlertStatus,
    Outcome,
    Severity,
    User,
)

AUTO_RESOLVED_NOTE = "resolved automatically: the condition ended"
LATE_NOTE = "recorded already resolved: the data showing it arrived after it had ended"
_ALERTS = Alert.__table__


@dataclass(frozen=True, slots=True)
class Episode:
    """A condition a detector sees on a meter; ``ended_at`` is None while it lasts."""

    meter_id: str
    kind: str
    severity: str
    started_at: datetime
    raised_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncedAlert:
    """An alert a sync raised or changed, as the tick's logs need it (``get_alert`` gives the whole record)."""

    id: int
    meter_id: str
    kind: str
    severity: str

    @classmethod
    def of(cls, alert: Alert) -> SyncedAlert:
        return cls(alert.id, alert.meter_id, alert.kind, alert.severity)


@dataclass(slots=True)
class SyncReport:
    raised: list[SyncedAlert] = field(default_factory=list)
    escalated: list[SyncedAlert] = field(default_factory=list)
    resolved: list[SyncedAlert] = field(default_factory=list)
    recorded: list[SyncedAlert] = field(default_factory=list)  # episodes over before anyone could see them


def sync_episodes(
    session: Session, *, kind: str, episodes: Iterable[Episode], now: datetime,
    owns: Callable[[str], bool] | None = None, meters: Collection[str] | None = None,
) -> SyncReport:
    """Make the unresolved alerts of ``kind`` match the detector's view.

    ``episodes`` holds every ongoing episode of this kind, plus any that ended since the last sync
    (those resolve their alert with the detector's ``ended_at``, or are recorded already resolved
    if they never had one). Alerts whose episode is neither are resolved as of ``now``: their
    condition ended while nobody was watching. With ``owns`` (a detector shard's meters), alerts of
    meters it does not own are left alone: another shard keeps them.

    With ``meters``, only these meters' alerts are compared, and ``episodes`` holds these meters'
    episodes: the caller knows that every other meter's ongoing episode is the one it synced last
    time, unchanged, so a sync would leave its alert as it is (people only acknowledge and resolve
    alerts; resolved, an unchanged episode's alert stays resolved).
    """
    ongoing: dict[str, Episode] = {}
    closed: dict[tuple[str, datetime], Episode] = {}
    for ep in episodes:
        if ep.ended_at is None:
            ongoing[ep.meter_id] = ep
        else:
            closed[(ep.meter_id, ep.started_at)] = ep
    report = SyncReport()
    # Compare on plain rows; load as objects only the alerts that change (most stay as they are).
    unresolved = _unresolved_rows(session, kind, meters)
    matched: set[str] = set()
    escalate: dict[int, Episode] = {}
    resolve_ids: list[int] = []
    escalations: list[dict] = []  # their audit events, inserted with the rest in _record_sync
    for alert_id, meter_id, started_at, severity in unresolved:
        if owns is not None and not owns(meter_id):
            continue
        ep = ongoing.get(meter_id)
        if ep is not None and ep.started_at == started_at:
            matched.add(meter_id)
            if SEVERITY_RANK[Severity(ep.severity)] > SEVERITY_RANK[Severity(severity)]:
                escalate[alert_id] = ep
            continue
        resolve_ids.append(alert_id)
    changing = _alerts_by_id(session, [*escalate, *resolve_ids])
    for alert_id in [row.id for row in unresolved if row.id in changing]:  # in the order they were listed
        alert = changing[alert_id]
        ep = escalate.get(alert_id)
        if ep is not None:
            alert.severity = ep.severity
            alert.updated_at = now
            report.escalated.append(SyncedAlert.of(alert))
            escalations.append(_event(alert.id, AlertAction.severity_raised, now, ep.severity))
            continue
        alert.status = AlertStatus.resolved
        episode_over = closed.get((alert.meter_id, alert.started_at))
        alert.ended_at = episode_over.ended_at if episode_over else now
        alert.resolved_at = now
        alert.resolution_note = AUTO_RESOLVED_NOTE
        alert.updated_at = now
        report.resolved.append(SyncedAlert.of(alert))
    session.flush()  # the unique index allows one unresolved alert per meter and kind
    households = current_households(session, [m for m in list(ongoing) + [m for m, _ in closed] if m not in matched])
    # The alerts these episodes already have (a person may have resolved one), in a few queries.
    have_alert = _alerts_of_episodes(session, kind, [(m, ep.started_at) for m, ep in ongoing.items()
                                                     if m not in matched] + list(closed))
    to_raise: list[dict] = []
    for meter_id, ep in ongoing.items():
        if meter_id in matched:
            continue
        found = have_alert.get((meter_id, ep.started_at))
        if found is None:
            to_raise.append(_new_alert(meter_id, kind, ep, now, households.get(meter_id)))
        elif SEVERITY_RANK[Severity(ep.severity)] > SEVERITY_RANK[Severity(found.severity)]:
            # Someone closed this episode at a lower severity and it has grown worse: reopen it.
            existing = get_alert(session, found.id)
            existing.severity = ep.severity
            existing.status = AlertStatus.open
            existing.raised_at = ep.raised_at
            existing.acknowledged_at = existing.acknowledged_by = None
            existing.resolved_at = existing.resolved_by = existing.ended_at = None
            existing.updated_at = now
            report.escalated.append(SyncedAlert.of(existing))
            escalations.append(_event(existing.id, AlertAction.reopened, now, ep.severity))
    raising = {(alert["meter_id"], alert["started_at"]) for alert in to_raise}
    to_record = [
        # Its data arrived after it was over (a late batch, or while the detector was down):
        # keep the record, but there is nobody to call.
        _new_alert(meter_id, kind, episode, now, households.get(meter_id), resolved_late=True)
        for (meter_id, started_at), episode in closed.items()
        if (meter_id, started_at) not in have_alert and (meter_id, started_at) not in raising
    ]
    session.flush()
    inserted = _insert_alerts(session, kind, to_raise + to_record)
    report.raised, report.recorded = inserted[:len(to_raise)], inserted[len(to_raise):]
    _record_sync(session, report, now, escalations)
    return report


def _new_alert(meter_id: str, kind: str, episode: Episode, now: datetime, household_id: int | None, *,
               resolved_late: bool = False) -> dict:
    """The columns of a new alert: open, or recorded already resolved (``resolved_late``)."""
    return {
        "meter_id": meter_id, "kind": kind, "severity": episode.severity,
        "status": AlertStatus.resolved if resolved_late else AlertStatus.open,
        "started_at": episode.started_at, "raised_at": episode.raised_at,
        "ended_at": episode.ended_at if resolved_late else None,
        "created_at": now, "updated_at": now,
        "resolved_at": now if resolved_late else None, "resolution_note": LATE_NOTE if resolved_late else None,
        "household_id": household_id,
    }


def _insert_alerts(session: Session, kind: str, rows: list[dict]) -> list[SyncedAlert]:
    """New alerts of ``kind``, inserted in bulk (a tick can raise thousands), returned in the order
    given. An episode (meter, start) has one alert of a kind, so it tells the new rows apart."""
    ids = insert_rows_returning_ids(session, _ALERTS, rows, key=("meter_id", "started_at"))
    return [SyncedAlert(alert_id, row["meter_id"], kind, row["severity"]) for row, alert_id in zip(rows, ids)]


def _unresolved_rows(session: Session, kind: str, meters: Collection[str] | None) -> list[Row]:
    """The unresolved alerts of ``kind`` (of ``meters`` only, if given) as plain rows
    (id, meter_id, started_at, severity), in the order of their meters (one each), as SQLite lists them all."""
    query = select(Alert.id, Alert.meter_id, Alert.started_at, Alert.severity).where(
        Alert.kind == kind, Alert.status != AlertStatus.resolved)
    if meters is None:
        rows = session.execute(query).all()
    else:
        rows = [row for chunk in chunks(list(meters))
                for row in session.execute(query.where(one_of(session, Alert.meter_id, chunk)))]
    return sorted(rows, key=lambda row: row.meter_id)


def _alerts_by_id(session: Session, ids: list[int]) -> dict[int, Alert]:
    """The alerts with these ids, as objects to change, fetched in chunks (a bound parameter each)."""
    alerts: dict[int, Alert] = {}
    for chunk in chunks(ids):
        alerts.update((a.id, a) for a in session.scalars(select(Alert).where(one_of(session, Alert.id, chunk))))
    return alerts


def _record_sync(session: Session, report: SyncReport, now: datetime, escalations: list[dict]) -> None:
    """The audit trail of one sync, in one insert: the ``escalations``' events, then what anxin
    itself did to each other alert."""
    events = [
        *escalations,
        *(_event(alert.id, AlertAction.raised, now, str(alert.severity)) for alert in report.raised),
        *(_event(alert.id, AlertAction.auto_resolved, now, AUTO_RESOLVED_NOTE) for alert in report.resolved),
        *(_event(alert.id, AlertAction.raised, now, str(alert.severity)) for alert in report.recorded),
    ]
    insert_rows(session, AlertEvent.__table__, events)


def _event(alert_id: int, action: AlertAction, now: datetime, detail: str) -> dict:
    """The columns of an audit event by anxin itself (no user)."""
    return {"alert_id": alert_id, "at": now, "user_id": None, "action": action, "detail": detail}


def record_event(
    session: Session, *, alert: Alert, action: AlertAction, user_id: int | None, now: datetime,
    detail: str | None = None,
) -> AlertEvent:
    """Add one entry to ``alert``'s audit trail."""
    event = AlertEvent(alert_id=alert.id, at=now, user_id=user_id, action=action, detail=detail)
    session.add(event)
    session.flush()
    return event


def events_of(session: Session, alert_id: int) -> list[AlertEvent]:
    """``alert_id``'s audit trail, oldest first."""
    get_alert(session, alert_id)
    query = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.at, AlertEvent.id)
    return list(session.scalars(query))


def _alerts_of_episodes(session: Session, kind: str, episodes: list[tuple[str, datetime]]
                        ) -> dict[tuple[str, datetime], Row]:
    """The alerts of ``kind`` that exist for these episodes (meter_id, started_at), as rows (id,
    meter_id, started_at, severity), in a query per ``PER_QUERY`` episodes (``store.batches``)
    rather than one each: a burst changes thousands of episodes at once."""
    found: dict[tuple[str, datetime], Row] = {}
    for chunk in chunks(sorted(set(episodes))):
        # The chunk's meters' alerts started between its first and last start: a superset, of which
        # only the wanted are kept. A range, not the starts themselves: SQLite probed its episode
        # index once for every pair of meter and start (a burst's 7,801 episodes: 0.1 s).
        starts = [started for _, started in chunk]
        query = select(Alert.id, Alert.meter_id, Alert.started_at, Alert.severity).where(
            Alert.kind == kind, one_of(session, Alert.meter_id, {m for m, _ in chunk}),
            Alert.started_at.between(min(starts), max(starts)))
        keys = set(chunk)
        for row in session.execute(query):
            if (row.meter_id, row.started_at) in keys:
                found[(row.meter_id, row.started_at)] = row
    return found


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert


def _alert_filters(
    statuses: Sequence[str] | None, kind: str | None, meter_id: str | None, visible: ColumnElement[bool] | None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of an alert list."""
    where = []
    if visible is not None:
        where.append(visible)
    if statuses:
        where.append(Alert.status.in_(statuses))
    if kind:
        where.append(Alert.kind == kind)
    if meter_id:
        where.append(Alert.meter_id == meter_id)
    return where


_NEWEST_FIRST = (Alert.raised_at.desc(), Alert.id.desc())


def list_alerts(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    meter_id: str | None = None,
    visible: ColumnElement[bool] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    """Alerts matching the filters (and ``visible``, a condition on ``Alert``), newest first, and
    how many match in all."""
    query = select(Alert).where(*_alert_filters(statuses, kind, meter_id, visible))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(*_NEWEST_FIRST).limit(limit).offset(offset))
    return list(items), total


_ACKNOWLEDGER = User.__table__.alias("acknowledger")
_RESOLVER = User.__table__.alias("resolver")
_ALERT_LIST_COLUMNS = (
    *_ALERTS.c, _ACKNOWLEDGER.c.name.label("acknowledged_by_name"), _RESOLVER.c.name.label("resolved_by_name")
)
# A row of an alert list: a plain named tuple, whose attributes cost a tenth of a SQLAlchemy Row's
# (about 0.04 against 0.4 µs; a page of 100 alerts reads some 1,800 of them to write its JSON).
AlertListRow = namedtuple("AlertListRow", [column.key for column in _ALERT_LIST_COLUMNS])


def list_alert_rows(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    meter_id: str | None = None,
    visible: ColumnElement[bool] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AlertListRow], int]:
    """The page ``list_alerts`` gives, as read-only rows, and how many match in all.

    Each row has the alert's columns (as attributes of the same names), ``acknowledged_by_name``
    and ``resolved_by_name``. Rows skip the ORM's object loading, which cost more than the SQL
    itself for the API's lists. A page that ends short of ``limit`` tells the count itself; only a
    full page (or one past the end) costs a count query. A window function counting alongside the
    rows made SQLite gather and sort every matching row whole: 2.7 against 2.1 ms a page of the
    admin's 298 open alerts (``bench/api.py``'s data).
    """
    where = _alert_filters(statuses, kind, meter_id, visible)
    query = (
        select(*_ALERT_LIST_COLUMNS)
        .outerjoin(_ACKNOWLEDGER, _ACKNOWLEDGER.c.id == _ALERTS.c.acknowledged_by)
        .outerjoin(_RESOLVER, _RESOLVER.c.id == _ALERTS.c.resolved_by)
        .where(*where)
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
        .offset(offset)
    )
    rows = [AlertListRow._make(row) for row in session.execute(query)]
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    return rows, session.scalar(select(func.count()).select_from(_ALERTS).where(*where)) or 0


def acknowledge(session: Session, *, alert_id: int, user_id: int, now: datetime) -> Alert:
    """Record that a person has seen the alert and is acting on it."""
    alert = get_alert(session, alert_id)
    if alert.status == AlertStatus.resolved:
        raise InvalidTransition(f"alert {alert_id} is already resolved; there is nothing to acknowledge")
    if alert.status == AlertStatus.open:
        alert.status = AlertStatus.acknowledged
        alert.acknowledged_at = now
        alert.acknowledged_by = user_id
        alert.updated_at = now
        record_event(session, alert=alert, action=AlertAction.acknowledged, user_id=user_id, now=now)
    return alert


def resolve(
    session: Session, *, alert_id: int, user_id: int, note: str | None, now: datetime, outcome: Outcome | None = None
) -> Alert:
    """Close the alert with what the person found: an ``Outcome`` (the analysts' label) and a note."""
    alert = get_alert(session, alert_id)
    if alert.status == AlertStatus.resolved:
        raise InvalidTransition(f"alert {alert_id} is already resolved")
    alert.status = AlertStatus.resolved
    alert.resolved_at = now
    alert.resolved_by = user_id
    alert.resolution_note = note
    alert.outcome = None if outcome is None else Outcome(outcome).value
    alert.updated_at = now
    detail = " ".join(part for part in (alert.outcome, note) if part) or None
    record_event(session, alert=alert, action=AlertAction.resolved, user_id=user_id, now=now, detail=detail)
    return alert


def add_note(session: Session, *, alert_id: int, user_id: int, note: str, now: datetime) -> AlertEvent:
    """Add a note to the alert's trail, whatever its status (a finding after the visit, a call made)."""
    alert = get_alert(session, alert_id)
    alert.updated_at = now
    return record_event(session, alert=alert, action=AlertAction.noted, user_id=user_id, now=now, detail=note)


def unresolved_by_meter(session: Session) -> dict[str, list[Alert]]:
    """Unresolved alerts grouped by meter: the basis of each meter's state."""
    by_meter: dict[str, list[Alert]] = {}
    for alert in session.scalars(select(Alert).where(Alert.status != AlertStatus.resolved)):
        by_meter.setdefault(alert.meter_id, []).append(alert)
    return by_meter
