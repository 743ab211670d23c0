"""Structured logs (ANXIN_LOG_FORMAT=json): one JSON object a line, with the ids as fields."""

from __future__ import annotations

import io
import json
import logging
import signal
import time
from datetime import UTC, datetime, timedelta

from api.logs import JsonFormatter
from detect.inactivity import InactivityDetector
from detect.monitor import Monitor
from store.readings import Reading
from store.sqlite_readings import SqliteReadingsStore
from tests.ingest.harness import ingest_settings, ingester_process, publish_all, publisher, wait_until


def json_lines(emit) -> list[dict]:
    """What ``emit(logger)`` logs, through a JsonFormatter, each line parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"anxin.test.{time.monotonic_ns()}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    emit(logger)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_time_level_logger_message_and_extra_fields():
    before = datetime.now(UTC)
    [line] = json_lines(lambda log: log.warning("dead-lettered a reading from %s", "meters/m1/readings",
                                                extra={"meter_id": "m1", "alert_id": 7}))
    assert list(line)[:4] == ["ts", "level", "logger", "message"]
    assert line["level"] == "WARNING"
    assert line["logger"].startswith("anxin.test.")
    assert line["message"] == "dead-lettered a reading from meters/m1/readings"
    assert (line["meter_id"], line["alert_id"]) == ("m1", 7)
    ts = datetime.fromisoformat(line["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= ts <= datetime.now(UTC) + timedelta(seconds=1)
    assert "exc_info" not in line


def test_an_exception_is_one_string_in_the_line():
    def emit(log):
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("tick failed", extra={"meter_id": "m2", "when": datetime(2026, 1, 1, tzinfo=UTC)})

    [line] = json_lines(emit)
    assert line["level"] == "ERROR"
    assert line["exc_info"].startswith("Traceback") and "ZeroDivisionError" in line["exc_info"]
    assert line["when"] == "2026-01-01 00:00:00+00:00"  # what JSON cannot hold is written as text


def test_the_monitor_logs_the_alert_and_meter_ids(sqlite_db, tmp_path, caplog):
    store = SqliteReadingsStore(tmp_path / "readings.db")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    t0_ms = int(t0.timestamp() * 1000)
    hour = 3_600_000
    store.write([Reading("flat-3", t0_ms + h * hour, 4.0 if h else 0.0, t0_ms + h * hour) for h in range(14)])
    monitor = Monitor(detectors=[InactivityDetector().fit()], readings=store, db=sqlite_db,
                      history_ms=14 * 86_400_000, clock=lambda: t0 + timedelta(hours=14))
    with caplog.at_level(logging.INFO, logger="detect.monitor"):
        [alert] = monitor.tick()["inactivity"].raised
    store.close()
    [record] = [r for r in caplog.records if r.getMessage().startswith("raised")]
    line = json.loads(JsonFormatter().format(record))
    assert (line["alert_id"], line["meter_id"], line["alert_kind"]) == (alert.id, "flat-3", "inactivity")
    assert line["message"] == f"raised inactivity alert {alert.id} on meter flat-3"


def test_anxin_ingest_writes_json_lines_with_the_meter_id(mosquitto, tmp_path):
    settings = ingest_settings(mosquitto.url, tmp_path)
    log = tmp_path / "ingest.log"
    process = ingester_process(settings, log, {"ANXIN_LOG_FORMAT": "json"})
    try:
        wait_until(lambda: b"subscribed" in log.read_bytes(), what="the ingester to subscribe")
        publish_all(publisher(mosquitto.port), [("meters/flat-9/readings", b"not json")])
        wait_until(lambda: b"dead-lettered" in log.read_bytes(), what="the dead letter to be logged")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    [dead] = [line for line in lines if line["message"].startswith("dead-lettered")]
    assert (dead["level"], dead["logger"], dead["meter_id"]) == ("WARNING", "ingest.service", "flat-9")
    assert "not JSON" in dead["message"]
