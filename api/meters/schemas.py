"""Meter response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.meters.service import HourlyWindow, MeterState, MeterSummary, ReadingWindow
from api.timefmt import local


class LastReading(BaseModel):
    ts: datetime = Field(description="when the meter took the reading")
    total_l: float = Field(description="register total, litres")


class MeterRead(BaseModel):
    meter_id: str
    state: MeterState = Field(description="from unresolved alerts: offline, else flowing, else inactive, else ok")
    last_reading: LastReading
    last_received_at: datetime = Field(description="when anything last arrived from this meter")
    open_alerts: list[int] = Field(description="ids of the meter's unresolved alerts")

    @classmethod
    def build(cls, meter: MeterSummary, *, tz: ZoneInfo) -> MeterRead:
        return cls(
            meter_id=meter.meter_id,
            state=meter.state,
            last_reading=LastReading(ts=local(meter.last_ts, tz), total_l=meter.last_total_l),
            last_received_at=local(meter.last_received_at, tz),
            open_alerts=meter.open_alerts,
        )


class MeterPage(BaseModel):
    items: list[MeterRead]
    total: int = Field(description="meters that have ever sent a reading")
    limit: int
    offset: int


class ReadingRead(BaseModel):
    ts: datetime = Field(description="when the meter took the reading")
    total_l: float = Field(description="register total, litres")
    received_at: datetime = Field(description="when anxin received it")
    extra: dict[str, Any] | None = Field(description="optional payload fields: battery, signal, alarm flags")


class ReadingList(BaseModel):
    meter_id: str
    start: datetime = Field(description="window start, inclusive")
    end: datetime = Field(description="window end, exclusive")
    items: list[ReadingRead] = Field(description="oldest first")

    @staticmethod
    def values(window: ReadingWindow, *, tz: ZoneInfo) -> dict:
        """The fields of a ``ReadingList`` and of its ``ReadingRead`` items, in their order, as plain values
        (``api.responses``)."""
        return {
            "meter_id": window.meter_id,
            "start": local(window.start, tz),
            "end": local(window.end, tz),
            "items": [
                {"ts": r.ts.astimezone(tz), "total_l": r.total_l, "received_at": r.received_at.astimezone(tz),
                 "extra": r.extra}
                for r in window.items
            ],
        }


class HourRead(BaseModel):
    hour: datetime = Field(description="start of the hour")
    total_l: float = Field(description="register total at the hour's last reading, litres")
    first_l: float = Field(description="register total at the hour's first reading, litres")
    readings: int = Field(description="readings in the hour")


class HourlyList(BaseModel):
    meter_id: str
    start: datetime = Field(description="window start, inclusive")
    end: datetime = Field(description="window end, exclusive")
    items: list[HourRead] = Field(description="hours with readings, oldest first")

    @classmethod
    def build(cls, window: HourlyWindow, *, tz: ZoneInfo) -> HourlyList:
        return cls(
            meter_id=window.meter_id,
            start=local(window.start, tz),
            end=local(window.end, tz),
            items=[HourRead(hour=local(h.hour, tz), total_l=h.total_l, first_l=h.first_l, readings=h.readings)
                   for h in window.items],
        )
