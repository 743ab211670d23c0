"""Residents' personal data: read by admins, the community's secretary and the household's cadres;
written by admins and secretaries; never seen by property managers or analysts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.households.service import visible_household
from store import registry
from store.errors import NotFound
from store.models import Household, Resident, Role

READERS = (Role.admin, Role.secretary, Role.cadre)
WRITERS = (Role.admin, Role.secretary)


def list_residents(session: Session, *, scope: Scope, household_id: int, limit: int = 100, offset: int = 0
                   ) -> tuple[list[Resident], int]:
    visible_household(session, scope=scope, household_id=household_id, readers=READERS)
    query = select(Resident).where(Resident.household_id == household_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Resident.id).limit(limit).offset(offset))), total


def create_resident(session: Session, *, scope: Scope, household_id: int, display_name: str,
                    phones: Sequence[str], notes: str) -> Resident:
    roles.require(scope, *WRITERS, doing="record residents")
    visible_household(session, scope=scope, household_id=household_id, readers=WRITERS)
    return registry.create_resident(session, household_id=household_id, display_name=display_name, phones=phones,
                                    notes=notes)


def _visible_resident(session: Session, scope: Scope, resident_id: int) -> Resident:
    resident = session.scalar(select(Resident).join(Household, Household.id == Resident.household_id)
                              .where(Resident.id == resident_id, scope.household_visible(Household.id)))
    if resident is None:
        raise NotFound(f"resident {resident_id} does not exist, or is not one of yours; "
                       "GET /api/v1/households/{id}/residents lists a household's residents")
    return resident


def update_resident(session: Session, *, scope: Scope, resident_id: int, display_name: str | None,
                    phones: Sequence[str] | None, notes: str | None) -> Resident:
    roles.require(scope, *WRITERS, doing="change residents")
    resident = _visible_resident(session, scope, resident_id)
    return registry.update_resident(session, resident, display_name=display_name, phones=phones, notes=notes)


def delete_resident(session: Session, *, scope: Scope, resident_id: int) -> None:
    roles.require(scope, *WRITERS, doing="remove residents")
    registry.delete_resident(session, _visible_resident(session, scope, resident_id))
