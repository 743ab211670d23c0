"""Household request and response bodies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from api.households.service import HouseholdHours, HouseholdStatus, HouseholdSummary
from api.meters.schemas import HourRead
from api.paths import IdField
from api.timefmt import local
from store.models import MeterLink
from store.registry import split_phones

UNIT = Field(min_length=1, max_length=50, pattern=r"\S", description="the flat within the building, e.g. 2-502")


class MeterLinkRead(BaseModel):
    meter_id: str
    linked_at: datetime = Field(description="from when the meter served the household")
    unlinked_at: datetime | None = Field(description="until when; null while it still does")

    @classmethod
    def build(cls, link: MeterLink, *, tz: ZoneInfo) -> MeterLinkRead:
        return cls(meter_id=link.meter_id, linked_at=local(link.linked_at, tz), unlinked_at=local(link.unlinked_at, tz))


class HouseholdRead(BaseModel):
    id: int
    building_id: int
    building: str = Field(description="the building's name")
    unit: str
    meter: MeterLinkRead | None = Field(description="the meter serving the household now; null if none")

    @classmethod
    def build(cls, summary: HouseholdSummary, *, tz: ZoneInfo) -> HouseholdRead:
        h = summary.household
        return cls(id=h.id, building_id=h.building_id, building=summary.building.name, unit=h.unit,
                   meter=MeterLinkRead.build(summary.meter, tz=tz) if summary.meter else None)


class HouseholdPage(BaseModel):
    items: list[HouseholdRead]
    total: int = Field(description="households you may see, across all pages")
    limit: int
    offset: int


class ResidentRead(BaseModel):
    """The person watched over: only what a cadre needs to reach her."""

    id: int
    household_id: int
    display_name: str
    phones: list[str] = Field(description="her own first, then her family's")
    notes: str

    @classmethod
    def build(cls, resident) -> ResidentRead:
        return cls(id=resident.id, household_id=resident.household_id, display_name=resident.display_name,
                   phones=split_phones(resident.phones), notes=resident.notes)


class CadreRef(BaseModel):
    id: int
    name: str


class HouseholdStatusRead(HouseholdRead):
    meters: list[MeterLinkRead] = Field(description="every meter that has served the household, oldest first")
    residents: list[ResidentRead] | None = Field(
        description="null for users who may not see personal data (property managers)")
    cadres: list[CadreRef] = Field(description="the cadres who look after the household")
    open_alerts: int = Field(description="the household's unresolved alerts")

    @classmethod
    def build_status(cls, status: HouseholdStatus, *, tz: ZoneInfo) -> HouseholdStatusRead:
        h = status.household
        current = next((link for link in status.links if link.unlinked_at is None), None)
        return cls(
            id=h.id, building_id=h.building_id, building=status.building.name, unit=h.unit,
            meter=MeterLinkRead.build(current, tz=tz) if current else None,
            meters=[MeterLinkRead.build(link, tz=tz) for link in status.links],
            residents=None if status.residents is None else [ResidentRead.build(r) for r in status.residents],
            cadres=[CadreRef(id=u.id, name=u.name) for u in status.cadres],
            open_alerts=status.open_alerts,
        )


class HouseholdCreate(BaseModel):
    building_id: IdField
    unit: str = UNIT


class HouseholdPatch(BaseModel):
    unit: str | None = Field(None, min_length=1, max_length=50, pattern=r"\S", description="a new unit")


class MeterLinkBody(BaseModel):
    meter_id: str = Field(min_length=1, max_length=64, description="the meter's id, as in its MQTT topic")
    at: datetime | None = Field(
        None, description="when the meter began serving the household, with a UTC offset; default now. A meter "
        "already serving the household is replaced at this time; a meter serving another is moved")

    @field_validator("at")
    @classmethod
    def _has_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-11-22T13:00:00+08:00")
        return value


class LinkResult(BaseModel):
    changes: list[str] = Field(description="what changed, in words; empty if the meter already served it")
    household: HouseholdStatusRead


class HouseholdHourRead(HourRead):
    """An hour of the meter that served the household then (its totals are that meter's register)."""

    meter_id: str = Field(description="the meter that served the household in this hour")


class HouseholdHourly(BaseModel):
    household_id: int
    start: datetime = Field(description="window start, inclusive")
    end: datetime = Field(description="window end, exclusive")
    items: list[HouseholdHourRead] = Field(
        description="hours with readings, oldest first, across the household's meters")

    @classmethod
    def build(cls, hours: HouseholdHours, *, tz: ZoneInfo) -> HouseholdHourly:
        return cls(household_id=hours.household_id, start=local(hours.start, tz), end=local(hours.end, tz),
                   items=[HouseholdHourRead(hour=local(h.hour, tz), meter_id=h.meter_id, total_l=h.total_l,
                                   first_l=h.first_l, readings=h.readings) for h in hours.items])
