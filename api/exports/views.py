"""Export routes: CSV files for analysts, thin views over ``api.exports.service``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator

from api.deps import NowDep, ReadingsDep, ScopeDep, SessionDep, SettingsDep, TimezoneDep
from api.errors import responses
from api.exports import service
from api.meters.views import End, Start
from api.timefmt import require_offset

router = APIRouter(prefix="/exports", tags=["exports"])

_CSV = {200: {"content": {"text/csv": {}}, "description": "CSV with a header row"}}


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/outcomes.csv", response_class=Response, responses={**_CSV, **responses(403)},
            summary="Alerts people resolved, with their outcome: labels for analysts, by pseudonym")
def outcomes(
    session: SessionDep, scope: ScopeDep, settings: SettingsDep, now: NowDep, tz: TimezoneDep,
    start: Annotated[datetime | None, AfterValidator(require_offset),
                     Query(description="raised at or after, with a UTC offset; default: end - 365 days")] = None,
    end: End = None,
) -> Response:
    end = end or now
    start = start or end - timedelta(days=365)
    text = service.outcomes_csv(session, scope=scope, key=settings.pseudonym_key, start=start, end=end, tz=tz)
    return _csv(text, "outcomes.csv")


@router.get("/readings.csv", response_class=Response, responses={**_CSV, **responses(403)},
            summary="Readings of your meters in a window of at most 31 days, by pseudonym, in the readings-CSV format")
def readings(
    session: SessionDep, scope: ScopeDep, settings: SettingsDep, store: ReadingsDep, now: NowDep,
    start: Start = None, end: End = None,
) -> Response:
    end = end or now
    start = start or end - timedelta(days=7)
    text = service.readings_csv(session, scope=scope, readings=store, key=settings.pseudonym_key, start=start,
                                end=end, timezone=settings.timezone)
    return _csv(text, "readings.csv")
