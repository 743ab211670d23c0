"""The SQLite readings store: idempotent, durable, and a cursor that misses nothing."""

from store.readings import Reading
from store.sqlite_readings import SqliteReadingsStore, sqlite_path


def r(meter, ts, total, received=None, **extra):
    return Reading(meter, ts, total, received if received is not None else ts, extra or None)


def test_the_same_reading_twice_is_one_reading(readings_store):
    assert readings_store.write([r("m1", 1000, 5.0), r("m1", 1000, 5.0)]).inserted == 1
    result = readings_store.write([r("m1", 1000, 5.0), r("m1", 2000, 6.0)])
    assert (result.inserted, result.conflicts) == (1, [])
    assert readings_store.read()["ts_ms"].tolist() == [1000, 2000]


def test_a_duplicate_with_another_total_is_reported_and_the_first_kept(readings_store):
    readings_store.write([r("m1", 1000, 5.0)])
    result = readings_store.write([r("m1", 1000, 9.0)])
    assert result.inserted == 0
    assert [(c[0].total_l, c[1]) for c in result.conflicts] == [(9.0, 5.0)]
    assert readings_store.read()["total_l"].tolist() == [5.0]


def test_changes_returns_each_reading_once_in_arrival_order(readings_store):
    readings_store.write([r("m1", 3000, 3.0, received=10), r("m2", 1000, 1.0, received=11)])
    first, cursor = readings_store.changes(None, received_since_ms=0)
    assert first["meter_id"].tolist() == ["m1", "m2"]
    readings_store.write([r("m1", 2000, 2.0, received=12)])  # a late, older reading still comes through
    second, cursor = readings_store.changes(cursor)
    assert second["ts_ms"].tolist() == [2000]
    assert readings_store.changes(cursor)[0].empty


def test_changes_from_no_cursor_honours_the_history_window(readings_store):
    readings_store.write([r("m1", 1, 1.0, received=100), r("m1", 2, 2.0, received=200)])
    frame, _ = readings_store.changes(None, received_since_ms=150)
    assert frame["ts_ms"].tolist() == [2]


def test_latest_keeps_the_newest_reading_and_the_last_arrival(readings_store):
    readings_store.write([r("m1", 2000, 2.0, received=50)])
    readings_store.write([r("m1", 1000, 1.0, received=90)])  # older data, arriving later
    [row] = readings_store.latest().to_dict("records")
    assert (row["ts_ms"], row["total_l"], row["received_ms"]) == (2000, 2.0, 90)


def test_read_filters_and_optional_fields(readings_store):
    readings_store.write([r("a", 1, 1.0, battery=80), r("a", 5, 2.0), r("b", 3, 9.0)])
    assert readings_store.read(meter_ids=["a"], start_ms=2)["ts_ms"].tolist() == [5]
    assert readings_store.read(end_ms=4)["meter_id"].tolist() == ["a", "b"]
    assert readings_store.read_meter("a", end_ms=2)[0]["extra"] == {"battery": 80}


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
