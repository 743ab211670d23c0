"""Alert request and response bodies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.access import Scope
from api.alerts.service import AlertRecord, EventRecord
from api.timefmt import local
from store.models import AlertAction, AlertKind, AlertStatus, Outcome, Severity

MAX_NOTE = 2000


class AlertRead(BaseModel):
    """One episode of one condition on one meter. Times carry the site's UTC offset.

    Analysts see the meter and household by pseudonym, and neither names nor notes.
    """

    id: int
    meter_id: str = Field(description="the meter, or * for an alert about the whole fleet (fleet_outage)")
    household_id: str | None = Field(
        description="the household the meter served when the alert was raised (a pseudonym for analysts); "
        "null for a meter linked to no household, and for the fleet"
    )
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    started_at: datetime = Field(description="when the condition began, in meter time")
    raised_at: datetime = Field(description="when the evidence for it arrived")
    ended_at: datetime | None = Field(description="when the condition ended; null while it lasts")
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="name of the user who acknowledged it")
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="name of the user who resolved it; null if it resolved itself")
    resolution_note: str | None
    outcome: Outcome | None = Field(description="what the person who resolved it found; null if it resolved itself")
    escalation_level: int = Field(
        description="0 while with the people it goes to first, 1 once escalated to the secretary, 2 to admins"
    )

    @classmethod
    def build(cls, record: AlertRecord, *, tz: ZoneInfo, scope: Scope) -> AlertRead:
        return cls.model_validate(cls.values(record, tz=tz, scope=scope))

    @staticmethod
    def values(record: AlertRecord, *, tz: ZoneInfo, scope: Scope) -> dict:
        """The fields of an ``AlertRead``, in its order, as plain values (``api.responses``)."""
        a = record.alert
        personal = not scope.pseudonymous
        return {
            "id": a.id,
            "meter_id": scope.show_meter(a.meter_id),
            "household_id": scope.show_household(a.household_id),
            "kind": a.kind,
            "severity": a.severity,
            "status": a.status,
            "started_at": local(a.started_at, tz),
            "raised_at": local(a.raised_at, tz),
            "ended_at": local(a.ended_at, tz),
            "created_at": local(a.created_at, tz),
            "updated_at": local(a.updated_at, tz),
            "acknowledged_at": local(a.acknowledged_at, tz),
            "acknowledged_by": record.acknowledged_by if personal else None,
            "resolved_at": local(a.resolved_at, tz),
            "resolved_by": record.resolved_by if personal else None,
            "resolution_note": a.resolution_note if personal else None,
            "outcome": a.outcome,
            "escalation_level": a.escalation_level,
        }


class AlertPage(BaseModel):
    items: list[AlertRead]
    total: int = Field(description="alerts matching the filters, across all pages")
    limit: int
    offset: int


class ResolveBody(BaseModel):
    outcome: Outcome | None = Field(
        None, description="what was found: the label analysts learn from. Give one; without it the alert is unlabelled"
    )
    note: str | None = Field(None, max_length=MAX_NOTE, description="what was found and done")


class NoteBody(BaseModel):
    note: str = Field(min_length=1, max_length=MAX_NOTE, description="what happened: a call made, a finding")


class EventRead(BaseModel):
    """One entry of an alert's audit trail."""

    at: datetime
    action: AlertAction
    by: str | None = Field(description="the user who did it; null when anxin did it itself (or for analysts)")
    detail: str | None = Field(description="the severity, outcome or note; null for analysts where a person wrote it")

    @classmethod
    def build(cls, record: EventRecord, *, tz: ZoneInfo, scope: Scope) -> EventRead:
        e = record.event
        personal = not scope.pseudonymous
        written = e.action in (AlertAction.noted, AlertAction.resolved)
        detail = e.detail if personal or not written else None
        return cls(at=local(e.at, tz), action=e.action, by=record.user_name if personal else None, detail=detail)


class EventList(BaseModel):
    items: list[EventRead]
