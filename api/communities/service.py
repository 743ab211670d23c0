"""Communities, as each user may see and change them; plain functions that know nothing of HTTP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.errors import InvalidRequest
from store import registry
from store.errors import NotFound
from store.models import Community, Role


def list_communities(session: Session, *, scope: Scope, limit: int = 100, offset: int = 0
                     ) -> tuple[list[Community], int]:
    """The communities the user belongs to (every one for admins), by name."""
    query = select(Community)
    visible = roles.communities(scope)
    if visible is not None:
        query = query.where(Community.id.in_(visible))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Community.name, Community.id).limit(limit).offset(offset))), total


def get_community(session: Session, *, scope: Scope, community_id: int) -> Community:
    query = select(Community).where(Community.id == community_id)
    visible = roles.communities(scope)
    if visible is not None:
        query = query.where(Community.id.in_(visible))
    community = session.scalar(query)
    if community is None:
        raise NotFound(f"community {community_id} does not exist, or is not yours; GET /api/v1/communities lists yours")
    return community


def create_community(session: Session, *, scope: Scope, name: str, cadres_see_all: bool, now: datetime) -> Community:
    roles.require(scope, Role.admin, doing="create communities")
    try:
        return registry.create_community(session, name=name, cadres_see_all=cadres_see_all, now=now)
    except registry.NameTaken as exc:
        raise InvalidRequest(str(exc)) from exc


def update_community(
    session: Session, *, scope: Scope, community_id: int, name: str | None, cadres_see_all: bool | None
) -> Community:
    roles.require(scope, Role.admin, Role.secretary, doing="change a community")
    community = get_community(session, scope=scope, community_id=community_id)
    try:
        return registry.update_community(session, community, name=name, cadres_see_all=cadres_see_all)
    except registry.NameTaken as exc:
        raise InvalidRequest(str(exc)) from exc
