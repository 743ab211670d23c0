"""The ingester's Prometheus metrics, moved by a real ingester against a real Mosquitto."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from ingest.metrics import LAG_BUCKETS_S, REASON_KINDS, BatchHistogram, IngestMetrics, reason_kind, start_metrics_server
from ingest.payload import PayloadRules, parse_message
from store.errors import StoreUnavailable
from store.readings import Reading
from tests.ingest.harness import InProcessIngester, ingest_settings, publish_all, publisher, wait_until
from tests.servers import free_port


def reading(ts: int, total: float) -> bytes:
    return json.dumps({"ts": ts, "total_l": total}).encode()


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition text, keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_stored_readings_dead_letters_and_write_times_are_counted(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    with InProcessIngester(settings) as ingester:
        registry = ingester.ingester.metrics.registry
        value = registry.get_sample_value
        ts = int(time.time()) - 600  # ten minutes old when it arrives
        publish_all(publisher(mosquitto.port), [
            ("meters/flat-1/readings", json.dumps([{"ts": ts, "total_l": 1.0},
                                                   {"ts": ts + 60, "total_l": 2.0}]).encode()),
            ("meters/flat-1/readings", b"not json at all"),
            ("meters/flat-2/readings", reading(ts, 5.0)),
        ])
        wait_until(lambda: value("anxin_ingest_messages_total") == 3, what="3 messages counted")
        assert value("anxin_ingest_readings_total") == 3
        assert value("anxin_ingest_dead_letters_total") == 1
        assert value("anxin_ingest_rejected_total", {"reason_kind": "not_json"}) == 1
        assert value("anxin_ingest_rejected_total", {"reason_kind": "other"}) == 0
        assert value("anxin_ingest_write_seconds_count") >= 1
        assert value("anxin_ingest_write_seconds_sum") > 0
        assert value("anxin_ingest_lag_seconds_count") == 3
        assert value("anxin_ingest_lag_seconds_bucket", {"le": "300.0"}) == 0  # none arrived live
        assert value("anxin_ingest_lag_seconds_bucket", {"le": "900.0"}) == 3
        assert value("anxin_ingest_batch_held") == 0

        publish_all(publisher(mosquitto.port), [("meters/flat-2/readings", reading(ts, 5.0)),
                                                ("meters/flat-2/readings", reading(ts, 6.0))])
        wait_until(lambda: value("anxin_ingest_messages_total") == 5, what="5 messages counted")
        assert value("anxin_ingest_duplicates_total") == 1
        assert value("anxin_ingest_rejected_total", {"reason_kind": "conflict"}) == 1
        assert value("anxin_ingest_dead_letters_total") == 2
        assert value("anxin_ingest_readings_total") == 3
        assert value("anxin_ingest_lag_seconds_count") == 3  # neither is a new reading

        # anxin run: the API serves the ingester's registry, with the fleet gauges beside it.
        app = create_app(settings=settings, db=ingester.stores.db, readings=ingester.stores.readings,
                         metrics_registry=registry)
        samples = scrape(TestClient(app).get("/metrics").text)
    assert samples[("anxin_ingest_readings_total", ())] == 3
    assert samples[("anxin_meters", (("family", "flat"),))] == 2


class GatedStore:
    """A readings store that is down until its gate opens: a seam we own (the store protocol)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def write(self, readings):
        if not self.gate.is_set():
            raise StoreUnavailable("simulated outage")
        return self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_held_batch_shows_while_the_store_is_down(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    ingester = InProcessIngester(settings)
    store = GatedStore(ingester.stores.readings)
    ingester.ingester.readings = store
    ingester.ingester.retry_max_s = 0.2
    value = ingester.ingester.metrics.registry.get_sample_value
    ingester.start()
    try:
        publish_all(publisher(mosquitto.port), [("meters/m1/readings", reading(int(time.time()) - 60, 1.0))])
        wait_until(lambda: value("anxin_ingest_batch_held") == 1, what="the batch to be held")
        wait_until(lambda: value("anxin_ingest_store_errors_total") >= 2, what="the retries to be counted")
        assert value("anxin_ingest_readings_total") == 0
        store.gate.set()
        wait_until(lambda: value("anxin_ingest_readings_total") == 1, what="the reading once the store is back")
        assert value("anxin_ingest_batch_held") == 0
    finally:
        ingester.stop()


def test_the_standalone_server_serves_the_registry():
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    metrics.readings.inc(7)
    port = free_port()
    server, _ = start_metrics_server(registry, host="127.0.0.1", port=port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = scrape(response.text)
    assert samples[("anxin_ingest_readings_total", ())] == 7
    assert {labels for name, labels in samples if name == "anxin_ingest_rejected_total"} == {
        (("reason_kind", kind),) for kind in REASON_KINDS
    }


def test_the_standalone_server_refuses_a_port_in_use():
    registry = CollectorRegistry()
    port = free_port()
    server, _ = start_metrics_server(registry, host="127.0.0.1", port=port)
    try:
        with pytest.raises(OSError):
            start_metrics_server(registry, host="127.0.0.1", port=port)
    finally:
        server.shutdown()
        server.server_close()


NOW_MS = 1_714_528_800_000


@pytest.mark.parametrize(("topic", "payload", "kind"), [
    ("meters/-x/readings", b"{}", "topic"),
    ("meters/m/readings", b"x" * 300_000, "too_large"),
    ("meters/m/readings", json.dumps([{"ts": 1, "total_l": 1}] * 10_001).encode(), "too_large"),
    ("meters/m/readings", b"\xff", "not_json"),
    ("meters/m/readings", b"{nope", "not_json"),
    ("meters/m/readings", b"NaN", "not_json"),
    ("meters/m/readings", b"42", "shape"),
    ("meters/m/readings", b"[]", "shape"),
    ("meters/m/readings", b"[42]", "shape"),
    ("meters/m/readings", b'{"ts": 1714528800, "total_l": 1, "meter_id": "n"}', "meter_id"),
    ("meters/m/readings", b'{"total_l": 1}', "ts"),
    ("meters/m/readings", b'{"ts": "yesterday", "total_l": 1}', "ts"),
    ("meters/m/readings", b'{"ts": 1714528800000, "total_l": 1}', "ts"),
    ("meters/m/readings", b'{"ts": 1914528800, "total_l": 1}', "ts"),
    ("meters/m/readings", b'{"ts": 1714528800}', "total"),
    ("meters/m/readings", b'{"ts": 1714528800, "total_l": -1}', "total"),
    ("meters/m/readings", b'{"ts": 1714528800, "total_l": 1, "total_m3": 1}', "total"),
    ("meters/m/readings", b'{"ts": 1714528800, "total_l": 1, "note": "' + b"x" * 5000 + b'"}', "extra"),
])
def test_every_reason_the_parser_gives_has_a_kind(topic, payload, kind):
    [rejection] = parse_message(topic, payload, received_ms=NOW_MS, rules=PayloadRules()).rejections
    assert reason_kind(rejection.reason) == kind, rejection.reason


def test_the_lag_histogram_exposes_what_a_prometheus_histogram_would():
    # Bucket bounds themselves, zero, sub-second, and beyond the last bound, over several batches, small
    # ones (counted in a loop) and large ones (counted with NumPy).
    bounds = [float(b) for b in LAG_BUCKETS_S]
    batches = [[0.0, 1.0, 1.001, 59.999, 60.0, 900.0], [3600.0, 7 * 86_400.0, 7 * 86_400.0 + 1, 1e9], [0.5] * 7,
               bounds * 40 + [b + 0.001 for b in bounds] * 40 + np.linspace(0, 1e6, 3001).tolist()]
    reference_registry, batch_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lag_seconds", "Lag.", buckets=LAG_BUCKETS_S, registry=reference_registry)
    batched = BatchHistogram("lag_seconds", "Lag.", buckets=LAG_BUCKETS_S, registry=batch_registry)
    for values in batches:
        for value in values:
            reference.observe(value)
        batched.observe_many(values)

    def samples(registry):  # _created is the time each was made: compared for presence only
        return {k: (v if not k[0].endswith("_created") else None)
                for k, v in scrape(generate_latest(registry).decode()).items()}

    batch_samples, reference_samples = samples(batch_registry), samples(reference_registry)
    sum_key = ("lag_seconds_sum", ())
    # A batch is summed, then added: the same total up to float rounding (one by one adds each value).
    assert batch_samples.pop(sum_key) == pytest.approx(reference_samples.pop(sum_key), rel=1e-12)
    assert batch_samples == reference_samples


def test_the_lag_of_a_large_batch_counts_each_reading_as_a_small_batch_does():
    # 300 readings (counted with NumPy), some ahead of the receive time (lag 0), against one reading at a time.
    readings = [Reading("m", NOW_MS - lag_ms, 1.0, NOW_MS) for lag_ms in range(-150_000, 900_000_000, 3_000_000)]
    assert len(readings) >= 256
    batched, one_by_one = IngestMetrics(), IngestMetrics()
    batched.batch_done(messages=1, inserted=len(readings), duplicates=0, rejections=[], new_readings=readings,
                       received_ms=NOW_MS)
    for reading in readings:
        one_by_one.batch_done(messages=1, inserted=1, duplicates=0, rejections=[], new_readings=[reading],
                              received_ms=NOW_MS)

    def lag(metrics, suffix, labels=None):
        return metrics.registry.get_sample_value(f"anxin_ingest_lag_seconds{suffix}", labels or {})

    for le in [*map(str, map(float, LAG_BUCKETS_S)), "+Inf"]:
        assert lag(batched, "_bucket", {"le": le}) == lag(one_by_one, "_bucket", {"le": le}), le
    assert lag(batched, "_bucket", {"le": "1.0"}) > 0  # the readings ahead of the receive time count as 0
    assert lag(batched, "_sum") == pytest.approx(lag(one_by_one, "_sum"), rel=1e-12)
