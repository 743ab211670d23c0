"""Every readings store (SQLite, and InfluxDB on a real server): idempotent, durable, a cursor that misses nothing.

Times are offsets from T, a recent hour, because InfluxDB keeps only what its retention policy allows.
"""

import time

from store.readings import Reading
from store.sqlite_readings import SqliteReadingsStore, sqlite_path

H = 3_600_000
T = (int(time.time() * 1000) - 48 * H) // H * H


def r(meter, ts, total, received=None, **extra):
    return Reading(meter, T + ts, total, T + (received if received is not None else ts), extra or None)


def test_the_same_reading_twice_is_one_reading(readings_store):
    assert readings_store.write([r("m1", 1000, 5.0), r("m1", 1000, 5.0)]).inserted == 1
    result = readings_store.write([r("m1", 1000, 5.0), r("m1", 2000, 6.0)])
    assert (result.inserted, result.conflicts) == (1, [])
    assert readings_store.read()["ts_ms"].tolist() == [T + 1000, T + 2000]


def test_a_duplicate_with_another_total_is_reported_and_the_first_kept(readings_store):
    readings_store.write([r("m1", 1000, 5.0)])
    result = readings_store.write([r("m1", 1000, 9.0)])
    assert result.inserted == 0
    assert [(c[0].total_l, c[1]) for c in result.conflicts] == [(9.0, 5.0)]
    assert readings_store.read()["total_l"].tolist() == [5.0]


def test_changes_returns_each_reading_once_in_arrival_order(readings_store):
    readings_store.write([r("m1", 3000, 3.0, received=10), r("m2", 1000, 1.0, received=11)])
    first, cursor = readings_store.changes(None, received_since_ms=T)
    assert first["meter_id"].tolist() == ["m1", "m2"]
    readings_store.write([r("m1", 2000, 2.0, received=12)])  # a late, older reading still comes through
    second, cursor = readings_store.changes(cursor)
    assert second["ts_ms"].tolist() == [T + 2000]
    assert readings_store.changes(cursor)[0].empty


def test_changes_from_no_cursor_honours_the_history_window(readings_store):
    readings_store.write([r("m1", 1, 1.0, received=100), r("m1", 2, 2.0, received=200)])
    frame, _ = readings_store.changes(None, received_since_ms=T + 150)
    assert frame["ts_ms"].tolist() == [T + 2]


def test_latest_keeps_the_newest_reading_and_the_last_arrival(readings_store):
    readings_store.write([r("m1", 2000, 2.0, received=50)])
    readings_store.write([r("m1", 1000, 1.0, received=90)])  # older data, arriving later
    [row] = readings_store.latest().to_dict("records")
    assert (row["ts_ms"], row["total_l"], row["received_ms"]) == (T + 2000, 2.0, T + 90)


def test_read_filters_and_optional_fields(readings_store):
    readings_store.write([r("a", 1, 1.0, battery=80), r("a", 5, 2.0), r("b", 3, 9.0)])
    assert readings_store.read(meter_ids=["a"], start_ms=T + 2)["ts_ms"].tolist() == [T + 5]
    assert readings_store.read(end_ms=T + 4)["meter_id"].tolist() == ["a", "b"]
    assert readings_store.read_meter("a", end_ms=T + 2)[0]["extra"] == {"battery": 80}


def test_readings_survive_reopening_the_file(tmp_path):
    store = SqliteReadingsStore(tmp_path / "r.db")
    store.write([r("m1", 1, 1.0)])
    store.close()
    assert len(SqliteReadingsStore.from_url(f"sqlite:///{tmp_path}/r.db").read()) == 1
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"


def test_latest_for_named_meters_only(readings_store):
    readings_store.write([r("a", 1, 1.0), r("b", 2, 2.0)])
    assert readings_store.latest(["b"])["meter_id"].tolist() == ["b"]
    assert readings_store.latest([]).empty


def test_every_sqlite_failure_is_store_unavailable(tmp_path):
    """The detector and the ingester retry StoreUnavailable; a raw sqlite3 error would kill them."""
    import sqlite3

    import pytest

    from store.errors import StoreUnavailable

    store = SqliteReadingsStore(tmp_path / "r.db")
    store.write([r("m1", 1, 1.0)])
    with sqlite3.connect(tmp_path / "r.db") as other:  # the tables vanish under the store
        other.execute("DROP TABLE readings")
        other.execute("DROP TABLE meter_latest")
    calls = [lambda: store.write([r("m1", 2, 2.0)]), store.read, lambda: store.read_meter("m1"),
             lambda: store.changes(None), lambda: store.changes(0), store.latest]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()
    store.close()


def test_the_hourly_series_follows_late_and_out_of_order_readings(readings_store):
    readings_store.write([r("m1", 10 * 60_000, 5.0), r("m1", 50 * 60_000, 7.0), r("m1", H + 60_000, 8.0)])
    readings_store.write([r("m1", 30 * 60_000, 6.0, received=H * 5)])  # late, in an hour already rolled up
    hourly = readings_store.read_hourly(meter_ids=["m1"])
    assert hourly[["hour_ms", "total_l", "first_l", "n"]].values.tolist() == [[T, 7.0, 5.0, 3], [T + H, 8.0, 8.0, 1]]
    assert hourly["received_ms"].tolist() == [T + 5 * H, T + H + 60_000]
    assert readings_store.read_hourly(start_ms=T + 1, end_ms=T + 2 * H)["hour_ms"].tolist() == [T + H]


def test_awkward_meter_ids_and_optional_fields_survive_the_round_trip(readings_store):
    """Line protocol and InfluxQL need escaping; no id or field text may break a write or a query."""
    ids = ["a b", "a,b", "a=b", 'q"uote', "it's", "水表-1", "x" * 64]
    extra = {"note": 'say "hi"\\ \n\t 你好', "nested": {"k": [1, 2.5, None, True]}}
    readings_store.write([r(meter, 1000, 1.0, **extra) for meter in ids])
    assert sorted(readings_store.read()["meter_id"]) == sorted(ids)
    for meter in ids:
        assert readings_store.read_meter(meter)[0]["extra"] == extra
        assert readings_store.latest([meter])["meter_id"].tolist() == [meter]
    assert readings_store.read(meter_ids=["a"]).empty  # an exact match, not a prefix or pattern


def test_a_big_read_comes_back_whole(readings_store):
    """Over InfluxDB, answers arrive in chunks of 10,000 points."""
    readings_store.write([r(f"m{i % 3}", i * 1000, float(i)) for i in range(25_000)])
    frame = readings_store.read()
    assert len(frame) == 25_000
    assert frame.groupby("meter_id")["ts_ms"].is_monotonic_increasing.all()
