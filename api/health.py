"""``GET /health``: no token; ok when the database and the readings store both answer."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import DatabaseDep, ReadingsDep
from api.errors import responses
from store.db import Database
from store.errors import StoreUnavailable
from store.readings import ReadingsStore

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


def check(*, db: Database, readings: ReadingsStore) -> None:
    """Raise StoreUnavailable unless the database and the readings store both answer.

    The messages name the setting to check but not the error itself: this route needs no token.
    """
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health: the database does not answer: %s", exc)
        raise StoreUnavailable("the database does not answer; check ANXIN_DATABASE_URL and that it is up") from exc
    try:
        readings.latest(meter_ids=[])  # a real query that returns no rows, however many meters there are
    except StoreUnavailable as exc:
        log.warning("health: the readings store does not answer: %s", exc)
        raise StoreUnavailable("the readings store does not answer; check ANXIN_READINGS_URL") from exc


@router.get("/health", response_model=Health, responses=responses(503), summary="Liveness of the stores")
def health(db: DatabaseDep, readings: ReadingsDep) -> Health:
    check(db=db, readings=readings)
    return Health()
