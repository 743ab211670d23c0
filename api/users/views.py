"""User routes: thin views over ``api.users.service``."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import NowDep, PageDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import Id, IdField
from api.users import service
from api.users.schemas import Me, TokenRead, UserCreate, UserPage, UserRead
from store.models import Community, Role

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=Me, summary="Who you are: your name, role and community")
def me(session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> Me:
    user = scope.user
    community = session.get(Community, user.community_id) if user.community_id is not None else None
    return Me(**UserRead.build(user, tz=tz).model_dump(), community=community.name if community else None)


@router.get("", response_model=UserPage, responses=responses(403),
            summary="Users of your community (every user for admins), by name")
def list_users(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep,
               community_id: IdField | None = Query(None, description="only this community's"),
               role: Role | None = Query(None, description="only users with this role")) -> UserPage:
    items, total = service.list_users(session, scope=scope, community_id=community_id, role=role, limit=page.limit,
                                      offset=page.offset)
    return UserPage(items=[UserRead.build(u, tz=tz) for u in items], total=total, limit=page.limit,
                    offset=page.offset)


@router.post("", response_model=TokenRead, status_code=201, responses=responses(403, 404),
             summary="Create a user; the response carries her token, shown once")
def create_user(body: UserCreate, session: SessionDep, scope: ScopeDep, now: NowDep, tz: TimezoneDep) -> TokenRead:
    user, token = service.create_user(session, scope=scope, name=body.name, role=body.role,
                                      community_id=body.community_id, password=body.password, phone=body.phone,
                                      now=now)
    return TokenRead(user=UserRead.build(user, tz=tz), token=token)


@router.post("/{user_id}/token", response_model=TokenRead, responses=responses(403, 404),
             summary="Give a user a new token (the old one stops working); shown once")
def new_token(user_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> TokenRead:
    user, token = service.new_token(session, scope=scope, user_id=user_id)
    return TokenRead(user=UserRead.build(user, tz=tz), token=token)
