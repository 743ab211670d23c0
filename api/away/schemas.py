"""Away window request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from api.timefmt import local
from store.models import AwayWindow

MAX_NOTE = 500


def _date_if_only_a_date(value: object) -> object:
    """'2026-11-23' is a day; pydantic alone would read it as a naive midnight."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


def _aware(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("give the time with its UTC offset, e.g. 2026-11-22T08:00:00+08:00, or just a date")
    return value


DateOrTime = Annotated[datetime | date, BeforeValidator(_date_if_only_a_date), AfterValidator(_aware)]


class AwayCreate(BaseModel):
    start: DateOrTime = Field(description="a date (from the start of that day) or a time with its UTC offset")
    end: DateOrTime = Field(
        description="a date (she is due back the next morning: the day is included) or a time with its UTC offset"
    )
    note: str | None = Field(None, max_length=MAX_NOTE, description="e.g. at her daughter's; seen by her cadres")


class AwayRead(BaseModel):
    id: int
    household_id: int
    starts_at: datetime
    ends_at: datetime = Field(description="exclusive: inactivity is measured again from here")
    note: str | None
    created_at: datetime

    @classmethod
    def build(cls, window: AwayWindow, *, tz: ZoneInfo) -> AwayRead:
        return cls(id=window.id, household_id=window.household_id, starts_at=local(window.starts_at, tz),
                   ends_at=local(window.ends_at, tz), note=window.note, created_at=local(window.created_at, tz))


class AwayList(BaseModel):
    items: list[AwayRead]
