"""`anxin import`: a readings CSV into a real readings store, each bad row a dead letter naming its
line and reason, the good rows around it stored, and a second import storing nothing twice."""

from __future__ import annotations

from datetime import datetime

from ingest.backfill import import_readings_csv

NOW_MS = int(datetime.fromisoformat("2026-12-01T00:00:00+00:00").timestamp() * 1000)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


CSV = (
    "meter_id,ts,total_l\n"
    "m1,2026-11-22T08:00:00+08:00,1.5\n"   # line 2
    "m1,2026-11-22T09:00:00+08,2.5\n"      # line 3: an offset of hours alone, as ISO 8601 allows
    "m1,2026-11-22T10:00:00,3.5\n"         # line 4: a local time; taken as UTC it would be 8 h off
    "m1,2026-11-23,4.5\n"                  # line 5: a bare date, whose "-23" is no offset
    "m2,2026-11-22T08:00:00Z,-1\n"         # line 6
    "m2,2026-11-22T09:00:00-00:00,7\n"     # line 7
)


def test_import_stores_the_good_rows_and_dead_letters_each_bad_one_with_its_line(tmp_path, sqlite_readings):
    path = tmp_path / "readings.csv"
    path.write_text(CSV)
    letters = []
    report = import_readings_csv(path, sqlite_readings, dead_letters=letters.extend, now_ms=NOW_MS)

    stored = sqlite_readings.read().sort_values(["meter_id", "ts_ms"])
    assert list(zip(stored["meter_id"], stored["ts_ms"], stored["total_l"], strict=True)) == [
        ("m1", ms("2026-11-22T00:00:00+00:00"), 1.5),
        ("m1", ms("2026-11-22T01:00:00+00:00"), 2.5),
        ("m2", ms("2026-11-22T09:00:00+00:00"), 7.0),
    ]
    assert [(letter.item_index, letter.topic) for letter in letters] == [(4, "import:readings.csv"), (5, "import:readings.csv"),
                                                                   (6, "import:readings.csv")]
    assert "ts must be an ISO 8601 time with an offset" in letters[0].reason
    assert "ts must be an ISO 8601 time with an offset" in letters[1].reason
    assert "total_l must be a non-negative number" in letters[2].reason
    assert letters[1].payload == b"m1,2026-11-23,4.5"
    assert (report.rows, report.stored, report.rejected, report.duplicates) == (6, 3, 3, 0)


def test_importing_the_same_file_again_stores_nothing_twice(tmp_path, sqlite_readings):
    path = tmp_path / "readings.csv"
    path.write_text(CSV)
    import_readings_csv(path, sqlite_readings, dead_letters=lambda _: None, now_ms=NOW_MS)
    again = import_readings_csv(path, sqlite_readings, dead_letters=lambda _: None, now_ms=NOW_MS)
    assert (again.stored, again.duplicates) == (0, 3)
    assert len(sqlite_readings.read()) == 3
