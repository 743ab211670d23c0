"""What people may do with alerts, and who did it; plain functions that know nothing of HTTP.

Roles (for now across every meter; communities narrow this later): an admin may act on any alert;
a cadre on what concerns the resident (inactivity, continuous_flow, unusual_pattern); a property
manager on what concerns the meters and the water (meter_offline, continuous_flow, fleet_outage);
an analyst only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import PermissionDenied
from store import alerts as store
from store.models import Alert, AlertKind, Role, User

ACTS_ON: dict[Role, frozenset[AlertKind]] = {
    Role.admin: frozenset(AlertKind),
    # A running tap goes to both: the resident may need a visit, the flat may be flooding.
    Role.cadre: frozenset({AlertKind.inactivity, AlertKind.continuous_flow, AlertKind.unusual_pattern}),
    Role.property_manager: frozenset({AlertKind.meter_offline, AlertKind.continuous_flow, AlertKind.fleet_outage}),
    Role.analyst: frozenset(),
}


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert with the names of the people who acknowledged and resolved it."""

    alert: Alert
    acknowledged_by: str | None
    resolved_by: str | None


def may_act(role: Role | str, kind: AlertKind | str) -> bool:
    """Whether a user with ``role`` may acknowledge and resolve an alert of ``kind``."""
    return AlertKind(kind) in ACTS_ON[Role(role)]


def ensure_may_act(user: User, alert: Alert) -> None:
    if may_act(user.role, alert.kind):
        return
    # The roles whose job this kind is come first; admin, who may do anything, last.
    allowed = " or ".join(
        role.value for role, kinds in sorted(ACTS_ON.items(), key=lambda rk: rk[0] == Role.admin) if alert.kind in kinds
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
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    meter_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AlertRecord], int]:
    """Alerts matching the filters, newest first, and how many match in all."""
    alerts, total = store.list_alerts(
        session, statuses=statuses, kind=kind, meter_id=meter_id, limit=limit, offset=offset
    )
    return _records(session, alerts), total


def get_alert(session: Session, *, alert_id: int) -> AlertRecord:
    return _records(session, [store.get_alert(session, alert_id)])[0]


def acknowledge(session: Session, *, alert_id: int, user: User, now: datetime) -> AlertRecord:
    """Record that ``user`` has seen the alert and is acting on it (a no-op if already acknowledged)."""
    ensure_may_act(user, store.get_alert(session, alert_id))
    alert = store.acknowledge(session, alert_id=alert_id, user_id=user.id, now=now)
    return _records(session, [alert])[0]


def resolve(session: Session, *, alert_id: int, user: User, note: str | None, now: datetime) -> AlertRecord:
    """Close the alert with what ``user`` found."""
    ensure_may_act(user, store.get_alert(session, alert_id))
    alert = store.resolve(session, alert_id=alert_id, user_id=user.id, note=note, now=now)
    return _records(session, [alert])[0]
