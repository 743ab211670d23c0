"""The ingester against a real Mosquitto: stores what is valid, dead-letters the rest, loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from store.dead_letters import list_dead_letters
from store.errors import StoreUnavailable
from store.sqlite_readings import SqliteReadingsStore
from tests.ingest.harness import (
    InProcessIngester,
    ingest_settings,
    ingester_process,
    publish_all,
    publisher,
    wait_until,
)


def now_s() -> int:
    return int(time.time())


def reading(ts: int, total: float, **extra) -> bytes:
    return json.dumps({"ts": ts, "total_l": total, **extra}).encode()


def stored(settings) -> int:
    store = SqliteReadingsStore.from_url(settings.readings_url)
    try:
        return len(store.read())
    finally:
        store.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_valid_readings_are_stored_with_their_optional_fields(mosquitto, tmp_path, protocol):
    settings = ingest_settings(mosquitto.url, tmp_path, protocol)
    with InProcessIngester(settings) as ingester:
        ts = now_s() - 600
        client = publisher(mosquitto.port, protocol)
        publish_all(client, [
            ("meters/flat-101/readings", reading(ts, 1234.5, battery=87, alarms=["leak"])),
            ("meters/flat-102/readings", json.dumps([{"ts": ts, "total_m3": 1.5}, {"ts": ts + 900, "total_m3": 1.75}]).encode()),
        ])
        wait_until(lambda: stored(settings) == 3, what="3 readings")
        rows = ingester.stores.readings.read_meter("flat-101")
        assert rows[0]["total_l"] == 1234.5
        assert rows[0]["extra"] == {"battery": 87, "alarms": ["leak"]}
        assert [r["total_l"] for r in ingester.stores.readings.read_meter("flat-102")] == [1500.0, 1750.0]


def test_a_reading_sent_with_mosquitto_pub_is_readable_through_the_api(mosquitto, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from store import registry
    from store.links import link_meter
    from store.models import Role
    from store.users import create_user

    settings = ingest_settings(mosquitto.url, tmp_path)
    with InProcessIngester(settings) as ingester:
        ts = datetime.now(UTC).replace(microsecond=0).isoformat()
        subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "meters/dong-3-502/readings",
                        "-m", json.dumps({"ts": ts, "total_l": 88123.0})], check=True, timeout=10)
        wait_until(lambda: stored(settings) == 1, what="the reading")
        now = datetime.now(UTC)
        with ingester.stores.db.session() as session:  # the flat's cadre reads its meter
            community = registry.create_community(session, name="东湖社区", now=now)
            building = registry.create_building(session, community_id=community.id, name="3号楼")
            flat = registry.create_household(session, building_id=building.id, unit="502", now=now)
            link_meter(session, meter_id="dong-3-502", household_id=flat.id, at=now - timedelta(days=1))
            cadre, token = create_user(session, name="cadre", role=Role.cadre, now=now, community_id=community.id)
            registry.assign_cadre(session, household_id=flat.id, user_id=cadre.id)
        api = TestClient(create_app(settings=settings, db=ingester.stores.db, readings=ingester.stores.readings))
        body = api.get("/api/v1/meters/dong-3-502/readings", headers={"Authorization": f"Bearer {token}"}).json()
        assert [item["total_l"] for item in body["items"]] == [88123.0]
        assert datetime.fromisoformat(body["items"][0]["ts"]) == datetime.fromisoformat(ts)


def test_bad_payloads_are_dead_lettered_and_the_ingester_keeps_going(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    with InProcessIngester(settings) as ingester:
        ts = now_s()
        bad = [
            ("meters/m1/readings", b"not json at all"),
            ("meters/m1/readings", json.dumps({"ts": ts}).encode()),  # no total
            ("meters/m1/readings", reading(ts, -5)),
            ("meters/m1/readings", json.dumps({"ts": ts, "total_l": "lots"}).encode()),
            ("meters/m1/readings", reading(ts + 3 * 86400, 10)),  # three days ahead
            ("meters/m1/readings", json.dumps({"ts": ts, "total_l": 1, "meter_id": "m2"}).encode()),
        ]
        client = publisher(mosquitto.port)
        publish_all(client, bad + [("meters/m1/readings", reading(ts - 60, 42.0))])
        wait_until(lambda: stored(settings) == 1, what="the good reading after the bad ones")
        with ingester.stores.db.session() as session:
            wait_until(lambda: list_dead_letters(session)[1] == 6, what="6 dead letters")
            letters, _ = list_dead_letters(session)
        reasons = " | ".join(letter.reason for letter in letters)
        for words in ["not JSON", "total", "non-negative", "number", "future", "does not match"]:
            assert words in reasons
        assert {letter.payload for letter in letters} == {payload for _, payload in bad}
        assert ingester.ingester.counters.rejected == 6


def test_the_same_reading_twice_is_stored_once(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    with InProcessIngester(settings) as ingester:
        ts = now_s() - 60
        publish_all(publisher(mosquitto.port), [("meters/m1/readings", reading(ts, 5.0))] * 3
                    + [("meters/m1/readings", reading(ts + 60, 6.0))])
        wait_until(lambda: stored(settings) == 2, what="2 readings")
        time.sleep(0.3)
        assert stored(settings) == 2
        assert ingester.ingester.counters.duplicates == 2


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_the_broker_keeps_messages_while_the_ingester_is_down(mosquitto, tmp_path, protocol):
    settings = ingest_settings(mosquitto.url, tmp_path, protocol)
    InProcessIngester(settings).start().stop()  # the first run creates the persistent session
    ts = now_s() - 3600
    publish_all(publisher(mosquitto.port, protocol),
                [(f"meters/m{i % 7}/readings", reading(ts + i, float(i))) for i in range(300)])
    with InProcessIngester(settings):
        wait_until(lambda: stored(settings) == 300, what="all 300 queued readings")


def test_sigkill_in_the_middle_of_a_stream_loses_nothing_and_doubles_nothing(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    log = tmp_path / "ingest.log"
    process = ingester_process(settings, log)
    try:
        wait_until(lambda: b"subscribed" in log.read_bytes(), what="the ingester to subscribe")
        ts = now_s() - 86400
        messages = [(f"meters/m{i % 20}/readings", reading(ts + i, float(i))) for i in range(10_000)]
        client = publisher(mosquitto.port)
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        wait_until(lambda: stored(settings) > 200, what="the stream to be under way")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed_at = stored(settings)
        for info in infos:
            info.wait_for_publish(10)
        process = ingester_process(settings, log)
        wait_until(lambda: stored(settings) == 10_000, timeout_s=120, what="every reading after the restart")
    finally:
        process.kill()
        process.wait(10)
    assert killed_at < 10_000, "the kill came too late to test anything"
    store = SqliteReadingsStore.from_url(settings.readings_url)
    frame = store.read()
    store.close()
    assert not frame.duplicated(["meter_id", "ts_ms"]).any()
    assert sorted(frame["total_l"]) == [float(i) for i in range(10_000)]


class FlakyStore:
    """A readings store that is down for its first few writes: a seam we own (the store protocol)."""

    def __init__(self, inner: SqliteReadingsStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def write(self, readings):
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("simulated outage")
        return self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_store_outage_holds_the_batch_unacknowledged_until_it_is_stored(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    ingester = InProcessIngester(settings)
    ingester.ingester.readings = FlakyStore(ingester.stores.readings, failures=3)
    ingester.ingester.retry_max_s = 0.2
    ingester.start()
    try:
        ts = now_s() - 600
        publish_all(publisher(mosquitto.port), [(f"meters/m{i}/readings", reading(ts, 1.0)) for i in range(50)])
        wait_until(lambda: stored(settings) == 50, what="every reading once the store is back")
        assert ingester.ingester.counters.store_errors == 3
    finally:
        ingester.stop()



class RefusingStore:
    """A store that refuses one batch for good (as InfluxDB does a field-type conflict): a seam we own."""

    def __init__(self, inner: SqliteReadingsStore) -> None:
        self.inner = inner
        self.refusals = 1

    def write(self, readings):
        from store.errors import StoreRefused

        if self.refusals > 0:
            self.refusals -= 1
            raise StoreRefused("HTTP 400: field type conflict")
        return self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_batch_refused_for_good_is_dead_lettered_and_the_stream_goes_on(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    ingester = InProcessIngester(settings)
    ingester.ingester.readings = RefusingStore(ingester.stores.readings)
    ingester.start()
    try:
        ts = now_s() - 600
        client = publisher(mosquitto.port)
        publish_all(client, [("meters/m1/readings", reading(ts, 1.0))])
        wait_until(lambda: ingester.ingester.counters.messages == 1, what="the refused batch to be handled")
        publish_all(client, [("meters/m2/readings", reading(ts, 2.0))])
        wait_until(lambda: stored(settings) == 1, what="the next batch to be stored")
        with ingester.stores.db.session() as session:
            [letter] = list_dead_letters(session)[0]
        assert letter.meter_id == "m1" and "field type conflict" in letter.reason
    finally:
        ingester.stop()
