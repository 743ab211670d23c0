"""Dead-letter routes: newest first, optionally for one meter."""

from __future__ import annotations

from fastapi import APIRouter

from api.dead_letters import service
from api.dead_letters.schemas import DeadLetterPage, DeadLetterRead
from api.deps import PageDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterPage, responses=responses(403),
            summary="Payloads the ingester refused from the meters you may see, newest first")
def list_letters(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep,
                 meter_id: str | None = None) -> DeadLetterPage:
    letters, total = service.list_letters(session, scope=scope, meter_id=meter_id, limit=page.limit,
                                          offset=page.offset)
    return DeadLetterPage(
        items=[DeadLetterRead.build(d, tz=tz) for d in letters], total=total, limit=page.limit, offset=page.offset
    )
