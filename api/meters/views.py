"""Meter routes: thin views over ``api.meters.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator

from api.deps import NowDep, PageDep, ReadingsDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.meters import service
from api.meters.schemas import HourlyList, MeterPage, MeterRead, ReadingList
from api.responses import unvalidated_json_response
from api.timefmt import require_offset

router = APIRouter(prefix="/meters", tags=["meters"])


def _window_edge(description: str) -> object:
    return Query(description=description + "; ISO 8601 with a UTC offset, e.g. 2026-11-22T13:00:00+08:00")


HourlyStart = Annotated[
    datetime | None, AfterValidator(require_offset), _window_edge("inclusive; default: end - 30 days")
]
Start = Annotated[datetime | None, AfterValidator(require_offset), _window_edge("inclusive; default: end - 7 days")]
End = Annotated[datetime | None, AfterValidator(require_offset), _window_edge("exclusive; default: now")]


@router.get("", response_model=MeterPage, responses=responses(403),
            summary="The meters you may see and their state, by meter_id")
def list_meters(session: SessionDep, scope: ScopeDep, readings: ReadingsDep, tz: TimezoneDep,
                page: PageDep) -> MeterPage:
    meters, total = service.list_meters(session, scope=scope, readings=readings, limit=page.limit,
                                        offset=page.offset)
    return MeterPage(
        items=[MeterRead.build(m, tz=tz) for m in meters], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{meter_id}/readings",
    response_model=ReadingList,
    responses=responses(403, 404),
    summary="A meter's readings in a window of at most 31 days, oldest first",
)
def read_meter(
    meter_id: str,
    session: SessionDep,
    scope: ScopeDep,
    readings: ReadingsDep,
    now: NowDep,
    tz: TimezoneDep,
    start: Start = None,
    end: End = None,
) -> Response:
    service.visible_meter(session, scope=scope, meter_id=meter_id)
    window = service.read_window(readings=readings, meter_id=meter_id, start=start, end=end, now=now)
    return unvalidated_json_response(ReadingList.values(window, tz=tz))


@router.get(
    "/{meter_id}/hourly",
    response_model=HourlyList,
    responses=responses(403, 404),
    summary="A meter's hourly series (last total per hour) in a window of at most 366 days",
)
def read_meter_hourly(
    meter_id: str,
    session: SessionDep,
    scope: ScopeDep,
    readings: ReadingsDep,
    now: NowDep,
    tz: TimezoneDep,
    start: HourlyStart = None,
    end: End = None,
) -> HourlyList:
    service.visible_meter(session, scope=scope, meter_id=meter_id)
    window = service.read_hourly(readings=readings, meter_id=meter_id, start=start, end=end, now=now)
    return HourlyList.build(window, tz=tz)
