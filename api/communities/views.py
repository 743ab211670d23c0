"""Community routes: thin views over ``api.communities.service``."""

from __future__ import annotations

from fastapi import APIRouter

from api.communities import service
from api.communities.schemas import CommunityCreate, CommunityPage, CommunityPatch, CommunityRead
from api.deps import NowDep, PageDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import Id

router = APIRouter(prefix="/communities", tags=["registry"])


@router.get("", response_model=CommunityPage, summary="Your community (every community for admins)")
def list_communities(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep) -> CommunityPage:
    items, total = service.list_communities(session, scope=scope, limit=page.limit, offset=page.offset)
    return CommunityPage(items=[CommunityRead.build(c, tz=tz) for c in items], total=total, limit=page.limit,
                         offset=page.offset)


@router.post("", response_model=CommunityRead, status_code=201, responses=responses(403),
             summary="Create a community (admins)")
def create_community(body: CommunityCreate, session: SessionDep, scope: ScopeDep, now: NowDep,
                     tz: TimezoneDep) -> CommunityRead:
    community = service.create_community(session, scope=scope, name=body.name.strip(),
                                         cadres_see_all=body.cadres_see_all, now=now)
    return CommunityRead.build(community, tz=tz)


@router.get("/{community_id}", response_model=CommunityRead, responses=responses(404), summary="One community")
def get_community(community_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep) -> CommunityRead:
    return CommunityRead.build(service.get_community(session, scope=scope, community_id=community_id), tz=tz)


@router.patch("/{community_id}", response_model=CommunityRead, responses=responses(403, 404),
              summary="Rename a community, or let its cadres see all its households (admins, its secretary)")
def update_community(community_id: Id, body: CommunityPatch, session: SessionDep, scope: ScopeDep,
                     tz: TimezoneDep) -> CommunityRead:
    community = service.update_community(session, scope=scope, community_id=community_id,
                                         name=body.name.strip() if body.name else None,
                                         cadres_see_all=body.cadres_see_all)
    return CommunityRead.build(community, tz=tz)
