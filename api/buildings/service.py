"""Buildings, as each user may see and change them; plain functions that know nothing of HTTP.

Admins see every building, a secretary her community's, a property manager his own, a cadre
those of the households she looks after; analysts see none (no addresses).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.errors import InvalidRequest
from store import registry
from store.errors import NotFound
from store.models import Building, BuildingManager, Community, Household, Role, User

READERS = (Role.admin, Role.secretary, Role.property_manager, Role.cadre)
WRITERS = (Role.admin, Role.secretary)


def _visible(scope: Scope, query):
    if scope.role == Role.property_manager:
        return query.where(Building.id.in_(select(BuildingManager.building_id)
                                           .where(BuildingManager.user_id == scope.user.id)))
    if scope.role == Role.cadre and scope.households is not None:
        return query.where(Building.id.in_(select(Household.building_id).where(Household.id.in_(scope.households))))
    communities = roles.communities(scope)
    return query if communities is None else query.where(Building.community_id.in_(communities))


def list_buildings(session: Session, *, scope: Scope, community_id: int | None = None, limit: int = 100,
                   offset: int = 0) -> tuple[list[Building], int]:
    """The buildings the user may see, by community and name."""
    roles.require(scope, *READERS, doing="list buildings")
    query = _visible(scope, select(Building))
    if community_id is not None:
        query = query.where(Building.community_id == community_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Building.community_id, Building.name, Building.id).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def visible_building(session: Session, *, scope: Scope, building_id: int) -> Building:
    building = session.scalar(_visible(scope, select(Building).where(Building.id == building_id)))
    if building is None:
        raise NotFound(f"building {building_id} does not exist, or is not yours; GET /api/v1/buildings lists yours")
    return building


def target_community(scope: Scope, community_id: int | None) -> int:
    """The community a secretary's or admin's new record goes to: hers, or the one an admin names."""
    if scope.role == Role.admin:
        if community_id is None:
            raise InvalidRequest("say which community: give community_id (GET /api/v1/communities lists them)")
        return community_id
    if community_id is not None and community_id != scope.community_id:
        raise NotFound(f"community {community_id} does not exist, or is not yours; leave community_id out")
    if scope.community_id is None:
        raise InvalidRequest(f"{scope.user.name} belongs to no community; an admin must give her one")
    return scope.community_id


def create_building(session: Session, *, scope: Scope, name: str, community_id: int | None) -> Building:
    roles.require(scope, *WRITERS, doing="create buildings")
    community_id = target_community(scope, community_id)
    if session.get(Community, community_id) is None:
        raise NotFound(f"community {community_id} does not exist; GET /api/v1/communities lists them")
    try:
        return registry.create_building(session, community_id=community_id, name=name)
    except registry.NameTaken as exc:
        raise InvalidRequest(str(exc)) from exc


def community_user(session: Session, *, community_id: int, user_id: int, role: Role) -> User:
    """The user, who must belong to the community (NotFound otherwise) and have ``role``."""
    user = session.get(User, user_id)
    if user is None or user.community_id != community_id:
        raise NotFound(f"user {user_id} does not exist, or is not of community {community_id}; "
                       "GET /api/v1/users lists its users")
    if user.role != role:
        raise InvalidRequest(f"user {user.name} has role {user.role}; only a user with role {role.value} can be "
                             "given this")
    return user


def set_manager(session: Session, *, scope: Scope, building_id: int, user_id: int, manages: bool) -> Building:
    """Make the property manager manage the building (or no longer)."""
    roles.require(scope, *WRITERS, doing="choose who manages a building")
    building = visible_building(session, scope=scope, building_id=building_id)
    community_user(session, community_id=building.community_id, user_id=user_id, role=Role.property_manager)
    if manages:
        registry.add_manager(session, building_id=building_id, user_id=user_id)
    else:
        registry.remove_manager(session, building_id=building_id, user_id=user_id)
    return building


def managers(session: Session, *, buildings: list[Building]) -> dict[int, list[User]]:
    return registry.managers_of(session, (b.id for b in buildings))
