"""Backfill: a readings CSV into the readings store (``anxin import``), checked by the MQTT rules.

A row that breaks a rule becomes a dead letter (topic ``import:<file>``, its line number, the row
text and the reason) and the rows around it are stored. The file is read in chunks, so its size is
not limited by memory, and the store is written in batches; importing the same file twice stores
each reading once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.payload import METER_ID_PATTERN, PayloadRules
from store.dead_letters import Rejection
from store.errors import CsvFormatError
from store.readings import READINGS_CSV_COLUMNS, Reading, ReadingsStore
from store.times import ISO_OFFSET, from_ms


@dataclass
class ImportReport:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def import_readings_csv(
    path: str | Path,
    store: ReadingsStore,
    *,
    dead_letters: Callable[[Sequence[Rejection]], None],
    now_ms: int,
    rules: PayloadRules = PayloadRules(),
    chunk_rows: int = 100_000,
    batch: int = 10_000,
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Store every valid row of a readings CSV (``meter_id,ts,total_l[,received_at]``)."""
    path = Path(path)
    report = ImportReport()
    started = time.perf_counter()
    topic = f"import:{path.name}"
    received_at = from_ms(now_ms)
    try:
        chunks = pd.read_csv(path, dtype=str, chunksize=chunk_rows, keep_default_na=False)
        first_line = 2  # line 1 is the header
        for chunk in chunks:
            missing = [c for c in READINGS_CSV_COLUMNS if c not in chunk.columns]
            if missing:
                raise CsvFormatError(f"{path}: missing column(s) {missing}; a readings CSV has meter_id,ts,total_l")
            readings, refused = check_rows(chunk, first_line=first_line, now_ms=now_ms, rules=rules)
            rejections = [Rejection(topic, text.encode(), reason, received_at, meter, line)
                          for line, meter, text, reason in refused]
            for start in range(0, len(readings), batch):
                part = readings[start : start + batch]
                result = store.write(part)
                report.stored += result.inserted
                report.duplicates += len(part) - result.inserted - len(result.conflicts) - len(result.refused)
                rejections += [_store_refusal(topic, r, f"already stored with total_l {total}; the first is kept",
                                              received_at) for r, total in result.conflicts]
                rejections += [_store_refusal(topic, r, why, received_at) for r, why in result.refused]
            if rejections:
                dead_letters(rejections)
            report.rows += len(chunk)
            report.rejected += len(rejections)
            first_line += len(chunk)
            report.seconds = time.perf_counter() - started
            if progress is not None:
                progress(report)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CsvFormatError(f"{path}: not a readable CSV file: {exc}") from exc
    report.seconds = time.perf_counter() - started
    return report


def check_rows(
    chunk: pd.DataFrame, *, first_line: int, now_ms: int, rules: PayloadRules
) -> tuple[list[Reading], list[tuple[int, str, str, str]]]:
    """The readings of the valid rows, and (line, meter_id, row text, reason) for each refused row."""
    reasons = pd.Series("", index=chunk.index, dtype=object)

    def refuse(mask, reason) -> None:
        mask = np.asarray(mask, dtype=bool) & (reasons == "").to_numpy()
        reasons[mask] = reason

    meter = chunk["meter_id"].str.strip()
    refuse(~meter.str.fullmatch(METER_ID_PATTERN), "meter_id must be 1-64 letters, digits, _ . : - starting"
           " with a letter or digit")
    ts_ms = _times_ms(chunk["ts"], refuse, "ts")
    refuse(ts_ms < rules.earliest_ts_ms, f"ts is before {from_ms(rules.earliest_ts_ms).date()}; check the clock")
    refuse(ts_ms - now_ms > rules.max_clock_skew_s * 1000, "ts is in the future; check the clock")
    if "received_at" in chunk.columns:
        given = chunk["received_at"].str.strip() != ""
        received = np.where(given, _times_ms(chunk["received_at"].where(given, "1970-01-01T00:00Z"), refuse,
                                             "received_at"), ts_ms)
    else:
        received = ts_ms
    total = pd.to_numeric(chunk["total_l"].str.strip(), errors="coerce").to_numpy(dtype="float64")
    refuse(~np.isfinite(total) | (total < 0), "total_l must be a non-negative number")
    refuse(total > rules.max_total_l, f"total_l is more than {rules.max_total_l:g} litres; check the units")

    ok = (reasons == "").to_numpy()
    readings = [
        Reading(m, int(t), float(v), int(r))
        for m, t, v, r in zip(meter.to_numpy()[ok], ts_ms[ok], total[ok], np.asarray(received)[ok], strict=True)
    ]
    lines = np.arange(first_line, first_line + len(chunk))
    bad = ~ok
    texts = chunk[bad].astype(str).agg(",".join, axis=1) if bad.any() else pd.Series([], dtype=object)
    refused = [
        (int(line), m if isinstance(m, str) and m else None, text, reason)
        for line, m, text, reason in zip(lines[bad], chunk["meter_id"].to_numpy()[bad], texts, reasons[bad],
                                         strict=True)
    ]
    return readings, refused


def _times_ms(values: pd.Series, refuse, column: str) -> np.ndarray:
    """ISO 8601 times with an offset as epoch ms; a row without one is refused (and given 0)."""
    text = values.str.strip()
    has_offset = text.str.contains(ISO_OFFSET)
    times = pd.to_datetime(text.where(has_offset), utc=True, format="ISO8601", errors="coerce")
    bad = times.isna().to_numpy()
    refuse(bad, f"{column} must be an ISO 8601 time with an offset, like 2024-05-01T10:00:00+08:00")
    return times.fillna(pd.Timestamp(0, tz="UTC")).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def _store_refusal(topic: str, reading: Reading, reason: str, received_at) -> Rejection:
    row = f"{reading.meter_id},{from_ms(reading.ts_ms).isoformat()},{reading.total_l}"
    return Rejection(topic, row.encode(), reason, received_at, reading.meter_id, None)
