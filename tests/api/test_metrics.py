"""``GET /metrics`` of the API, and the metrics port of ``anxin ingest``, scraped as Prometheus would."""

from __future__ import annotations

import json
import logging
import signal
import socket
import time

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from store.readings import Reading
from store.sqlite_readings import SqliteReadingsStore
from tests.api.conftest import NOW
from tests.ingest.harness import ingest_settings, ingester_process, publish_all, publisher, wait_until
from tests.servers import free_port

NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3_600_000


def samples(text: str, name: str) -> dict[str, float]:
    """The samples of one metric, keyed by their family label (or "" without one)."""
    return {
        sample.labels.get("family", ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_metrics_needs_no_token_and_counts_meters_per_family(settings, sqlite_db, readings_store):
    readings_store.write([
        Reading("m0001", NOW_MS - 3 * HOUR_MS, 10.0, NOW_MS - 3 * HOUR_MS),
        Reading("m0001", NOW_MS - 2 * HOUR_MS, 11.0, NOW_MS - 2 * HOUR_MS),
        Reading("m0002", NOW_MS - 5 * HOUR_MS, 20.0, NOW_MS - HOUR_MS),
        Reading("flat-12.b", NOW_MS - HOUR_MS, 30.0, NOW_MS - HOUR_MS),
        Reading("12-3", NOW_MS - 7 * HOUR_MS, 40.0, NOW_MS - 7 * HOUR_MS),
    ])
    client = TestClient(create_app(settings=settings, db=sqlite_db, readings=readings_store))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert samples(response.text, "anxin_meters") == {"m": 2, "flat": 1, "_": 1}
    assert samples(response.text, "anxin_meter_last_reading_timestamp_seconds") == {
        "m": (NOW_MS - 2 * HOUR_MS) / 1000,
        "flat": (NOW_MS - HOUR_MS) / 1000,
        "_": (NOW_MS - 7 * HOUR_MS) / 1000,
    }
    assert samples(response.text, "anxin_metrics_store_errors_total") == {"": 0}

    readings_store.write([Reading("flat-9", NOW_MS, 1.0, NOW_MS)])  # fresh at every scrape
    again = client.get("/metrics").text
    assert samples(again, "anxin_meters")["flat"] == 2
    assert samples(again, "anxin_meter_last_reading_timestamp_seconds")["flat"] == NOW_MS / 1000


def test_a_failing_readings_store_leaves_the_fleet_out_but_the_scrape_answers(settings, sqlite_db, tmp_path,
                                                                              caplog):
    path = tmp_path / "gone" / "readings.db"
    readings = SqliteReadingsStore(path)
    readings.close()
    for f in path.parent.iterdir():
        f.unlink()
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    client = TestClient(create_app(settings=settings, db=sqlite_db, readings=readings))
    with caplog.at_level(logging.WARNING, logger="api.metrics"):
        first = client.get("/metrics")
        second = client.get("/metrics")
    assert (first.status_code, second.status_code) == (200, 200)
    assert samples(second.text, "anxin_meters") == {}
    assert samples(second.text, "anxin_metrics_store_errors_total") == {"": 2}
    assert "readings store" in caplog.text


def test_anxin_ingest_serves_its_metrics_on_its_own_port(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    port = free_port()
    log = tmp_path / "ingest.log"
    process = ingester_process(settings, log, {"ANXIN_INGEST_METRICS_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: b"subscribed" in log.read_bytes(), what="the ingester to subscribe")
        publish_all(publisher(mosquitto.port), [
            ("meters/m1/readings", json.dumps({"ts": int(time.time()) - 60, "total_l": 1.0}).encode()),
            ("meters/m1/readings", b"not json"),
        ])

        def dead_letters() -> dict[str, float]:
            return samples(httpx.get(f"{base}/metrics", timeout=5).text, "anxin_ingest_dead_letters_total")

        wait_until(lambda: dead_letters() == {"": 1}, what="the dead letter on the metrics port")
        text = httpx.get(f"{base}/metrics", timeout=5).text
        assert samples(text, "anxin_ingest_readings_total") == {"": 1}
        assert "process_resident_memory_bytes" in text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_anxin_ingest_says_which_setting_to_change_when_the_port_is_taken(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    log = tmp_path / "ingest.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = ingester_process(settings, log, {"ANXIN_INGEST_METRICS_PORT": str(port)})
        assert process.wait(30) == 2
    assert "ANXIN_INGEST_METRICS_PORT" in log.read_text()
