"""Building routes: thin views over ``api.buildings.service``."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.buildings import service
from api.buildings.schemas import BuildingCreate, BuildingPage, BuildingRead
from api.deps import PageDep, ScopeDep, SessionDep
from api.errors import responses
from api.paths import Id, IdField

router = APIRouter(prefix="/buildings", tags=["registry"])


@router.get("", response_model=BuildingPage, responses=responses(403), summary="The buildings you may see")
def list_buildings(session: SessionDep, scope: ScopeDep, page: PageDep,
                   community_id: IdField | None = Query(None, description="only this community's")) -> BuildingPage:
    items, total = service.list_buildings(session, scope=scope, community_id=community_id, limit=page.limit,
                                          offset=page.offset)
    managers = service.managers(session, buildings=items)
    return BuildingPage(items=[BuildingRead.build(b, managers=managers[b.id]) for b in items], total=total,
                        limit=page.limit, offset=page.offset)


@router.post("", response_model=BuildingRead, status_code=201, responses=responses(403, 404),
             summary="Add a building to a community (admins, its secretary)")
def create_building(body: BuildingCreate, session: SessionDep, scope: ScopeDep) -> BuildingRead:
    building = service.create_building(session, scope=scope, name=body.name.strip(), community_id=body.community_id)
    return BuildingRead.build(building, managers=[])


def _read(session, building) -> BuildingRead:
    return BuildingRead.build(building, managers=service.managers(session, buildings=[building])[building.id])


@router.put("/{building_id}/managers/{user_id}", response_model=BuildingRead, responses=responses(403, 404),
            summary="Make a property manager manage the building (admins, its secretary)")
def add_manager(building_id: Id, user_id: Id, session: SessionDep, scope: ScopeDep) -> BuildingRead:
    building = service.set_manager(session, scope=scope, building_id=building_id, user_id=user_id, manages=True)
    return _read(session, building)


@router.delete("/{building_id}/managers/{user_id}", response_model=BuildingRead, responses=responses(403, 404),
               summary="The property manager no longer manages the building (admins, its secretary)")
def remove_manager(building_id: Id, user_id: Id, session: SessionDep, scope: ScopeDep) -> BuildingRead:
    building = service.set_manager(session, scope=scope, building_id=building_id, user_id=user_id, manages=False)
    return _read(session, building)
