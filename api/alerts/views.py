"""Alert routes: thin views over ``api.alerts.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from pydantic import BeforeValidator

from api.alerts import service
from api.alerts.schemas import AlertPage, AlertRead, EventList, EventRead, NoteBody, ResolveBody
from api.deps import NowDep, PageDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import Id
from api.responses import unvalidated_json_response
from store.models import AlertKind, AlertStatus

router = APIRouter(prefix="/alerts", tags=["alerts"])


def _split_commas(value: object) -> object:
    """``?status=open,acknowledged`` and ``?status=open&status=acknowledged`` mean the same."""
    if isinstance(value, list):
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value


StatusFilter = Annotated[
    list[AlertStatus] | None,
    BeforeValidator(_split_commas),
    Query(description="repeat it or separate with commas: open, acknowledged, resolved"),
]


@router.get("", response_model=AlertPage, summary="List the alerts you may see, newest first")
def list_alerts(
    session: SessionDep,
    scope: ScopeDep,
    tz: TimezoneDep,
    page: PageDep,
    status: StatusFilter = None,
    kind: AlertKind | None = None,
    meter_id: str | None = None,
) -> Response:
    records, total = service.list_alerts(
        session, scope=scope, statuses=status, kind=kind, meter_id=meter_id, limit=page.limit, offset=page.offset
    )
    return unvalidated_json_response({
        "items": [AlertRead.values(r, tz=tz, scope=scope) for r in records], "total": total, "limit": page.limit,
        "offset": page.offset,
    })


@router.get("/{alert_id}", response_model=AlertRead, responses=responses(404), summary="One alert")
def get_alert(alert_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> AlertRead:
    return AlertRead.build(service.get_alert(session, scope=scope, alert_id=alert_id), tz=tz, scope=scope)


@router.get("/{alert_id}/events", response_model=EventList, responses=responses(404),
            summary="The alert's audit trail: every change, by whom and when, oldest first")
def alert_events(alert_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> EventList:
    trail = service.events(session, scope=scope, alert_id=alert_id)
    return EventList(items=[EventRead.build(e, tz=tz, scope=scope) for e in trail])


@router.post(
    "/{alert_id}/ack",
    response_model=AlertRead,
    responses=responses(403, 404, 409),
    summary="Acknowledge an alert: someone is on it",
)
def acknowledge(alert_id: Id, session: SessionDep, scope: ScopeDep, now: NowDep, tz: TimezoneDep) -> AlertRead:
    return AlertRead.build(service.acknowledge(session, scope=scope, alert_id=alert_id, now=now), tz=tz, scope=scope)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertRead,
    responses=responses(403, 404, 409),
    summary="Resolve an alert with what was found: an outcome and a note",
)
def resolve(
    alert_id: Id,
    session: SessionDep,
    scope: ScopeDep,
    now: NowDep,
    tz: TimezoneDep,
    body: Annotated[ResolveBody | None, Body()] = None,
) -> AlertRead:
    body = body or ResolveBody()
    record = service.resolve(session, scope=scope, alert_id=alert_id, note=body.note, outcome=body.outcome, now=now)
    return AlertRead.build(record, tz=tz, scope=scope)


@router.post(
    "/{alert_id}/notes",
    response_model=EventRead,
    status_code=201,
    responses=responses(403, 404),
    summary="Add a note to an alert's trail, whatever its status",
)
def add_note(
    alert_id: Id, body: NoteBody, session: SessionDep, scope: ScopeDep, now: NowDep, tz: TimezoneDep
) -> EventRead:
    event = service.add_note(session, scope=scope, alert_id=alert_id, note=body.note, now=now)
    return EventRead.build(service.EventRecord(event, scope.user.name), tz=tz, scope=scope)
