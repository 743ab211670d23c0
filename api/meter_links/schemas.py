"""Meters CSV import report and error bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.meter_links.csvfile import RowError
from api.meter_links.service import ImportReport, LineResult


class LineRead(BaseModel):
    line: int = Field(description="line in the file; 1 is the header")
    meter_id: str
    building: str
    unit: str
    action: str = Field(description="linked (a first meter), replaced (the household's meter was swapped), moved "
                                    "(the meter served another household), unchanged")
    household_id: int | None = Field(description="null only in a dry run, for a household it would create")
    household_created: bool = Field(description="the household did not exist and was created")
    changes: list[str] = Field(description="what changed, in words")

    @classmethod
    def build(cls, result: LineResult) -> LineRead:
        return cls(line=result.line, meter_id=result.meter_id, building=result.building, unit=result.unit,
                   action=result.action, household_id=result.household_id,
                   household_created=result.household_created, changes=result.changes)


class ImportCounts(BaseModel):
    linked: int
    replaced: int
    moved: int
    unchanged: int


class ImportRead(BaseModel):
    dry_run: bool = Field(description="true: nothing was applied; this is what an upload would do")
    counts: ImportCounts
    households_created: int
    lines: list[LineRead]

    @classmethod
    def build(cls, report: ImportReport) -> ImportRead:
        return cls(dry_run=report.dry_run, counts=ImportCounts(**report.counts),
                   households_created=report.households_created, lines=[LineRead.build(r) for r in report.lines])


class RowErrorRead(BaseModel):
    line: int = Field(description="line in the file; 1 is the header")
    column: str | None = Field(description="the column at fault; null for the whole line")
    message: str = Field(description="what to fix")

    @classmethod
    def build(cls, error: RowError) -> RowErrorRead:
        return cls(line=error.line, column=error.column, message=error.message)


class ImportRejected(BaseModel):
    """The file had bad rows: every one is listed, and nothing was applied."""

    detail: str
    errors: list[RowErrorRead]
