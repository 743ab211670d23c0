"""Which dead letters each user may read: admins all, secretaries and property managers those of their meters."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from store.dead_letters import list_dead_letters
from store.models import DeadLetter, Role


def list_letters(session: Session, *, scope: Scope, meter_id: str | None = None, limit: int = 100,
                 offset: int = 0) -> tuple[list[DeadLetter], int]:
    """The dead letters of the meters the user may see (every one for admins), newest first."""
    roles.require(scope, Role.admin, Role.secretary, Role.property_manager,
                  doing="read dead letters (raw payloads the ingester refused)")
    # A letter that names no meter cannot be placed in a community: only admins see it.
    visible = None if scope.role == Role.admin else scope.meter_visible(DeadLetter.meter_id)
    return list_dead_letters(session, meter_id=meter_id, visible=visible, limit=limit, offset=offset)
