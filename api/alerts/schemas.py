"""Alert request and response bodies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.alerts.service import AlertRecord
from api.timefmt import local
from store.models import AlertKind, AlertStatus, Severity

MAX_NOTE = 2000


class AlertRead(BaseModel):
    """One episode of one condition on one meter. Times carry the site's UTC offset."""

    id: int
    meter_id: str = Field(description="the meter, or * for an alert about the whole fleet (fleet_outage)")
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

    @classmethod
    def build(cls, record: AlertRecord, *, tz: ZoneInfo) -> AlertRead:
        a = record.alert
        return cls(
            id=a.id,
            meter_id=a.meter_id,
            kind=a.kind,
            severity=a.severity,
            status=a.status,
            started_at=local(a.started_at, tz),
            raised_at=local(a.raised_at, tz),
            ended_at=local(a.ended_at, tz),
            created_at=local(a.created_at, tz),
            updated_at=local(a.updated_at, tz),
            acknowledged_at=local(a.acknowledged_at, tz),
            acknowledged_by=record.acknowledged_by,
            resolved_at=local(a.resolved_at, tz),
            resolved_by=record.resolved_by,
            resolution_note=a.resolution_note,
        )


class AlertPage(BaseModel):
    items: list[AlertRead]
    total: int = Field(description="alerts matching the filters, across all pages")
    limit: int
    offset: int


class ResolveBody(BaseModel):
    note: str | None = Field(None, max_length=MAX_NOTE, description="what was found and done")
