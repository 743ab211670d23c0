"""Away window routes: thin views over ``api.away.service``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.away import service
from api.away.schemas import AwayCreate, AwayList, AwayRead
from api.deps import NowDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import Id

router = APIRouter(tags=["away"])


@router.get("/households/{household_id}/away", response_model=AwayList, responses=responses(403, 404),
            summary="When the household is away: windows not yet over (all with ?past=true)")
def list_away(household_id: Id, session: SessionDep, scope: ScopeDep, now: NowDep, tz: TimezoneDep,
              past: bool = False) -> AwayList:
    windows = service.list_away(session, scope=scope, household_id=household_id, now=now, include_past=past)
    return AwayList(items=[AwayRead.build(w, tz=tz) for w in windows])


@router.post("/households/{household_id}/away", response_model=AwayRead, status_code=201,
             responses=responses(403, 404), summary="Mark a household away: no inactivity alert until it is due back")
def add_away(household_id: Id, body: AwayCreate, session: SessionDep, scope: ScopeDep, now: NowDep,
             tz: TimezoneDep) -> AwayRead:
    window = service.add_away(session, scope=scope, household_id=household_id, start=body.start, end=body.end,
                              note=body.note, now=now, tz=tz)
    return AwayRead.build(window, tz=tz)


@router.delete("/away/{window_id}", status_code=204, response_class=Response, responses=responses(403, 404),
               summary="End an away window early (she is back) or remove a mistaken one")
def delete_away(window_id: Id, session: SessionDep, scope: ScopeDep) -> Response:
    service.delete_away(session, scope=scope, window_id=window_id)
    return Response(status_code=204)
