"""Meters CSV routes: upload the file as the request body (text/csv), download the same columns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse

from api.deps import NowDep, ScopeDep, SessionDep, TimezoneDep
from api.errors import responses
from api.paths import IdField
from api.meter_links import service
from api.meter_links.csvfile import COLUMNS
from api.meter_links.schemas import ImportRead, ImportRejected, RowErrorRead

router = APIRouter(prefix="/meter-links", tags=["registry"])

MAX_CSV_BYTES = 5 * 1024 * 1024  # some 100,000 rows
CommunityParam = Annotated[IdField | None, Query(description="admins: the community; others: their own (leave it out)")]


@router.post(
    "/import",
    response_model=ImportRead,
    responses={**responses(403, 404), 413: {"model": ImportRejected, "description": "The file is too large"},
               422: {"model": ImportRejected, "description": "Bad rows, every one listed; nothing was applied"}},
    summary="Link meters to households from a CSV (meter_id,building,unit[,linked_at]); all or nothing",
)
def import_meters(
    session: SessionDep,
    scope: ScopeDep,
    now: NowDep,
    body: Annotated[bytes, Body(media_type="text/csv", description=f"CSV UTF-8 with the header {','.join(COLUMNS)}"
                                " (linked_at optional)")],
    dry_run: Annotated[bool, Query(description="check and report what would change, applying nothing")] = False,
    community_id: CommunityParam = None,
) -> ImportRead | JSONResponse:
    if len(body) > MAX_CSV_BYTES:
        return JSONResponse({"detail": f"the file has {len(body)} bytes; upload at most {MAX_CSV_BYTES} at a time, "
                                       "splitting it by building", "errors": []}, status_code=413)
    try:
        report = service.import_csv(session, scope=scope, data=body, community_id=community_id, dry_run=dry_run,
                                    now=now)
    except service.CsvRejected as exc:
        rejected = ImportRejected(detail=str(exc), errors=[RowErrorRead.build(e) for e in exc.errors])
        return JSONResponse(rejected.model_dump(), status_code=422)
    return ImportRead.build(report)


@router.get(
    "/export",
    response_class=Response,
    responses={**responses(403, 404),
               200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                     "description": "meter_id,building,unit,linked_at (and unlinked_at with history)"}},
    summary="The meters of your households as CSV, in the import's columns",
)
def export_meters(
    session: SessionDep,
    scope: ScopeDep,
    tz: TimezoneDep,
    history: Annotated[bool, Query(description="every link ever made, with an unlinked_at column")] = False,
    community_id: CommunityParam = None,
) -> Response:
    text = service.export_csv(session, scope=scope, community_id=community_id, history=history, tz=tz)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="meters.csv"'})
