"""Dead-letter routes: newest first, optionally for one meter."""

from __future__ import annotations

from fastapi import APIRouter

from api.dead_letters.schemas import DeadLetterPage, DeadLetterRead
from api.deps import PageDep, SessionDep, TimezoneDep
from store.dead_letters import list_dead_letters

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterPage, summary="Payloads the ingester refused, newest first")
def list_letters(session: SessionDep, tz: TimezoneDep, page: PageDep, meter_id: str | None = None) -> DeadLetterPage:
    letters, total = list_dead_letters(session, meter_id=meter_id, limit=page.limit, offset=page.offset)
    return DeadLetterPage(
        items=[DeadLetterRead.build(d, tz=tz) for d in letters], total=total, limit=page.limit, offset=page.offset
    )
