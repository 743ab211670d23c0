"""The meters CSV's columns, parsed and written; no database here.

Columns ``meter_id,building,unit,linked_at`` (``linked_at`` optional on import); an export with
history adds ``unlinked_at``. Times are ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

COLUMNS = ("meter_id", "building", "unit", "linked_at")
REQUIRED = ("meter_id", "building", "unit")
HISTORY_COLUMNS = (*COLUMNS, "unlinked_at")


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 1 is the header
    column: str | None  # None: the whole row
    message: str  # what to fix


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    meter_id: str
    building: str
    unit: str
    linked_at: datetime | None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset; ValueError with what to write otherwise.

    >>> parse_time("2026-11-22T13:00:00+08:00").isoformat()
    '2026-11-22T13:00:00+08:00'
    """
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time; write it as ISO 8601, e.g. 2026-11-22T13:00:00+08:00") from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. 2026-11-22T13:00:00+08:00")
    return when


def parse(data: bytes) -> tuple[list[Row], list[RowError]]:
    """Every row of the file, and every problem of form found in it (line, column, what to fix).

    >>> rows, errors = parse(b"meter_id,building,unit\\nm-1,3\\xe5\\x8f\\xb7\\xe6\\xa5\\xbc,2-502\\nm-2,,1\\n")
    >>> [(r.line, r.meter_id, r.building, r.unit) for r in rows], [(e.line, e.column) for e in errors]
    ([(2, 'm-1', '3号楼', '2-502')], [(3, 'building')])
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowError(1, None, f"the file is not UTF-8 (byte {exc.start}); save it as CSV UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        return [], [RowError(1, None, f"the header must name the columns {','.join(COLUMNS)} (linked_at optional), "
                                      f"each once; got {','.join(header) or 'nothing'}")]
    rows, errors = [], []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank lines, as spreadsheets leave them
        if len(values) != len(header):
            errors.append(RowError(line, None, f"has {len(values)} fields; the header has {len(header)}"))
            continue
        cells = {h: v.strip() for h, v in zip(header, values, strict=True)}
        bad = [RowError(line, c, f"{c} is empty; fill it in") for c in REQUIRED if not cells[c]]
        linked_at = None
        if cells.get("linked_at"):
            try:
                linked_at = parse_time(cells["linked_at"])
            except ValueError as exc:
                bad.append(RowError(line, "linked_at", str(exc)))
        if bad:
            errors.extend(bad)
            continue
        rows.append(Row(line, cells["meter_id"], cells["building"], cells["unit"], linked_at))
    return rows, errors


def write(rows: list[tuple], *, history: bool) -> str:
    """The CSV text of export rows (meter_id, building, unit, linked_at[, unlinked_at]); times as given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS if history else COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in row])
    return out.getvalue()
