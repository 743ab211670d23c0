"""Resident routes: thin views over ``api.residents.service``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep
from api.errors import responses
from api.paths import Id
from api.households.schemas import ResidentRead
from api.residents import service
from api.residents.schemas import ResidentCreate, ResidentPage, ResidentPatch

router = APIRouter(tags=["registry"])


@router.get("/households/{household_id}/residents", response_model=ResidentPage, responses=responses(403, 404),
            summary="A household's residents (admins, the community's secretary, the household's cadres)")
def list_residents(household_id: Id, session: SessionDep, scope: ScopeDep, page: PageDep) -> ResidentPage:
    items, total = service.list_residents(session, scope=scope, household_id=household_id, limit=page.limit,
                                          offset=page.offset)
    return ResidentPage(items=[ResidentRead.build(r) for r in items], total=total, limit=page.limit,
                        offset=page.offset)


@router.post("/households/{household_id}/residents", response_model=ResidentRead, status_code=201,
             responses=responses(403, 404), summary="Record a resident (admins, the community's secretary)")
def create_resident(household_id: Id, body: ResidentCreate, session: SessionDep, scope: ScopeDep) -> ResidentRead:
    resident = service.create_resident(session, scope=scope, household_id=household_id,
                                       display_name=body.display_name.strip(), phones=body.phones, notes=body.notes)
    return ResidentRead.build(resident)


@router.patch("/residents/{resident_id}", response_model=ResidentRead, responses=responses(403, 404),
              summary="Change a resident's name, phones or notes (admins, the community's secretary)")
def update_resident(resident_id: Id, body: ResidentPatch, session: SessionDep, scope: ScopeDep) -> ResidentRead:
    resident = service.update_resident(session, scope=scope, resident_id=resident_id,
                                       display_name=body.display_name.strip() if body.display_name else None,
                                       phones=body.phones, notes=body.notes)
    return ResidentRead.build(resident)


@router.delete("/residents/{resident_id}", status_code=204, response_class=Response, responses=responses(403, 404),
               summary="Remove a resident and her personal data (admins, the community's secretary)")
def delete_resident(resident_id: Id, session: SessionDep, scope: ScopeDep) -> Response:
    service.delete_resident(session, scope=scope, resident_id=resident_id)
    return Response(status_code=204)
