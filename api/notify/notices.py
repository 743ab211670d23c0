"""Notices built from the records: where an alert is (building and flat, never who lives there),
and the link to it on the page."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.notify.formats import AlertFacts, Notice
from store.models import FLEET, Alert, Building, Household, User


def _where(session: Session, alerts: Sequence[Alert]) -> dict[int, str]:
    ids = {a.household_id for a in alerts if a.household_id is not None}
    labels = {}
    if ids:
        rows = session.execute(select(Household.id, Building.name, Household.unit)
                               .join(Building, Building.id == Household.building_id).where(Household.id.in_(ids)))
        labels = {hid: f"{building} {unit}" for hid, building, unit in rows}
    out = {}
    for alert in alerts:
        if alert.meter_id == FLEET:
            out[alert.id] = "全部水表"
        elif alert.household_id in labels:
            out[alert.id] = labels[alert.household_id]
        else:
            out[alert.id] = f"水表 {alert.meter_id}（未关联住户）"
    return out


def alert_link(public_url: str, alert_id: int) -> str:
    return f"{public_url.rstrip('/')}/alerts/{alert_id}"


def facts_of(session: Session, alerts: Sequence[Alert], *, public_url: str) -> list[AlertFacts]:
    """What notices say about ``alerts``, in the same order."""
    where = _where(session, alerts)
    return [
        AlertFacts(id=a.id, kind=a.kind, severity=a.severity, status=a.status, where=where[a.id],
                   started_at=a.started_at, raised_at=a.raised_at, escalation_level=a.escalation_level,
                   link=alert_link(public_url, a.id))
        for a in alerts
    ]


def alert_notice(session: Session, alert: Alert, user: User, *, event: str, public_url: str) -> Notice:
    (facts,) = facts_of(session, [alert], public_url=public_url)
    return Notice(event=event, recipient=user.name, phone=user.phone, link=facts.link, alert=facts)
