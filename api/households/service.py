"""Households as each user may see and change them; plain functions that know nothing of HTTP.

Admins, secretaries, cadres and property managers read the households of their slice
(``api.access``); only admins and secretaries change them, and property managers link meters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.buildings.service import community_user, visible_building
from api.errors import InvalidRequest
from api.meters.service import DEFAULT_HOURLY_WINDOW, MAX_HOURLY_WINDOW, window
from ingest.payload import METER_ID_PATTERN
from store import links, registry
from store.models import Alert, AlertStatus, Building, Household, MeterLink, Resident, Role, User
from store.readings import ReadingsStore
from store.times import from_ms, to_ms

READERS = (Role.admin, Role.secretary, Role.cadre, Role.property_manager)
WRITERS = (Role.admin, Role.secretary)
LINKERS = (Role.admin, Role.secretary, Role.property_manager)
_METER_ID = re.compile(METER_ID_PATTERN)


def meter_id_problem(meter_id: str) -> str | None:
    """Why ``meter_id`` breaks the MQTT contract's meter id rule, or None if it follows it."""
    if _METER_ID.fullmatch(meter_id):
        return None
    return (f"meter id {meter_id!r} is not valid: 1 to 64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit (the id in the meter's MQTT topic)")


@dataclass(frozen=True, slots=True)
class HouseholdSummary:
    household: Household
    building: Building
    meter: MeterLink | None  # the meter serving it now


@dataclass(frozen=True, slots=True)
class HouseholdStatus:
    household: Household
    building: Building
    links: list[MeterLink]  # every meter that served it, oldest first
    residents: list[Resident] | None  # None: the user may not see personal data
    cadres: list[User]
    open_alerts: int


def _summaries(session: Session, rows) -> list[HouseholdSummary]:
    rows = list(rows)
    ids = [h.id for h, _ in rows]
    current = {link.household_id: link for link in session.scalars(
        select(MeterLink).where(MeterLink.household_id.in_(ids), MeterLink.unlinked_at.is_(None)))} if ids else {}
    return [HouseholdSummary(h, b, current.get(h.id)) for h, b in rows]


def list_households(
    session: Session, *, scope: Scope, building_id: int | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[HouseholdSummary], int]:
    """The households the user may see, by building and unit."""
    roles.require(scope, *READERS, doing="list households")
    query = select(Household, Building).join(Building, Building.id == Household.building_id) \
        .where(scope.household_visible(Household.id))
    if building_id is not None:
        query = query.where(Household.building_id == building_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Building.name, Household.unit, Household.id).limit(limit).offset(offset))
    return _summaries(session, rows), total


def visible_household(session: Session, *, scope: Scope, household_id: int, readers=READERS) -> Household:
    """The household, if the user's role may read households and she may see this one; else 403 or 404."""
    roles.require(scope, *readers, doing="read households")
    scope.ensure_household(session, household_id)
    return session.get(Household, household_id)


def status(session: Session, *, scope: Scope, household_id: int) -> HouseholdStatus:
    """What a cadre needs to know of a household: its meters over time, residents, cadres, open alerts."""
    household = visible_household(session, scope=scope, household_id=household_id)
    open_alerts = session.scalar(select(func.count(Alert.id)).where(
        Alert.household_id == household_id, Alert.status != AlertStatus.resolved)) or 0
    return HouseholdStatus(
        household=household,
        building=session.get(Building, household.building_id),
        links=links.links_of_household(session, household_id),
        residents=registry.residents_of(session, household_id) if scope.personal_data else None,
        cadres=registry.cadres_of(session, [household_id])[household_id],
        open_alerts=open_alerts,
    )


def create_household(session: Session, *, scope: Scope, building_id: int, unit: str, now: datetime) -> Household:
    roles.require(scope, *WRITERS, doing="create households")
    building = visible_building(session, scope=scope, building_id=building_id)
    try:
        return registry.create_household(session, building_id=building.id, unit=unit, now=now)
    except registry.NameTaken as exc:
        raise InvalidRequest(str(exc)) from exc


def update_household(session: Session, *, scope: Scope, household_id: int, unit: str | None) -> Household:
    roles.require(scope, *WRITERS, doing="change households")
    household = visible_household(session, scope=scope, household_id=household_id)
    try:
        return registry.update_household(session, household, unit=unit)
    except registry.NameTaken as exc:
        raise InvalidRequest(str(exc)) from exc


def set_cadre(session: Session, *, scope: Scope, household_id: int, user_id: int, assigned: bool) -> None:
    """Make a cadre of the household's community look after it (or no longer)."""
    roles.require(scope, *WRITERS, doing="choose who looks after a household")
    household = visible_household(session, scope=scope, household_id=household_id)
    building = session.get(Building, household.building_id)
    community_user(session, community_id=building.community_id, user_id=user_id, role=Role.cadre)
    if assigned:
        registry.assign_cadre(session, household_id=household_id, user_id=user_id)
    else:
        registry.unassign_cadre(session, household_id=household_id, user_id=user_id)


def ensure_meter_is_ours(session: Session, *, scope: Scope, meter_id: str) -> None:
    """InvalidRequest if the meter serves a household the user may not see: she cannot take it from there."""
    serving = links.current_households(session, [meter_id]).get(meter_id)
    if serving is None or scope.households is None:
        return
    if session.scalar(select(Household.id).where(Household.id == serving, Household.id.in_(scope.households))) is None:
        raise InvalidRequest(f"meter {meter_id} serves a household outside yours; check the id, or ask an admin to "
                             "unlink it there first")


def link_meter(
    session: Session, *, scope: Scope, household_id: int, meter_id: str, at: datetime | None, now: datetime
) -> list[str]:
    """Make the meter serve the household from ``at`` (default now): a first link, a replacement or a
    move; returns what changed, in words."""
    roles.require(scope, *LINKERS, doing="link meters to households")
    visible_household(session, scope=scope, household_id=household_id)
    problem = meter_id_problem(meter_id)
    if problem:
        raise InvalidRequest(problem)
    at = now if at is None else at
    if at > now:
        raise InvalidRequest(f"the link time {at.isoformat()} is in the future; give a time up to now")
    ensure_meter_is_ours(session, scope=scope, meter_id=meter_id)
    try:
        return links.link_meter(session, meter_id=meter_id, household_id=household_id, at=at)
    except links.InvalidLink as exc:
        raise InvalidRequest(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class HourRecord:
    hour: datetime
    meter_id: str
    total_l: float
    first_l: float
    readings: int


@dataclass(frozen=True, slots=True)
class HouseholdHours:
    household_id: int
    start: datetime
    end: datetime
    items: list[HourRecord]


def read_hourly(
    session: Session,
    *,
    scope: Scope,
    readings: ReadingsStore,
    household_id: int,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> HouseholdHours:
    """The household's hourly series across every meter that served it, each meter's hours only while
    it served the household: its history runs on across a meter's replacement."""
    visible_household(session, scope=scope, household_id=household_id)
    start, end = window(start, end, now, DEFAULT_HOURLY_WINDOW, MAX_HOURLY_WINDOW)
    items: list[HourRecord] = []
    for link in links.links_of_household(session, household_id):
        # An hour belongs to the meter that served the household when the hour began.
        lo, hi = max(start, link.linked_at), min(end, link.unlinked_at or end)
        if lo >= hi:
            continue
        frame = readings.read_hourly(meter_ids=[link.meter_id], start_ms=to_ms(lo), end_ms=to_ms(hi))
        items.extend(
            HourRecord(hour=from_ms(int(h)), meter_id=link.meter_id, total_l=float(t), first_l=float(f),
                       readings=int(n))
            for h, t, f, n in frame[["hour_ms", "total_l", "first_l", "n"]].itertuples(index=False, name=None)
        )
    items.sort(key=lambda r: r.hour)
    return HouseholdHours(household_id=household_id, start=start, end=end, items=items)
