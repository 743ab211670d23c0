"""What only the InfluxDB store does: its schema and setup, retention, cursor overlap, error mapping."""

from __future__ import annotations

import time

import httpx
import pytest

from store.errors import ConfigError, StoreError, StoreUnavailable
from store.influx_readings import InfluxReadingsStore
from store.line_protocol import LineProtocolError, escape_tag, field_value, line
from store.readings import Reading, open_readings_store
from tests.servers import free_port

H = 3_600_000
NOW = int(time.time() * 1000)


def r(meter, ts, total, received=None):
    return Reading(meter, ts, total, received if received is not None else ts)


def influxql(server, db, query):
    answer = httpx.post(f"{server.base_url}/query", data={"db": db, "q": query}).json()
    return answer["results"][0].get("series", [])


def test_it_creates_the_database_and_three_retention_policies(influx_server):
    store = open_readings_store(influx_server.url("fresh") + "?raw=raw:30d")
    store.write([r("m1", NOW, 1.0)])
    [series] = influxql(influx_server, "fresh", 'SHOW RETENTION POLICIES ON "fresh"')
    policies = {row[0]: (row[1], row[4]) for row in series["values"]}
    assert policies["raw"] == ("720h0m0s", True)  # the default
    assert policies["hourly"][0] == "0s" and policies["recent"][0] == "48h0m0s"
    measurements = {rp: influxql(influx_server, "fresh", f'SELECT count(*) FROM "fresh"."{rp}"./.*/')
                    for rp in ("raw", "hourly", "recent")}
    assert {rp: [s["name"] for s in found] for rp, found in measurements.items()} == {
        "raw": ["reading"], "hourly": ["reading_hourly"], "recent": ["arrival"]}
    store.close()


def test_the_raw_series_has_one_tag_so_cardinality_is_the_meter_count(influx_url, influx_server):
    store = InfluxReadingsStore.from_url(influx_url)
    store.write([Reading(f"m{i}", NOW - k * H, float(k), NOW, {"battery": 90 - k}) for i in range(5) for k in range(3)])
    db = influx_url.rsplit("/", 1)[1]
    [keys] = influxql(influx_server, db, "SHOW TAG KEYS FROM reading")
    assert keys["values"] == [["meter_id"]]
    series = influxql(influx_server, db, "SHOW SERIES FROM reading")[0]["values"]
    assert len(series) == 5
    store.close()


def test_readings_older_than_the_raw_policy_are_refused_not_lost_silently(influx_server):
    store = InfluxReadingsStore.from_url(influx_server.url("short") + "?raw=raw:2d")
    old, fresh = r("m1", NOW - 3 * 24 * H, 1.0, NOW), r("m1", NOW - H, 2.0, NOW)
    result = store.write([old, fresh])
    assert result.inserted == 1
    assert [(refused, "retention" in why) for refused, why in result.refused] == [(old, True)]
    assert store.read()["total_l"].tolist() == [2.0]
    store.close()


def test_changes_sees_a_write_stamped_before_the_cursor_by_a_slow_clock(influx_url):
    """Two ingesters' clocks differ; the cursor looks back an overlap so the laggard is not missed."""
    fast = InfluxReadingsStore.from_url(influx_url, writer="fast")
    slow = InfluxReadingsStore.from_url(influx_url, writer="slow", clock_ns=lambda: time.time_ns() - 60 * 10**9)
    reader = InfluxReadingsStore.from_url(influx_url)
    _, cursor = reader.changes(None, received_since_ms=NOW - H)
    fast.write([r("m1", NOW, 1.0)])
    batch, cursor = reader.changes(cursor)
    assert batch["meter_id"].tolist() == ["m1"]
    slow.write([r("m2", NOW, 1.0)])  # stamped a minute before the cursor
    batch, cursor = reader.changes(cursor)
    assert batch["meter_id"].tolist() == ["m2"]
    assert reader.changes(cursor)[0].empty  # and nothing comes twice
    for store in (fast, slow, reader):
        store.close()


def test_a_redelivered_batch_after_a_crash_is_stored_once(influx_url):
    store = InfluxReadingsStore.from_url(influx_url)
    batch = [r("m1", NOW - k * H, float(10 - k), NOW) for k in range(5)]
    assert store.write(batch).inserted == 5
    again = store.write(batch)
    assert (again.inserted, again.conflicts) == (0, [])
    assert len(store.read()) == 5
    store.close()


def test_every_call_is_store_unavailable_while_influxdb_is_down(influx):
    store = InfluxReadingsStore.from_url(influx.url(), timeout_s=2)
    store.write([r("m1", NOW, 1.0)])
    influx.stop()
    calls = [lambda: store.write([r("m1", NOW + 1, 2.0)]), store.read, lambda: store.read_meter("m1"),
             lambda: store.changes(None), lambda: store.changes(0), store.latest, store.read_hourly]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()
    influx.start()
    assert store.write([r("m1", NOW + 1, 2.0)]).inserted == 1
    store.close()


def test_an_unreachable_server_at_start_is_unavailable_not_a_crash():
    store = InfluxReadingsStore.from_url(f"influxdb://127.0.0.1:{free_port()}/anxin", timeout_s=1)
    with pytest.raises(StoreUnavailable):
        store.write([r("m1", NOW, 1.0)])
    store.close()


def test_a_refused_request_says_why_and_is_not_mistaken_for_an_outage(influx_url, influx_server):
    store = InfluxReadingsStore.from_url(influx_url)
    store.latest()  # creates the database
    db = influx_url.rsplit("/", 1)[1]
    # Someone else wrote total_l as a string: InfluxDB refuses our float with HTTP 400.
    wrote = httpx.post(f"{influx_server.base_url}/write", params={"db": db, "rp": "raw", "precision": "ms"},
                       content=f'reading,meter_id=other total_l="x" {NOW}'.encode())
    assert wrote.status_code == 204
    with pytest.raises(StoreError) as refused:
        store.write([r("m2", NOW, 2.0)])
    assert not isinstance(refused.value, StoreUnavailable)
    assert "HTTP 400" in str(refused.value) and "field type conflict" in str(refused.value)
    store.close()


@pytest.mark.parametrize(
    "url",
    ["influxdb://host:8086/", "influxdb:///anxin", "influxdb://host/a/b", "influxdb://host/db?colour=red"],
)
def test_a_bad_url_is_a_config_error(url):
    with pytest.raises(ConfigError):
        InfluxReadingsStore.from_url(url)


def test_the_url_carries_token_or_user_and_password_and_is_never_echoed():
    store = InfluxReadingsStore.from_url("influxdbs://s3cret@db.example:9999/anxin?writer=ingest-2")
    assert (str(store._http.base_url), store._http.headers["Authorization"], store.writer) == (
        "https://db.example:9999", "Token s3cret", "ingest-2")
    store = InfluxReadingsStore.from_url("influxdb://me:p%40ss@db/anxin")
    assert store._auth == {"u": "me", "p": "p@ss"}
    with pytest.raises(ConfigError) as bad:
        InfluxReadingsStore.from_url("influxdb://s3cret@db/anxin?bad=1")
    assert "s3cret" not in str(bad.value)


def test_line_protocol_escapes_what_it_must_and_refuses_what_it_cannot_carry():
    assert line("reading", {"meter_id": "a b,c=d"}, {"total_l": 1.0, "extra": 'x"y\\'}, 5) == (
        'reading,meter_id=a\\ b\\,c\\=d total_l=1.0,extra="x\\"y\\\\" 5')
    assert escape_tag("水表") == "水表"
    assert field_value(3) == "3i" and field_value(True) == "true" and field_value(1e-7) == "1e-07"
    for bad in (lambda: escape_tag(""), lambda: escape_tag("a\nb"), lambda: escape_tag("a\\"),
                lambda: field_value(float("nan")), lambda: line("m", {}, {}, 1)):
        with pytest.raises(LineProtocolError):
            bad()


def test_the_hand_formatted_lines_are_what_line_protocol_makes():
    from store.influx_readings import _arrival_line, _hourly_line, _raw_line

    reading = Reading("m,1", 1000, 2.5, 3000, {"note": 'a "b"'})
    total = field_value(reading.total_l)
    assert _raw_line(reading, total) == line(
        "reading", {"meter_id": "m,1"}, {"total_l": 2.5, "received_ms": 3000, "extra": '{"note": "a \\"b\\""}'}, 1000)
    assert _arrival_line(reading, total, escape_tag("ingest 1"), 7) == line(
        "arrival", {"meter_id": "m,1", "writer": "ingest 1"}, {"ts_ms": 1000, "total_l": 2.5, "received_ms": 3000}, 7)
    assert _hourly_line("m,1", 3_600_000, 2.5, 1.0, 3, 3000) == line(
        "reading_hourly", {"meter_id": "m,1"}, {"total_l": 2.5, "first_l": 1.0, "n": 3, "received_ms": 3000}, 3_600_000)
