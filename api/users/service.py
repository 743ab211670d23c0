"""Users as each user may see and create them; plain functions that know nothing of HTTP.

Admins create anyone. A secretary creates cadres, property managers and analysts of her own
community, and gives them new tokens. Everyone may give herself a new token.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.errors import InvalidRequest, PermissionDenied
from store import users as store
from store.errors import NotFound
from store.models import Community, Role, User

SECRETARY_CREATES = (Role.cadre, Role.property_manager, Role.analyst)


def community_problem(role: Role, community_id: int | None) -> str | None:
    """Why ``role`` cannot have ``community_id``, or None: everyone belongs to one community, except
    admins (to none) and analysts (to one, or none for every community)."""
    if role == Role.admin and community_id is not None:
        return "an admin belongs to no community: leave community_id out"
    if role not in (Role.admin, Role.analyst) and community_id is None:
        return f"a {role.value} belongs to a community: give community_id (GET /api/v1/communities lists them)"
    return None


def list_users(session: Session, *, scope: Scope, community_id: int | None = None, role: Role | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[User], int]:
    """The users of the secretary's community (every user for admins), by name."""
    roles.require(scope, Role.admin, Role.secretary, doing="list users")
    query = select(User)
    if scope.role != Role.admin:
        query = query.where(User.community_id == scope.community_id)
    if community_id is not None:
        query = query.where(User.community_id == community_id)
    if role is not None:
        query = query.where(User.role == role)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(User.name).limit(limit).offset(offset))), total


def create_user(
    session: Session,
    *,
    scope: Scope,
    name: str,
    role: Role,
    community_id: int | None,
    password: str | None,
    phone: str | None,
    now: datetime,
) -> tuple[User, str]:
    """A new user and her token, which is shown once."""
    roles.require(scope, Role.admin, Role.secretary, doing="create users")
    if scope.role == Role.secretary:
        if role not in SECRETARY_CREATES:
            raise PermissionDenied(f"a secretary creates users with role {', '.join(r.value for r in SECRETARY_CREATES)}"
                                   f"; ask an admin for a {role.value}")
        if community_id is not None and community_id != scope.community_id:
            raise NotFound(f"community {community_id} does not exist, or is not yours; leave community_id out")
        community_id = scope.community_id
    problem = community_problem(role, community_id)
    if problem:
        raise InvalidRequest(problem)
    if community_id is not None and session.get(Community, community_id) is None:
        raise NotFound(f"community {community_id} does not exist; GET /api/v1/communities lists them")
    try:
        return store.create_user(session, name=name, role=role, now=now, community_id=community_id,
                                 password=password, phone=phone)
    except store.UserExists as exc:
        raise InvalidRequest(f"{exc}; pick another name") from exc


def new_token(session: Session, *, scope: Scope, user_id: int) -> tuple[User, str]:
    """A new token for the user (the old one stops working): for herself, or one a secretary or admin runs."""
    user = session.get(User, user_id)
    if user is not None and user.id == scope.user.id:
        return user, store.new_token(session, user)
    if user is None or (scope.role != Role.admin and user.community_id != scope.community_id):
        raise NotFound(f"user {user_id} does not exist, or is not of your community; GET /api/v1/users lists them")
    if scope.role == Role.admin or (scope.role == Role.secretary and Role(user.role) in SECRETARY_CREATES):
        return user, store.new_token(session, user)
    raise PermissionDenied(f"{scope.user.name} may not give {user.name} a new token; ask the community's secretary "
                           "or an admin")
