"""Alert routes: thin views over ``api.alerts.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BeforeValidator

from api.alerts import service
from api.alerts.schemas import AlertPage, AlertRead, ResolveBody
from api.deps import CurrentUser, NowDep, PageDep, SessionDep, TimezoneDep
from api.errors import responses
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


@router.get("", response_model=AlertPage, summary="List alerts, newest first")
def list_alerts(
    session: SessionDep,
    tz: TimezoneDep,
    page: PageDep,
    status: StatusFilter = None,
    kind: AlertKind | None = None,
    meter_id: str | None = None,
) -> AlertPage:
    records, total = service.list_alerts(
        session, statuses=status, kind=kind, meter_id=meter_id, limit=page.limit, offset=page.offset
    )
    return AlertPage(
        items=[AlertRead.build(r, tz=tz) for r in records], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{alert_id}", response_model=AlertRead, responses=responses(404), summary="One alert")
def get_alert(alert_id: int, session: SessionDep, tz: TimezoneDep) -> AlertRead:
    return AlertRead.build(service.get_alert(session, alert_id=alert_id), tz=tz)


@router.post(
    "/{alert_id}/ack",
    response_model=AlertRead,
    responses=responses(403, 404, 409),
    summary="Acknowledge an alert: someone is on it",
)
def acknowledge(alert_id: int, session: SessionDep, user: CurrentUser, now: NowDep, tz: TimezoneDep) -> AlertRead:
    return AlertRead.build(service.acknowledge(session, alert_id=alert_id, user=user, now=now), tz=tz)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertRead,
    responses=responses(403, 404, 409),
    summary="Resolve an alert, with a note on what was found",
)
def resolve(
    alert_id: int,
    session: SessionDep,
    user: CurrentUser,
    now: NowDep,
    tz: TimezoneDep,
    body: Annotated[ResolveBody | None, Body()] = None,
) -> AlertRead:
    note = body.note if body is not None else None
    return AlertRead.build(service.resolve(session, alert_id=alert_id, user=user, note=note, now=now), tz=tz)
