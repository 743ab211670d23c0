"""Hostile traffic through a real Mosquitto: a flooding meter, shuffled readings, a batch 20 hours late."""

from __future__ import annotations

import json
import random
import time

from store.dead_letters import list_dead_letters
from tests.ingest.harness import InProcessIngester, ingest_settings, publish_all, publisher, wait_until


def stored_for(ingester, meter: str) -> list[dict]:
    return ingester.stores.readings.read_meter(meter)


def test_a_flooding_meter_is_cut_to_its_limit_and_the_others_lose_nothing(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path, ingest_meter_messages_per_min=60, ingest_meter_burst=20)
    start = int(time.time()) - 7200
    flood = [("meters/flooder/readings", json.dumps({"ts": start + i, "total_l": float(i)}).encode())
             for i in range(400)]
    others = [(f"meters/m{i:02d}/readings", json.dumps({"ts": start, "total_l": 1.0}).encode()) for i in range(30)]
    mixed = flood[:200] + others + flood[200:]  # the others arrive in the middle of the flood
    with InProcessIngester(settings) as ingester:
        started = time.monotonic()
        publish_all(publisher(mosquitto.port), mixed)
        # A batch's messages, dropped ones included, are counted once it is stored and acknowledged.
        wait_until(lambda: ingester.ingester.counters.messages >= len(mixed), what="every message handled")
        minutes = (time.monotonic() - started) / 60
        kept = len(stored_for(ingester, "flooder"))
        dropped = ingester.ingester.metrics.registry.get_sample_value("anxin_ingest_flood_dropped_total")
        assert 20 <= kept <= 20 + 60 * minutes + 1  # the burst, plus the refill while the flood went on
        assert kept + dropped == 400
        with ingester.stores.db.session() as session:
            letters = [d for d in list_dead_letters(session, limit=100)[0] if d.reason.startswith("flood:")]
        assert 1 <= len(letters) <= 2  # once a minute, not once a message
        assert "flooder" in letters[0].reason and "dropped" in letters[0].reason


def test_shuffled_and_repeated_readings_are_stored_once_in_order(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    start = int(time.time()) - 86_400
    readings = [{"ts": start + 3600 * i, "total_l": 10.0 * i} for i in range(24)]
    shuffled = random.Random(7).sample(readings * 2, k=48)  # every reading twice, in a random order
    with InProcessIngester(settings) as ingester:
        publish_all(publisher(mosquitto.port), [("meters/m1/readings", json.dumps(r).encode()) for r in shuffled])
        wait_until(lambda: len(stored_for(ingester, "m1")) == 24, what="24 readings")
        wait_until(lambda: ingester.ingester.counters.messages == 48, what="every message handled")
        assert [r["total_l"] for r in stored_for(ingester, "m1")] == [10.0 * i for i in range(24)]
        assert ingester.ingester.counters.duplicates == 24
