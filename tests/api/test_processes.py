"""``anxin run`` and ``anxin demo`` as real processes, driven over HTTP as a user would."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import httpx

from tests.ingest.harness import wait_until
from tests.servers import free_port


def spawn(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, queue.Queue]:
    process = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", *args],
                               env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return process, lines


def line_with(lines: queue.Queue, text: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if text in line:
            return line
    raise AssertionError(f"no output line with {text!r} after {timeout_s}s")


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_anxin_run_ingests_detects_and_serves_in_one_process(mosquitto, tmp_path):
    db = f"sqlite:///{tmp_path}/anxin.db"
    env = {"ANXIN_MQTT_URL": mosquitto.url, "ANXIN_READINGS_URL": db, "ANXIN_DATABASE_URL": db}
    users = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "users", "create", "ops",
                            "--role", "admin"], env={**os.environ, **env}, capture_output=True, text=True)
    token = users.stdout.strip().splitlines()[-1]
    port = free_port()
    process, lines = spawn("run", "--host", "127.0.0.1", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base), timeout_s=30, what="anxin run to answer /health")
        line_with(lines, "objects made at startup are out of the garbage collector's full collections")
        ts = datetime.now(UTC).replace(microsecond=0).isoformat()
        subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "meters/flat-7/readings",
                        "-m", json.dumps({"ts": ts, "total_l": 10.5})], check=True, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        wait_until(lambda: httpx.get(f"{base}/api/v1/meters", headers=headers).json()["total"] == 1,
                   what="the meter to appear")
        [meter] = httpx.get(f"{base}/api/v1/meters", headers=headers).json()["items"]
        assert (meter["meter_id"], meter["state"], meter["last_reading"]["total_l"]) == ("flat-7", "ok", 10.5)

        def metrics() -> list[str]:  # no token; the ingester's metrics and the fleet's, from one process
            return httpx.get(f"{base}/metrics").text.splitlines()

        wait_until(lambda: "anxin_ingest_readings_total 1.0" in metrics(), what="the ingester's metrics")
        assert 'anxin_meters{family="flat"} 1.0' in metrics()
    finally:
        assert stop(process) == 0


def test_the_demo_shows_an_inactivity_alert_that_can_be_acknowledged(tmp_path):
    port = free_port()
    process, lines = spawn("demo", "--port", str(port), "--speed", "3000", "--data-dir", str(tmp_path / "demo"))
    base = f"http://127.0.0.1:{port}"
    try:
        token = line_with(lines, "demo token").split()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        wait_until(lambda: healthy(base), timeout_s=30, what="the demo API")

        def inactivity():
            body = httpx.get(f"{base}/api/v1/alerts", params={"kind": "inactivity", "meter_id": "m0002"},
                             headers=headers).json()
            return body["items"]

        wait_until(lambda: inactivity(), timeout_s=120, what="the demo's inactivity alert")
        [alert] = inactivity()
        acked = httpx.post(f"{base}/api/v1/alerts/{alert['id']}/ack", headers=headers).json()
        assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "demo")
        meters = httpx.get(f"{base}/api/v1/meters", headers=headers).json()
        assert meters["total"] == 12
        # The demo's cadre signs in on the page and finds the alert on flat 103 (meter m0002).
        with httpx.Client(base_url=base, headers={"Origin": base}) as browser:
            signed_in = browser.post("/login", data={"name": "cadre", "password": "anxin-demo"})
            assert signed_in.status_code == 303, signed_in.text
            page = browser.get("/").text
        assert "1号楼 103" in page  # the flat of m0002, whose alert is open
    finally:
        assert stop(process) == 0
