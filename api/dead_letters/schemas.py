"""Dead-letter response bodies."""

from __future__ import annotations

import base64
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.timefmt import local
from store.models import DeadLetter


class DeadLetterRead(BaseModel):
    id: int
    received_at: datetime
    topic: str
    meter_id: str | None = Field(description="null when the payload did not say which meter")
    item_index: int | None = Field(description="position in a batch array, when one item of a batch was refused")
    reason: str = Field(description="why the ingester refused it")
    payload: str = Field(description="the payload as UTF-8 text; bytes that are not UTF-8 show as U+FFFD")
    payload_base64: str = Field(description="the exact payload bytes, base64-encoded")

    @classmethod
    def build(cls, letter: DeadLetter, *, tz: ZoneInfo) -> DeadLetterRead:
        return cls(
            id=letter.id,
            received_at=local(letter.received_at, tz),
            topic=letter.topic,
            meter_id=letter.meter_id,
            item_index=letter.item_index,
            reason=letter.reason,
            payload=letter.payload.decode("utf-8", errors="replace"),
            payload_base64=base64.b64encode(letter.payload).decode("ascii"),
        )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    total: int
    limit: int
    offset: int
