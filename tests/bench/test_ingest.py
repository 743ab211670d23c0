"""Smoke test of ``python -m bench.ingest`` at a tiny size, so that ``make bench`` cannot silently rot.

It checks that the benchmark runs and prints sane figures; it asserts nothing about speed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "bench.ingest", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the bench stops its broker and consumers on SIGTERM
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout


def _rows(output: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_single_readings_into_sqlite_against_both_references():
    rows = _rows(_bench("--messages", "300", "--meters", "30"))
    assert set(rows) == {"mosquitto_sub (C, stores nothing)", "bare paho-mqtt (stores nothing)",
                         "anxin ingester (paho) -> sqlite", "anxin ingester (lean) -> sqlite"}
    for readings, seconds, rate, *_ in rows.values():
        # mosquitto_sub can drain 300 messages in under 5 ms, printed as 0.00 s; its rate is from the exact time.
        assert readings == "300" and float(seconds) >= 0 and float(rate.replace(",", "")) > 0
    for client in ("paho", "lean"):
        row = rows[f"anxin ingester ({client}) -> sqlite"]
        assert re.fullmatch(r"[\d,]+ readings a write; 300 stored, checked", row[-1])
        assert re.fullmatch(r"\d+\.\d%", row[3])  # the ratio to the broker
    for row in rows.values():  # the broker's CPU in each case, per 100k readings (0.00 at this size is possible:
        assert re.fullmatch(r"mosquitto \d+\.\d\d", row[6])  # the kernel counts CPU in 10 ms ticks)


def test_a_backlog_of_batches_drained_by_two_ingesters_on_a_shared_subscription():
    output = _bench("--messages", "40", "--meters", "10", "--batch", "96", "--backlog", "--ingesters", "2")
    rows = _rows(output)
    assert "backlog drain" in output
    for client in ("paho", "lean"):
        alone = rows[f"anxin ingester ({client}) -> sqlite"]
        assert re.fullmatch(r"[\d,]+ readings a write; 3,840 stored, checked", alone[-1])
        shared = rows[f"anxin ingester ({client}) -> sqlite, 2 processes on $share"]
        assert shared[0] == "3,840" and shared[-1].endswith("3,840 stored, checked") and "shares" in shared[-1]


def test_each_case_ends_its_sessions_so_the_next_case_gets_every_message():
    # Offline sessions left subscribed by the SQLite case's two ingesters kept their share of
    # $share/anxin in the InfluxDB case, which then never saw half its messages and hung.
    rows = _rows(_bench("--messages", "60", "--meters", "10", "--store", "both", "--ingesters", "2",
                        "--client", "lean"))
    for store in ("sqlite", "influxdb"):
        shared = rows[f"anxin ingester (lean) -> {store}, 2 processes on $share"]
        assert shared[0] == "60" and shared[-1].endswith("60 stored, checked")
        servers = dict(part.split() for part in shared[6].split(", "))  # the CPU of influxd too, into InfluxDB
        assert set(servers) == ({"mosquitto"} if store == "sqlite" else {"mosquitto", "influxd"})
        assert all(re.fullmatch(r"\d+\.\d\d", cpu) for cpu in servers.values())


def test_mqtt_3_1_1_for_the_bare_subscriber_and_the_ingesters():
    # The bench fails if a consumer reports another version than it was asked for.
    output = _bench("--messages", "200", "--meters", "20", "--protocol", "3.1.1", "--ingesters", "2")
    rows = _rows(output)
    assert "MQTT 3.1.1 for paho and anxin" in output
    assert rows["bare paho-mqtt (stores nothing)"][0] == "200"
    for client in ("paho", "lean"):
        assert rows[f"anxin ingester ({client}) -> sqlite, 2 processes on $share"][-1].endswith("200 stored, checked")
