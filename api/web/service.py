"""What the cadres' page shows: open alerts as cards, a household's status, and the alert list's
fingerprint for live updates. Plain functions over a ``Scope``; they know nothing of HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from api.access import Scope
from api.alerts.service import list_alerts, may_act
from api.meters.service import MeterState, state_of
from api.web.chart import Chart, hourly_use, usage_chart
from store.links import current_meter, links_of_household
from store.models import (
    SEVERITY_RANK,
    Alert,
    AlertAction,
    AlertEvent,
    AlertStatus,
    AwayWindow,
    Building,
    Household,
    Resident,
    Severity,
    User,
)
from store.readings import ReadingsStore
from store.times import to_ms

UNRESOLVED = (AlertStatus.open, AlertStatus.acknowledged)
MAX_CARDS = 200  # an open list longer than this is no longer a list a person works through
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TrailEntry:
    at: datetime
    action: str
    by: str | None  # None: anxin itself
    detail: str | None


@dataclass(frozen=True, slots=True)
class AlertCard:
    """One alert as the page shows it."""

    alert: Alert
    household: str | None  # "3号楼 2-502", a pseudonym for analysts; None for an unlinked meter or the fleet
    household_link: int | None  # the household page to link to, None where there is none to show
    acknowledged_by: str | None
    may_act: bool
    trail: list[TrailEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResidentCard:
    name: str
    phones: list[str]
    notes: str


@dataclass(frozen=True, slots=True)
class HouseholdStatus:
    id: int
    label: str
    state: MeterState
    meter_id: str | None  # the meter serving it now
    residents: list[ResidentCard] | None  # None: this user may not see residents' details
    alerts: list[AlertCard]
    away: list[AwayWindow]  # current and coming windows, soonest first
    away_now: AwayWindow | None
    chart: Chart
    may_mark_away: bool


def labels(session: Session, household_ids: Sequence[int]) -> dict[int, str]:
    """Each household's label: its building's name and its unit."""
    ids = sorted(set(household_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Household.id, Building.name, Household.unit).join(Building, Building.id == Household.building_id)
        .where(Household.id.in_(ids))
    )
    return {hid: f"{building} {unit}" for hid, building, unit in rows}


def _trails(session: Session, scope: Scope, alert_ids: Sequence[int]) -> dict[int, list[TrailEntry]]:
    if not alert_ids:
        return {}
    rows = session.execute(
        select(AlertEvent, User.name).outerjoin(User, User.id == AlertEvent.user_id)
        .where(AlertEvent.alert_id.in_(alert_ids)).order_by(AlertEvent.at, AlertEvent.id)
    )
    trails: dict[int, list[TrailEntry]] = {}
    for event, name in rows:
        written = event.action in (AlertAction.noted, AlertAction.resolved)
        hidden = scope.pseudonymous  # analysts see neither who nor what people wrote
        trails.setdefault(event.alert_id, []).append(TrailEntry(
            at=event.at, action=event.action, by=None if hidden else name,
            detail=None if hidden and written else event.detail,
        ))
    return trails


def cards(session: Session, *, scope: Scope, alerts: Sequence[Alert], names: dict[int, str] | None = None) -> list[AlertCard]:
    """The alerts as cards, in the given order, with their trails."""
    found = labels(session, [a.household_id for a in alerts if a.household_id is not None])
    trails = _trails(session, scope, [a.id for a in alerts])
    if names is None:
        ids = {a.acknowledged_by for a in alerts if a.acknowledged_by is not None}
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    result = []
    for a in alerts:
        if a.household_id is None:
            label, link = None, None
        elif scope.pseudonymous:
            label, link = scope.show_household(a.household_id), None
        else:
            label, link = found.get(a.household_id), a.household_id
        result.append(AlertCard(
            alert=a, household=label, household_link=link,
            acknowledged_by=None if scope.pseudonymous else names.get(a.acknowledged_by),
            may_act=a.status != AlertStatus.resolved and may_act(scope.user.role, a.kind),
            trail=trails.get(a.id, []),
        ))
    return result


def by_urgency(alert: Alert) -> tuple:
    """Most severe first, then the newest."""
    return (-SEVERITY_RANK[Severity(alert.severity)], -alert.raised_at.timestamp(), -alert.id)


def open_alerts(session: Session, *, scope: Scope, limit: int = MAX_CARDS) -> tuple[list[AlertCard], int]:
    """The unresolved alerts the user may see, most severe first then newest, and how many there are."""
    records, total = list_alerts(session, scope=scope, statuses=UNRESOLVED, limit=limit)
    alerts = sorted((r.alert for r in records), key=by_urgency)
    names = {r.alert.acknowledged_by: r.acknowledged_by for r in records if r.acknowledged_by}
    return cards(session, scope=scope, alerts=alerts, names=names), total


def fingerprint(session: Session, *, scope: Scope) -> tuple:
    """What the open list looks like: changes whenever an alert in it appears, changes or leaves."""
    rows = session.execute(
        select(Alert.id, Alert.updated_at, Alert.status, Alert.severity)
        .where(scope.alert_visible(), Alert.status.in_(UNRESOLVED)).order_by(Alert.id)
    )
    return tuple(tuple(row) for row in rows)


def household_status(
    session: Session, *, scope: Scope, readings: ReadingsStore, household_id: int, now: datetime, tz
) -> HouseholdStatus:
    """A household's page: label, state, residents (if the user may see them), alerts, away windows
    and last week's use. NotFound unless the user may see the household."""
    scope.ensure_household(session, household_id)
    alerts = list(session.scalars(
        select(Alert).where(Alert.household_id == household_id, scope.alert_visible())
        .order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(20)
    ))
    unresolved = [a for a in alerts if a.status != AlertStatus.resolved]
    alerts = sorted(unresolved, key=by_urgency) + [a for a in alerts if a.status == AlertStatus.resolved]
    link = current_meter(session, household_id)
    meter_ids = [link.meter_id] if link is not None else []
    away = list(session.scalars(
        select(AwayWindow).where(
            or_(AwayWindow.household_id == household_id,
                AwayWindow.meter_id.in_(meter_ids) if meter_ids else false()),
            AwayWindow.ends_at > now,
        ).order_by(AwayWindow.starts_at, AwayWindow.id)
    ))
    residents = None
    if scope.personal_data:
        residents = [
            ResidentCard(name=r.display_name, phones=[p.strip() for p in r.phones.split(",") if p.strip()],
                         notes=r.notes)
            for r in session.scalars(select(Resident).where(Resident.household_id == household_id)
                                     .order_by(Resident.id))
        ]
    return HouseholdStatus(
        id=household_id,
        label=labels(session, [household_id])[household_id],
        state=state_of(unresolved),
        meter_id=link.meter_id if link else None,
        residents=residents,
        alerts=cards(session, scope=scope, alerts=alerts),
        away=away,
        away_now=next((w for w in away if w.starts_at <= now), None),
        chart=usage_chart(_week_of_use(session, readings, household_id, now), end=now, tz=tz),
        may_mark_away=may_act(scope.user.role, "inactivity"),
    )


def _week_of_use(session: Session, readings: ReadingsStore, household_id: int, now: datetime) -> dict[int, float]:
    """Litres used per hour (by hour_ms) over the last week, across every meter that served the household."""
    start = now - WEEK
    use: dict[int, float] = {}
    for link in links_of_household(session, household_id):
        begin, end = max(start, link.linked_at), min(now, link.unlinked_at or now)
        if begin >= end:
            continue
        frame = readings.read_hourly(meter_ids=[link.meter_id], start_ms=to_ms(begin) // 3_600_000 * 3_600_000,
                                     end_ms=to_ms(end))
        for hour_ms, litres in hourly_use(frame).items():
            use[hour_ms] = use.get(hour_ms, 0.0) + litres
    return use

