"""Import and export of meters and their households; plain functions that know nothing of HTTP.

An import is all-or-nothing: every row is checked first, and one bad row means nothing is applied;
the error lists every bad row. Property managers import for their own buildings, secretaries for
their community, admins for the community they name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.buildings.service import target_community
from api.errors import InvalidRequest
from api.households.service import meter_id_problem
from api.meter_links import csvfile
from api.meter_links.csvfile import RowError
from store import links, registry
from store.errors import NotFound
from store.models import Building, Community, Household, MeterLink, Role

MANAGERS = (Role.admin, Role.secretary, Role.property_manager)
ACTIONS = ("linked", "replaced", "moved", "unchanged")


class CsvRejected(InvalidRequest):
    """The file has bad rows; nothing was applied. ``errors`` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column or ""))
        lines = sorted({e.line for e in self.errors})
        super().__init__(f"{len(lines)} line(s) of the file are wrong ({', '.join(map(str, lines[:20]))}"
                         f"{', ...' if len(lines) > 20 else ''}); nothing was applied. Fix every line listed in "
                         "errors and upload the whole file again")


@dataclass(frozen=True, slots=True)
class LineResult:
    line: int
    meter_id: str
    building: str
    unit: str
    action: str  # one of ACTIONS
    household_id: int | None  # None only in a dry run that would create the household
    household_created: bool
    changes: list[str]


@dataclass(frozen=True, slots=True)
class ImportReport:
    dry_run: bool
    counts: dict[str, int]
    households_created: int
    lines: list[LineResult] = field(default_factory=list)


def _community(session: Session, scope: Scope, community_id: int | None) -> int:
    community_id = target_community(scope, community_id)
    if session.get(Community, community_id) is None:
        raise NotFound(f"community {community_id} does not exist; GET /api/v1/communities lists them")
    return community_id


def _check_rows(session: Session, scope: Scope, rows: list[csvfile.Row], community_id: int, now: datetime
                ) -> list[RowError]:
    """Every problem of every row, against the registry as it is now."""
    buildings = registry.buildings_by_name(session, community_id)
    mine = set(registry.managed_buildings(session, scope.user.id)) if scope.role == Role.property_manager else None
    errors: list[RowError] = []
    meters_seen: dict[str, int] = {}
    units_seen: dict[tuple[str, str], int] = {}
    for row in rows:
        problems: list[RowError] = []
        if (problem := meter_id_problem(row.meter_id)) is not None:
            problems.append(RowError(row.line, "meter_id", problem))
        if (first := meters_seen.setdefault(row.meter_id, row.line)) != row.line:
            problems.append(RowError(row.line, "meter_id", f"meter {row.meter_id} is also on line {first}; a meter "
                                                           "serves one household: keep one of the lines"))
        if (first := units_seen.setdefault((row.building, row.unit), row.line)) != row.line:
            problems.append(RowError(row.line, "unit", f"{row.building} {row.unit} is also on line {first}; a "
                                                       "household has one meter: keep one of the lines"))
        building = buildings.get(row.building)
        if building is None:
            problems.append(RowError(row.line, "building", f"there is no building named {row.building!r} in the "
                                     "community; check the name (GET /api/v1/buildings) or ask the secretary to add it"))
        elif mine is not None and building.id not in mine:
            problems.append(RowError(row.line, "building", f"building {row.building!r} is not one you manage; ask "
                                                           "the community's secretary to make you its manager"))
        if len(row.unit) > 50:
            problems.append(RowError(row.line, "unit", "unit is longer than 50 characters; shorten it"))
        if row.linked_at is not None and row.linked_at > now:
            problems.append(RowError(row.line, "linked_at", f"{row.linked_at.isoformat()} is in the future; give a "
                                                            "time up to now, or leave it empty for now"))
        if not problems:
            problems = _check_links(session, scope, row, building, now)
        errors.extend(problems)
    return errors


def _check_links(session: Session, scope: Scope, row: csvfile.Row, building: Building, now: datetime
                 ) -> list[RowError]:
    household = registry.household_by_unit(session, building_id=building.id, unit=row.unit)
    serving = session.scalar(select(MeterLink).where(MeterLink.meter_id == row.meter_id,
                                                     MeterLink.unlinked_at.is_(None)))
    if household is not None and serving is not None and serving.household_id == household.id:
        return []  # unchanged, whatever linked_at says
    at = row.linked_at or now
    problems = []
    if serving is not None and scope.households is not None and session.scalar(
            select(Household.id).where(Household.id == serving.household_id,
                                       Household.id.in_(scope.households))) is None:
        problems.append(RowError(row.line, "meter_id", f"meter {row.meter_id} serves a household outside yours; "
                                 "check the id, or ask an admin to unlink it there first"))
    current = links.current_meter(session, household.id) if household is not None else None
    for link in (serving, current):
        if link is not None and at <= link.linked_at:
            problems.append(RowError(row.line, "linked_at", f"meter {link.meter_id} was linked at "
                                     f"{link.linked_at.isoformat()}; a change must come after that: give a later "
                                     "linked_at"))
    return problems


def import_csv(
    session: Session, *, scope: Scope, data: bytes, community_id: int | None, dry_run: bool, now: datetime
) -> ImportReport:
    """Check every row, then link each meter to its household (created if missing), all or nothing.

    With ``dry_run`` the changes are made, reported and rolled back, so the report is exactly what
    an upload would do. Raises CsvRejected, listing every bad row, if any row is bad.
    """
    roles.require(scope, *MANAGERS, doing="import meters")
    community_id = _community(session, scope, community_id)
    rows, errors = csvfile.parse(data)
    if not rows and not errors:
        errors = [RowError(1, None, f"the file has no rows; give the header {','.join(csvfile.COLUMNS)} and a row "
                                    "per meter")]
    errors += _check_rows(session, scope, rows, community_id, now)
    if errors:
        raise CsvRejected(errors)
    buildings = registry.buildings_by_name(session, community_id)
    results = []
    for row in rows:
        building = buildings[row.building]
        household = registry.household_by_unit(session, building_id=building.id, unit=row.unit)
        created = household is None
        if created:
            household = registry.create_household(session, building_id=building.id, unit=row.unit, now=now)
        serving = links.current_households(session, [row.meter_id]).get(row.meter_id)
        current = links.current_meter(session, household.id)
        action = ("unchanged" if serving == household.id else "moved" if serving is not None
                  else "replaced" if current is not None else "linked")
        try:
            changes = links.link_meter(session, meter_id=row.meter_id, household_id=household.id,
                                       at=row.linked_at or now)
        except links.InvalidLink as exc:
            errors.append(RowError(row.line, "linked_at", f"{exc}; give a later linked_at"))
            continue
        results.append(LineResult(row.line, row.meter_id, row.building, row.unit, action,
                                  None if dry_run and created else household.id, created, changes))
    if errors:
        session.rollback()  # nothing of the file is kept, though the view answers without raising
        raise CsvRejected(errors)
    counts = Counter(r.action for r in results)
    report = ImportReport(dry_run=dry_run, counts={a: counts.get(a, 0) for a in ACTIONS},
                          households_created=sum(r.household_created for r in results), lines=results)
    if dry_run:
        session.rollback()  # the report is built from plain values, so nothing refers to what is undone
    return report


def export_csv(
    session: Session, *, scope: Scope, community_id: int | None, history: bool, tz: ZoneInfo
) -> str:
    """The meters of the user's households (her buildings, for a property manager) as CSV: the
    current links, or with ``history`` every link ever made, by building, unit and time."""
    roles.require(scope, *MANAGERS, doing="export meters")
    community_id = _community(session, scope, community_id)
    query = (select(MeterLink, Building.name, Household.unit)
             .join(Household, Household.id == MeterLink.household_id)
             .join(Building, Building.id == Household.building_id)
             .where(Building.community_id == community_id, scope.household_visible(Household.id)))
    if not history:
        query = query.where(MeterLink.unlinked_at.is_(None))
    query = query.order_by(Building.name, Household.unit, MeterLink.linked_at, MeterLink.id)
    rows = []
    for link, building, unit in session.execute(query).all():
        row = (link.meter_id, building, unit, link.linked_at.astimezone(tz))
        rows.append((*row, link.unlinked_at.astimezone(tz) if link.unlinked_at else None) if history else row)
    return csvfile.write(rows, history=history)
