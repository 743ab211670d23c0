"""The readings CSV: a plain file read by Arrow gives what pandas gives, and any other file falls back
to pandas, which reads it or says what is wrong."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect import csvio
from detect.csvio import CsvFormatError, read_readings_csv, write_readings_csv
from detect.simulate import simulate

COLUMNS = ["meter_id", "ts_ms", "total_l", "received_ms"]


def write(tmp_path, text: str, name: str = "readings.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def only_arrow(monkeypatch) -> None:
    """Make the pandas fallback fail, so that a test shows the file took the Arrow path."""
    def refuse(path):
        raise AssertionError(f"{path} fell back to pandas")
    monkeypatch.setattr(csvio, "_read_readings_csv_with_pandas", refuse)


def expected(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"meter_id": object, "ts_ms": "int64", "total_l": "float64", "received_ms": "int64"})


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_a_simulated_file_reads_the_same_by_arrow_as_by_pandas(tmp_path, zone, monkeypatch):
    sim = simulate(households=3, start=pd.Timestamp("2026-03-07", tz=zone), days=3, cadence_s=900,
                   upload_every_s=3600, timezone=zone, resolution_l=0.001)
    path = tmp_path / "readings.csv"
    write_readings_csv(sim.readings, path, zone)
    by_pandas = read_readings_csv(path, arrow=False)
    only_arrow(monkeypatch)
    by_arrow = read_readings_csv(path)
    pd.testing.assert_frame_equal(by_arrow, by_pandas)
    pd.testing.assert_frame_equal(by_arrow, sim.readings[COLUMNS].reset_index(drop=True), check_dtype=False)
    assert by_arrow["meter_id"].dtype == object


def test_a_bom_crlf_quotes_an_extra_column_and_no_received_at_take_the_arrow_path(tmp_path, monkeypatch):
    path = write(tmp_path, '\ufeffmeter_id,ts,total_l,note\r\n'
                           '"m 1",2026-11-01T08:00:00.250+08:00,12.5,"a, b"\r\n'
                           'NA,2026-11-01T00:00:00Z,3,\r\n')
    only_arrow(monkeypatch)
    first, second = ms("2026-11-01T00:00:00.250+00:00"), ms("2026-11-01T00:00:00+00:00")
    pd.testing.assert_frame_equal(read_readings_csv(path), expected([("m 1", first, 12.5, first), ("NA", second, 3.0, second)]))


def test_a_file_of_only_a_header_is_no_readings(tmp_path, monkeypatch):
    only_arrow(monkeypatch)
    frame = read_readings_csv(write(tmp_path, "meter_id,ts,total_l,received_at\n"))
    assert frame.empty and list(frame.columns) == COLUMNS


@pytest.mark.parametrize(
    ("ts", "wanted"),
    [
        ("1793491200", 1_793_491_200_000),  # epoch seconds
        ("1793491200.5", 1_793_491_200_500),
        ("2026-11-01T08:00:00.1239+08:00", ms("2026-11-01T00:00:00.123+00:00")),  # below a millisecond
    ],
)
def test_times_arrow_does_not_read_fall_back_to_pandas(tmp_path, ts, wanted):
    frame = read_readings_csv(write(tmp_path, f"meter_id,ts,total_l\nm1,{ts},1\n"))
    pd.testing.assert_frame_equal(frame, expected([("m1", wanted, 1.0, wanted)]))


@pytest.mark.parametrize("ts", ["2026-11-22T08:00:00+08:00", "2026-11-22T08:00:00+0800", "2026-11-22T08:00:00+08",
                                "2026-11-22 08:00+08", "2026-11-22T00:00:00-00", "2026-11-22T00:00:00Z"])
def test_every_iso_8601_offset_reads_the_same_by_arrow_and_by_pandas(tmp_path, ts):
    path = write(tmp_path, f"meter_id,ts,total_l\nm1,{ts},1\n")
    wanted = expected([("m1", ms("2026-11-22T00:00:00+00:00"), 1.0, ms("2026-11-22T00:00:00+00:00"))])
    assert csvio._read_plain_readings_csv(path) is not None
    pd.testing.assert_frame_equal(read_readings_csv(path), wanted)
    pd.testing.assert_frame_equal(read_readings_csv(path, arrow=False), wanted)


def test_a_repeated_column_falls_back_to_pandas_which_takes_the_first(tmp_path):
    path = write(tmp_path, "meter_id,ts,total_l,total_l\nm1,2026-11-01T00:00:00Z,1,2\n")
    assert csvio._read_plain_readings_csv(path) is None
    t = ms("2026-11-01T00:00:00+00:00")
    pd.testing.assert_frame_equal(read_readings_csv(path), expected([("m1", t, 1.0, t)]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meter,ts,total_l\nm1,2026-11-01T00:00:00Z,1\n", r"missing column\(s\) \['meter_id'\]"),
        ("meter_id,ts,total_l\nm1,2026-11-01T00:00:00Z,1\n,2026-11-01T01:00:00Z,2\n", "line 3: every row needs a meter_id"),
        ("meter_id,ts,total_l\n  ,2026-11-01T00:00:00Z,1\n", "line 2: every row needs a meter_id"),
        ("meter_id,ts,total_l\nm1,,1\nm1,2026-11-01T00:00:00Z,1\n", "line 2: ts is empty"),
        ("meter_id,ts,total_l\nm1,,1\nm1,,2\n", "line 2: ts is empty"),
        ("meter_id,ts,total_l\nm1,1793491200,1\nm1,,2\n", "line 3: ts is empty"),
        ("meter_id,ts,total_l\nm1,tomorrow+08:00,1\n", "ISO 8601"),
        ("meter_id,ts,total_l\nm1,2026-11-01T08:00:00+08:00,1\nm1,2026-11-01T09:00:00,2\n",
         "line 3: ts '2026-11-01T09:00:00' needs a UTC offset"),
        ("meter_id,ts,total_l\nm1,2026-11-01,1\n", "line 2: ts '2026-11-01' needs a UTC offset"),  # "-01" is no offset
        ("meter_id,ts,total_l,received_at\nm1,2026-11-01T00:00:00Z,1,2026-11-01 08:00\n", "line 2: received_at .* offset"),
        ("meter_id,ts,total_l\nm1,2026-11-01T00:00:00Z,\n", "total_l must be a number"),
        ("meter_id,ts,total_l\nm1,2026-11-01T00:00:00Z,NaN\n", "total_l must be a number"),
        ("meter_id,ts,total_l\nm1,2026-11-01T00:00:00Z,lots\n", "total_l must be a number"),
        ("meter_id,ts,total_l,received_at\nm1,2026-11-01T00:00:00Z,1,\n", "line 2: received_at is empty"),
    ],
)
def test_a_bad_readings_csv_is_refused_with_what_to_fix(tmp_path, text, message):
    with pytest.raises(CsvFormatError, match=message):
        read_readings_csv(write(tmp_path, text))


@settings(max_examples=200, deadline=None)
@given(
    instants=st.lists(st.integers(min_value=0, max_value=4_102_444_800_000), min_size=1, max_size=20),
    offset_min=st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
    totals=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)
def test_any_instant_at_any_offset_and_any_total_read_as_written(tmp_path_factory, instants, offset_min, totals):
    zone = timezone(timedelta(minutes=offset_min))
    lines = [f"m{i},{datetime.fromtimestamp(t / 1000, zone).isoformat(timespec='milliseconds')},{totals!r}"
             for i, t in enumerate(instants)]
    path = write(tmp_path_factory.mktemp("any"), "meter_id,ts,total_l\n" + "\n".join(lines) + "\n")
    by_arrow = csvio._read_plain_readings_csv(path)
    assert by_arrow is not None
    pd.testing.assert_frame_equal(by_arrow, expected([(f"m{i}", t, totals, t) for i, t in enumerate(instants)]))
    pd.testing.assert_frame_equal(by_arrow, read_readings_csv(path, arrow=False))
    assert np.array_equal(by_arrow["total_l"].to_numpy(), np.full(len(instants), totals))
