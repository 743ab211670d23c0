"""Household routes: thin views over ``api.households.service``."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import NowDep, PageDep, ReadingsDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import Id, IdField
from api.households import service
from api.households.schemas import (
    HouseholdCreate,
    HouseholdHourly,
    HouseholdPage,
    HouseholdPatch,
    HouseholdRead,
    HouseholdStatusRead,
    LinkResult,
    MeterLinkBody,
)
from api.meters.views import End, HourlyStart

router = APIRouter(prefix="/households", tags=["registry"])


@router.get("", response_model=HouseholdPage, responses=responses(403),
            summary="The households you may see, by building and unit")
def list_households(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep,
                    building_id: IdField | None = Query(None, description="only this building's")) -> HouseholdPage:
    items, total = service.list_households(session, scope=scope, building_id=building_id, limit=page.limit,
                                           offset=page.offset)
    return HouseholdPage(items=[HouseholdRead.build(s, tz=tz) for s in items], total=total, limit=page.limit,
                         offset=page.offset)


def _status(session, scope, household_id: Id, tz) -> HouseholdStatusRead:
    return HouseholdStatusRead.build_status(service.status(session, scope=scope, household_id=household_id), tz=tz)


@router.post("", response_model=HouseholdStatusRead, status_code=201, responses=responses(403, 404),
             summary="Add a household to a building (admins, the community's secretary)")
def create_household(body: HouseholdCreate, session: SessionDep, scope: ScopeDep, now: NowDep,
                     tz: TimezoneDep) -> HouseholdStatusRead:
    household = service.create_household(session, scope=scope, building_id=body.building_id, unit=body.unit.strip(),
                                         now=now)
    return _status(session, scope, household.id, tz)


@router.get("/{household_id}", response_model=HouseholdStatusRead, responses=responses(403, 404),
            summary="A household's status: its meters over time, residents, cadres and open alerts")
def get_household(household_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> HouseholdStatusRead:
    return _status(session, scope, household_id, tz)


@router.patch("/{household_id}", response_model=HouseholdStatusRead, responses=responses(403, 404),
              summary="Change a household's unit (admins, the community's secretary)")
def update_household(household_id: Id, body: HouseholdPatch, session: SessionDep, scope: ScopeDep,
                     tz: TimezoneDep) -> HouseholdStatusRead:
    service.update_household(session, scope=scope, household_id=household_id,
                             unit=body.unit.strip() if body.unit else None)
    return _status(session, scope, household_id, tz)


@router.put("/{household_id}/cadres/{user_id}", response_model=HouseholdStatusRead, responses=responses(403, 404),
            summary="A cadre looks after the household (admins, the community's secretary)")
def assign_cadre(household_id: Id, user_id: Id, session: SessionDep, scope: ScopeDep,
                 tz: TimezoneDep) -> HouseholdStatusRead:
    service.set_cadre(session, scope=scope, household_id=household_id, user_id=user_id, assigned=True)
    return _status(session, scope, household_id, tz)


@router.delete("/{household_id}/cadres/{user_id}", response_model=HouseholdStatusRead,
               responses=responses(403, 404),
               summary="The cadre no longer looks after the household (admins, the community's secretary)")
def unassign_cadre(household_id: Id, user_id: Id, session: SessionDep, scope: ScopeDep,
                   tz: TimezoneDep) -> HouseholdStatusRead:
    service.set_cadre(session, scope=scope, household_id=household_id, user_id=user_id, assigned=False)
    return _status(session, scope, household_id, tz)


@router.put("/{household_id}/meter", response_model=LinkResult, responses=responses(403, 404),
            summary="Link a meter to the household, replacing its meter (admins, secretaries, property managers)")
def link_meter(household_id: Id, body: MeterLinkBody, session: SessionDep, scope: ScopeDep, now: NowDep,
               tz: TimezoneDep) -> LinkResult:
    changes = service.link_meter(session, scope=scope, household_id=household_id, meter_id=body.meter_id, at=body.at,
                                 now=now)
    return LinkResult(changes=changes, household=_status(session, scope, household_id, tz))


@router.get("/{household_id}/readings/hourly", response_model=HouseholdHourly, responses=responses(403, 404),
            summary="The household's hourly series across every meter that served it (at most 366 days)")
def read_hourly(household_id: Id, session: SessionDep, scope: ScopeDep, readings: ReadingsDep, now: NowDep,
                tz: TimezoneDep, start: HourlyStart = None, end: End = None) -> HouseholdHourly:
    hours = service.read_hourly(session, scope=scope, readings=readings, household_id=household_id, start=start,
                                end=end, now=now)
    return HouseholdHourly.build(hours, tz=tz)
