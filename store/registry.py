"""The registry: communities, buildings, households, residents, and who looks after or manages what.

Plain functions over the models; names are unique per parent, and a clash is ``NameTaken``.
Meters are linked to households by ``store.links``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.errors import StoreError
from store.models import Building, BuildingManager, Community, Household, HouseholdCadre, Resident, User


class NameTaken(StoreError, ValueError):
    """A name that must be unique within its parent is taken; the message says what to change."""


def _flush_or(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise NameTaken(message) from exc


def _taken(session: Session, query, message: str) -> None:
    # Checked first so PostgreSQL's transaction is not left aborted; the flush still catches a race.
    if session.scalar(query.limit(1)) is not None:
        raise NameTaken(message)


def create_community(session: Session, *, name: str, now: datetime, cadres_see_all: bool = False) -> Community:
    _taken(session, select(Community.id).where(Community.name == name),
           f"a community named {name!r} already exists; pick another name")
    community = Community(name=name, cadres_see_all=cadres_see_all, created_at=now)
    session.add(community)
    _flush_or(session, f"a community named {name!r} already exists; pick another name")
    return community


def community_by_name(session: Session, name: str) -> Community | None:
    return session.scalar(select(Community).where(Community.name == name))


def update_community(
    session: Session, community: Community, *, name: str | None = None, cadres_see_all: bool | None = None
) -> Community:
    if name is not None and name != community.name:
        _taken(session, select(Community.id).where(Community.name == name),
               f"a community named {name!r} already exists; pick another name")
        community.name = name
    if cadres_see_all is not None:
        community.cadres_see_all = cadres_see_all
    _flush_or(session, f"a community named {name!r} already exists; pick another name")
    return community


def create_building(session: Session, *, community_id: int, name: str) -> Building:
    message = f"community {community_id} already has a building named {name!r}; pick another name"
    _taken(session, select(Building.id).where(Building.community_id == community_id, Building.name == name), message)
    building = Building(community_id=community_id, name=name)
    session.add(building)
    _flush_or(session, message)
    return building


def buildings_by_name(session: Session, community_id: int) -> dict[str, Building]:
    """The community's buildings by name."""
    return {b.name: b for b in session.scalars(select(Building).where(Building.community_id == community_id))}


def create_household(session: Session, *, building_id: int, unit: str, now: datetime) -> Household:
    message = f"building {building_id} already has a household in unit {unit!r}; pick another unit"
    _taken(session, select(Household.id).where(Household.building_id == building_id, Household.unit == unit), message)
    household = Household(building_id=building_id, unit=unit, created_at=now)
    session.add(household)
    _flush_or(session, message)
    return household


def household_by_unit(session: Session, *, building_id: int, unit: str) -> Household | None:
    return session.scalar(select(Household).where(Household.building_id == building_id, Household.unit == unit))


def update_household(session: Session, household: Household, *, unit: str | None = None) -> Household:
    if unit is not None and unit != household.unit:
        message = f"building {household.building_id} already has a household in unit {unit!r}; pick another unit"
        _taken(session, select(Household.id).where(Household.building_id == household.building_id,
                                                   Household.unit == unit), message)
        household.unit = unit
        _flush_or(session, message)
    return household


def join_phones(phones: Iterable[str]) -> str:
    return ",".join(p.strip() for p in phones if p.strip())


def split_phones(phones: str) -> list[str]:
    """The phones stored comma-separated, as a list.

    >>> split_phones("138 0000 0000,021-5555"), split_phones("")
    (['138 0000 0000', '021-5555'], [])
    """
    return [p for p in phones.split(",") if p]


def create_resident(
    session: Session, *, household_id: int, display_name: str, phones: Iterable[str] = (), notes: str = ""
) -> Resident:
    resident = Resident(household_id=household_id, display_name=display_name, phones=join_phones(phones), notes=notes)
    session.add(resident)
    session.flush()
    return resident


def update_resident(
    session: Session,
    resident: Resident,
    *,
    display_name: str | None = None,
    phones: Iterable[str] | None = None,
    notes: str | None = None,
) -> Resident:
    if display_name is not None:
        resident.display_name = display_name
    if phones is not None:
        resident.phones = join_phones(phones)
    if notes is not None:
        resident.notes = notes
    session.flush()
    return resident


def delete_resident(session: Session, resident: Resident) -> None:
    session.delete(resident)
    session.flush()


def residents_of(session: Session, household_id: int) -> list[Resident]:
    return list(session.scalars(select(Resident).where(Resident.household_id == household_id).order_by(Resident.id)))


def assign_cadre(session: Session, *, household_id: int, user_id: int) -> bool:
    """Make the cadre look after the household; False if she already did."""
    if session.get(HouseholdCadre, (household_id, user_id)) is not None:
        return False
    session.add(HouseholdCadre(household_id=household_id, user_id=user_id))
    session.flush()
    return True


def unassign_cadre(session: Session, *, household_id: int, user_id: int) -> bool:
    """The cadre no longer looks after the household; False if she did not."""
    result = session.execute(delete(HouseholdCadre).where(HouseholdCadre.household_id == household_id,
                                                          HouseholdCadre.user_id == user_id))
    return result.rowcount > 0


def cadres_of(session: Session, household_ids: Iterable[int]) -> dict[int, list[User]]:
    """The cadres assigned to each household, by name."""
    ids = sorted(set(household_ids))
    found: dict[int, list[User]] = {i: [] for i in ids}
    if ids:
        query = select(HouseholdCadre.household_id, User).join(User, User.id == HouseholdCadre.user_id) \
            .where(HouseholdCadre.household_id.in_(ids)).order_by(User.name)
        for household_id, user in session.execute(query).all():
            found[household_id].append(user)
    return found


def add_manager(session: Session, *, building_id: int, user_id: int) -> bool:
    """Make the property manager manage the building; False if he already did."""
    if session.get(BuildingManager, (building_id, user_id)) is not None:
        return False
    session.add(BuildingManager(building_id=building_id, user_id=user_id))
    session.flush()
    return True


def remove_manager(session: Session, *, building_id: int, user_id: int) -> bool:
    result = session.execute(delete(BuildingManager).where(BuildingManager.building_id == building_id,
                                                           BuildingManager.user_id == user_id))
    return result.rowcount > 0


def managers_of(session: Session, building_ids: Iterable[int]) -> dict[int, list[User]]:
    """The property managers of each building, by name."""
    ids = sorted(set(building_ids))
    found: dict[int, list[User]] = {i: [] for i in ids}
    if ids:
        query = select(BuildingManager.building_id, User).join(User, User.id == BuildingManager.user_id) \
            .where(BuildingManager.building_id.in_(ids)).order_by(User.name)
        for building_id, user in session.execute(query).all():
            found[building_id].append(user)
    return found


def managed_buildings(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(select(BuildingManager.building_id).where(BuildingManager.user_id == user_id)))
