"""What people may do with alerts, and who did it; plain functions that know nothing of HTTP.

Each user sees the alerts of her slice (``api.access``); an alert outside it is not found. Within
it, an admin or a community's secretary may act on any alert; a cadre on what concerns the
resident (inactivity, continuous_flow, unusual_pattern); a property manager on what concerns the
meters and the water (meter_offline, continuous_flow, fleet_outage); an analyst only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import Scope
from api.errors import PermissionDenied
from store import alerts as store
from store.errors import NotFound
from store.models import Alert, AlertEvent, AlertKind, Outcome, Role, User

ACTS_ON: dict[Role, frozenset[AlertKind]] = {
    Role.admin: frozenset(AlertKind),
    Role.secretary: frozenset(AlertKind),
    # A running tap goes to both: the resident may need a visit, the flat may be flooding.
    Role.cadre: frozenset({AlertKind.inactivity, AlertKind.continuous_flow, AlertKind.unusual_pattern}),
    Role.property_manager: frozenset({AlertKind.meter_offline, AlertKind.continuous_flow, AlertKind.fleet_outage}),
    Role.analyst: frozenset(),
}


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert with the names of the people who acknowledged and resolved it.

    ``alert`` is an ``Alert``, or in lists a read-only ``AlertListRow`` with the same attributes (cheaper to load).
    """

    alert: Alert | store.AlertListRow
    acknowledged_by: str | None
    resolved_by: str | None


def may_act(role: Role | str, kind: AlertKind | str) -> bool:
    """Whether a user with ``role`` may acknowledge and resolve an alert of ``kind``."""
    return AlertKind(kind) in ACTS_ON[Role(role)]


def ensure_may_act(user: User, alert: Alert) -> None:
    if may_act(user.role, alert.kind):
        return
    # The roles whose job this kind is come first; the secretary and admin, who may do anything, last.
    last = {Role.secretary: 1, Role.admin: 2}
    allowed = " or ".join(
        role.value for role, kinds in sorted(ACTS_ON.items(), key=lambda rk: last.get(rk[0], 0)) if alert.kind in kinds
    )
    if not ACTS_ON[Role(user.role)]:
        raise PermissionDenied(
            f"{user.name} has role {user.role}, which may read alerts but not act on them; "
            f"hand alert {alert.id} to a user with role {allowed}"
        )
    raise PermissionDenied(
        f"alert {alert.id} is a {alert.kind} alert, which role {user.role} may not act on; "
        f"hand it to a user with role {allowed}"
    )


def _records(session: Session, alerts: Sequence[Alert]) -> list[AlertRecord]:
    ids = {i for a in alerts for i in (a.acknowledged_by, a.resolved_by) if i is not None}
    names = _user_names(session, ids)
    return [AlertRecord(a, names.get(a.acknowledged_by), names.get(a.resolved_by)) for a in alerts]


def _user_names(session: Session, ids: Iterable[int]) -> dict[int | None, str]:
    ids = set(ids)
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def list_alerts(
    session: Session,
    *,
    scope: Scope,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    meter_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AlertRecord], int]:
    """The alerts ``scope`` may see matching the filters, newest first, and how many match in all."""
    rows, total = store.list_alert_rows(
        session, statuses=statuses, kind=kind, meter_id=meter_id, visible=scope.alert_visible(), limit=limit,
        offset=offset,
    )
    return [AlertRecord(row, row.acknowledged_by_name, row.resolved_by_name) for row in rows], total


def visible_alert(session: Session, *, scope: Scope, alert_id: int) -> Alert:
    """The alert, if ``scope`` may see it; NotFound otherwise, as if it did not exist."""
    alert = session.scalar(select(Alert).where(Alert.id == alert_id, scope.alert_visible()))
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist, or is not one of yours")
    return alert


def get_alert(session: Session, *, scope: Scope, alert_id: int) -> AlertRecord:
    return _records(session, [visible_alert(session, scope=scope, alert_id=alert_id)])[0]


def _acting_on(session: Session, scope: Scope, alert_id: int) -> Alert:
    alert = visible_alert(session, scope=scope, alert_id=alert_id)
    ensure_may_act(scope.user, alert)
    return alert


def acknowledge(session: Session, *, scope: Scope, alert_id: int, now: datetime) -> AlertRecord:
    """Record that the user has seen the alert and is acting on it (a no-op if already acknowledged)."""
    _acting_on(session, scope, alert_id)
    alert = store.acknowledge(session, alert_id=alert_id, user_id=scope.user.id, now=now)
    return _records(session, [alert])[0]


def resolve(
    session: Session, *, scope: Scope, alert_id: int, note: str | None, now: datetime, outcome: Outcome | None = None
) -> AlertRecord:
    """Close the alert with what the user found: an outcome from the fixed vocabulary, and a note."""
    _acting_on(session, scope, alert_id)
    alert = store.resolve(session, alert_id=alert_id, user_id=scope.user.id, note=note, now=now, outcome=outcome)
    return _records(session, [alert])[0]


def add_note(session: Session, *, scope: Scope, alert_id: int, note: str, now: datetime) -> AlertEvent:
    """Add a note to the alert's trail (after the visit, a call made), whatever its status."""
    _acting_on(session, scope, alert_id)
    return store.add_note(session, alert_id=alert_id, user_id=scope.user.id, note=note, now=now)


@dataclass(frozen=True, slots=True)
class EventRecord:
    event: AlertEvent
    user_name: str | None  # None: anxin itself


def events(session: Session, *, scope: Scope, alert_id: int) -> list[EventRecord]:
    """The alert's audit trail, oldest first."""
    visible_alert(session, scope=scope, alert_id=alert_id)
    trail = store.events_of(session, alert_id)
    names = _user_names(session, (e.user_id for e in trail if e.user_id is not None))
    return [EventRecord(e, names.get(e.user_id)) for e in trail]
