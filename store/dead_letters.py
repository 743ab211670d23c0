"""Dead letters: payloads the ingester refused, kept raw with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.orm import Session

from store.models import DeadLetter


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload, or one item of a batch payload, was refused."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    meter_id: str | None = None
    item_index: int | None = None


def add_dead_letters(session: Session, rejections: Sequence[Rejection]) -> None:
    if rejections:
        session.execute(
            insert(DeadLetter),
            [
                {
                    "received_at": r.received_at,
                    "topic": r.topic,
                    "payload": r.payload,
                    "reason": r.reason,
                    "meter_id": r.meter_id,
                    "item_index": r.item_index,
                }
                for r in rejections
            ],
        )


def list_dead_letters(
    session: Session,
    *,
    meter_id: str | None = None,
    visible: ColumnElement[bool] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DeadLetter], int]:
    """Dead letters (those matching ``visible``, a condition on ``DeadLetter``), newest first, and how
    many there are in all."""
    query = select(DeadLetter)
    if visible is not None:
        query = query.where(visible)
    if meter_id:
        query = query.where(DeadLetter.meter_id == meter_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit).offset(offset))
    return list(items), total
