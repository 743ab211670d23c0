"""Soak: `anxin run` (ingester, detector, API) for an hour at a city-like rate; memory and lag must stay flat.

Run: ``python -m bench.soak [--minutes 60] [--meters 100000] [--rate 280]``. It starts a private
Mosquitto (``tests/servers.py``), runs ``anxin run`` over it and SQLite in a subprocess (with a
timer around each detector tick), publishes QoS 1 readings at ``--rate`` messages a second
round-robin over ``--meters`` meters, probes the API twice a second, and samples every
``--sample-s`` seconds:

- the RSS and CPU time of the anxin process;
- the ingest lag: sample time minus the ``ts`` (= publish time) of the newest stored reading,
  and the backlog: messages published minus readings stored;
- the detector: ticks, the longest tick, and how long ago the last tick finished;
- the API probe's p50 and p99 (GET /api/v1/alerts?status=open,acknowledged and one meter's week).

It writes the samples to ``bench/out/soak-<time>.csv`` and prints the slope of RSS and lag per
hour after the warm-up (5 minutes, or until every meter has reported once, at most half the run):
flat means near zero.
1,000,000 meters reporting hourly is about 280 messages a second.

``--memory-log`` (``--tracemalloc N``, ``--malloc-trim``) also samples inside anxin where its memory
goes (``bench/soak_memory.py``); the summary then gives each part's slope after the warm-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psutil

OUT = Path(__file__).with_name("out")
FIELDS = ["t_s", "rss_mb", "cpu_s", "published", "stored", "backlog", "lag_s", "ticks", "tick_max_s",
          "tick_cpu_max_s", "tick_last_s", "since_tick_s", "probe_n", "probe_p50_ms", "probe_p99_ms", "probe_errors"]


# --- the anxin process: `anxin run` with a timer around each detector tick -------------------------

def serve() -> None:
    """``anxin run``, logging each detector tick's duration to $BENCH_TICK_LOG (one line a tick)."""
    from api import cli
    from detect.monitor import Monitor

    log_path = os.environ["BENCH_TICK_LOG"]
    sampler = start_memory_sampler()
    tick = Monitor.tick

    def timed_tick(self):
        started, cpu = time.time(), time.thread_time()
        try:
            return tick(self)
        finally:
            with open(log_path, "a") as f:  # wall time moves with the machine's load; the thread's CPU time less so
                f.write(f"{started:.3f},{time.time() - started:.3f},{time.thread_time() - cpu:.3f}\n")
            if sampler is not None:
                sampler.monitor = self

    Monitor.tick = timed_tick
    sys.argv = ["anxin", "run"]
    cli.main()


def start_memory_sampler():
    """With $BENCH_MEMORY_LOG, sample where the memory goes (bench/soak_memory.py); tracemalloc if asked."""
    path = os.environ.get("BENCH_MEMORY_LOG")
    if not path:
        return None
    import tracemalloc

    from bench.soak_memory import MemorySampler, track_sqlite_connections

    track_sqlite_connections()  # before anxin opens its stores
    frames = int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "0"))
    if frames:
        tracemalloc.start(frames)
    sampler = MemorySampler(Path(path), every_s=float(os.environ["BENCH_MEMORY_EVERY_S"]),
                            trim=os.environ.get("BENCH_MALLOC_TRIM") == "1")
    sampler.start()
    return sampler


# --- the meters: QoS 1 at a steady rate ------------------------------------------------------------

class Publisher(threading.Thread):
    """Publishes one reading per message, round-robin over the meters, ``rate`` messages a second."""

    def __init__(self, *, port: int, meters: int, rate: float, stop: threading.Event) -> None:
        super().__init__(name="publisher", daemon=True)
        self.port, self.meters, self.rate, self.stop = port, meters, rate, stop
        self.sent = 0  # handed to the client; a stored reading was sent first, so backlog = sent - stored

    def run(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-soak-meters",
                             protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)

        client.connect("127.0.0.1", self.port)
        client.loop_start()
        rng = np.random.default_rng(1)
        totals = rng.uniform(1_000, 900_000, self.meters).round(1)
        ids = [f"s{i:07d}" for i in range(self.meters)]
        started = time.monotonic()
        i = 0
        while not self.stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                m = i % self.meters
                if rng.random() < 0.5:
                    totals[m] += round(float(rng.uniform(0.5, 40.0)), 1)
                # Whole milliseconds, rounded down: a ts rounded up would lie up to 0.5 ms in the future
                # and make a sample's lag negative.
                payload = json.dumps({"ts": time.time_ns() // 1_000_000 / 1000, "total_l": float(totals[m])})
                client.publish(f"meters/{ids[m]}/readings", payload, qos=1)
                self.sent += 1
                i += 1
            time.sleep(0.02)
        client.loop_stop()
        client.disconnect()


# --- the API probe ----------------------------------------------------------------------------------

class Probe(threading.Thread):
    """Twice a second, one light request (alternately the open alerts and a meter's week); keeps latencies."""

    def __init__(self, *, base: str, token: str, meters: int, stop: threading.Event) -> None:
        super().__init__(name="probe", daemon=True)
        self.base, self.token, self.meters, self.stop = base, token, meters, stop
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[list[float], int]:
        with self.lock:
            taken, errors = self.latencies, self.errors
            self.latencies, self.errors = [], 0
        return taken, errors

    def run(self) -> None:
        rng = random.Random(2)
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30) as http:
            n = 0
            while not self.stop.wait(0.5):
                path = ("/api/v1/alerts?status=open,acknowledged" if n % 2 == 0
                        else f"/api/v1/meters/s{rng.randrange(self.meters):07d}/readings")
                n += 1
                started = time.perf_counter()
                try:
                    ok = http.get(path).status_code in (200, 404)  # 404: a meter not yet heard from
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies.append(elapsed)
                    self.errors += not ok


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per hour."""
    if len(ts) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(ts), np.asarray(ys), 1)[0] * 3600)


def seed_admin(database_url: str) -> str:
    from store.db import Database
    from store.models import Role
    from store.users import create_user

    db = Database(database_url)
    db.migrate()
    with db.session() as session:
        _, token = create_user(session, name="soak-admin", role=Role.admin, now=datetime.now(UTC))
    db.dispose()
    return token


def newest_stored(readings_db: Path) -> tuple[int, int | None]:
    """(highest seq, ts_ms of the newest stored reading) straight from the readings file."""
    try:
        conn = sqlite3.connect(f"file:{readings_db}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT seq, ts_ms FROM readings ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0, None
    return (row[0], row[1]) if row else (0, None)


def read_ticks(path: Path, since: float) -> list[tuple[float, float, float]]:
    """(start, wall seconds, CPU seconds) of each detector tick that ended after ``since``."""
    if not path.exists():
        return []
    ticks = [tuple(map(float, line.split(","))) for line in path.read_text().splitlines() if line.count(",") == 2]
    return [(s, d, c) for s, d, c in ticks if s + d >= since]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=280.0, help="messages a second (one reading each)")
    parser.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--tick-s", type=float, default=60.0, help="ANXIN_DETECT_TICK_S")
    parser.add_argument("--out", type=Path, default=None, help="CSV of the samples (default bench/out/soak-*.csv)")
    parser.add_argument("--warmup-s", type=float, default=None,
                        help="seconds left out of the slopes (default: 5 minutes, or until every meter has reported "
                             "once, at most half the run); SQLite's page cache fills for longer, see bench/RESULTS.md")
    parser.add_argument("--memory-log", action="store_true",
                        help="inside anxin, sample where the memory goes (SQLite caches, malloc, detector carries) "
                             "to <out>.memory.jsonl")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="with --memory-log: trace Python allocations (FRAMES deep) and write the lines that "
                             "grew most to <out>.memory.top (slows anxin down)")
    parser.add_argument("--malloc-trim", action="store_true",
                        help="with --memory-log: after each sample call glibc's malloc_trim(0) and record the RSS "
                             "it gave back (shows how much of RSS is freed memory malloc kept)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return

    from ingest.broker import free_port
    from tests.servers import Mosquitto, wait_for_port

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop anxin and the broker on the way out

    out = args.out or OUT / f"soak-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anxin-soak-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work)
        broker.start()
        port = free_port()
        database_url = f"sqlite:///{work}/anxin.db"
        readings_db = work / "readings.db"
        token = seed_admin(database_url)
        tick_log = work / "ticks.csv"
        env = {**os.environ, "ANXIN_MQTT_URL": broker.url, "ANXIN_DATABASE_URL": database_url,
               "ANXIN_READINGS_URL": f"sqlite:///{readings_db}", "ANXIN_API_PORT": str(port),
               "ANXIN_DETECT_TICK_S": str(args.tick_s), "ANXIN_MQTT_CLIENT_ID": "anxin-soak",
               "BENCH_TICK_LOG": str(tick_log)}
        memory_log = out.with_suffix(".memory.jsonl")
        if args.memory_log:
            env.update(BENCH_MEMORY_LOG=str(memory_log), BENCH_MEMORY_EVERY_S=str(args.sample_s),
                       BENCH_TRACEMALLOC_FRAMES=str(args.tracemalloc),
                       BENCH_MALLOC_TRIM=str(int(args.malloc_trim)))
        log = open(work / "anxin.log", "ab")  # noqa: SIM115 - the child owns it
        anxin = subprocess.Popen([sys.executable, "-m", "bench.soak", "--serve"], env=env, stdout=log, stderr=log,
                                 cwd=Path(__file__).resolve().parent.parent)
        log.close()
        stop = threading.Event()
        try:
            wait_for_port(port, timeout_s=300)  # a loaded machine, or tracemalloc, slows the start
            proc = psutil.Process(anxin.pid)
            publisher = Publisher(port=broker.port, meters=args.meters, rate=args.rate, stop=stop)
            probe = Probe(base=f"http://127.0.0.1:{port}", token=token, meters=args.meters, stop=stop)
            print(f"soak: anxin run (pid {anxin.pid}) over Mosquitto :{broker.port} and SQLite; {args.meters:,} meters, "
                  f"{args.rate:g} msg/s QoS 1, {args.minutes:g} min, a sample every {args.sample_s:g} s -> {out}",
                  flush=True)
            started = time.time()
            publisher.start()
            probe.start()
            rows = []
            with open(out, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=FIELDS)
                writer.writeheader()
                end = started + args.minutes * 60
                next_at = started + args.sample_s
                while time.time() < end + 1e-6 and anxin.poll() is None:
                    time.sleep(max(0.0, min(next_at, end) - time.time()))
                    now = time.time()
                    seq, newest_ts = newest_stored(readings_db)
                    ticks = read_ticks(tick_log, now - args.sample_s)
                    all_ticks = read_ticks(tick_log, 0)
                    latencies, errors = probe.take()
                    mem = proc.memory_info().rss / 2**20
                    cpu = sum(proc.cpu_times()[:2])
                    row = {
                        "t_s": round(now - started, 1), "rss_mb": round(mem, 1), "cpu_s": round(cpu, 1),
                        "published": publisher.sent, "stored": seq, "backlog": publisher.sent - seq,
                        "lag_s": round(now - newest_ts / 1000, 3) if newest_ts else "",
                        "ticks": len(all_ticks),
                        "tick_max_s": max((d for _, d, _ in ticks), default=""),
                        "tick_cpu_max_s": max((c for _, _, c in ticks), default=""),
                        "tick_last_s": all_ticks[-1][1] if all_ticks else "",
                        "since_tick_s": round(now - sum(all_ticks[-1][:2]), 1) if all_ticks else "",
                        "probe_n": len(latencies),
                        "probe_p50_ms": round(percentile(latencies, 50) * 1000, 1),
                        "probe_p99_ms": round(percentile(latencies, 99) * 1000, 1), "probe_errors": errors,
                    }
                    writer.writerow(row)
                    f.flush()
                    rows.append(row)
                    print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                    next_at += args.sample_s
            if anxin.poll() is not None:
                raise SystemExit(f"anxin run exited with {anxin.returncode}; see its log:\n"
                                 + (work / "anxin.log").read_text()[-3000:])
        finally:
            stop.set()
            if anxin.poll() is None:
                anxin.terminate()
                try:
                    anxin.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    anxin.kill()
            broker.stop()
    summarize(rows, args, started=started, memory_log=memory_log if args.memory_log else None)


def summarize(rows: list[dict], args, *, started: float = 0.0, memory_log: Path | None = None) -> None:
    if not rows:
        print("no samples")
        return
    # Until every meter has been heard from, the detector's state still grows by design.
    warm = min(max(300.0, 1.2 * args.meters / args.rate), args.minutes * 60 / 2) if args.warmup_s is None \
        else args.warmup_s
    steady = [r for r in rows if r["t_s"] > warm] or rows
    t = [r["t_s"] for r in steady]
    rss = [r["rss_mb"] for r in steady]
    lag = [r["lag_s"] for r in steady if r["lag_s"] != ""]
    t_lag = [r["t_s"] for r in steady if r["lag_s"] != ""]
    backlog = [r["backlog"] for r in steady]
    p99 = [r["probe_p99_ms"] for r in steady]
    ticks = [r["tick_max_s"] for r in steady if r["tick_max_s"] != ""]
    tick_cpu = [r["tick_cpu_max_s"] for r in steady if r["tick_cpu_max_s"] != ""]
    cpu = (rows[-1]["cpu_s"] - rows[0]["cpu_s"]) / max(1.0, rows[-1]["t_s"] - rows[0]["t_s"])
    stored_rate = (rows[-1]["stored"] - rows[0]["stored"]) / max(1.0, rows[-1]["t_s"] - rows[0]["t_s"])
    print(f"summary after a {warm:g} s warm-up, {len(steady)} samples ({args.meters:,} meters, {args.rate:g} msg/s):")
    print(f"  stored {rows[-1]['stored']:,} readings; {stored_rate:,.0f} readings/s stored against {args.rate:g} "
          f"published ({stored_rate / args.rate:.2f}x); anxin used {cpu:.2f} CPU cores")
    print(f"  RSS          {min(rss):8.1f} .. {max(rss):8.1f} MB   slope {slope_per_hour(t, rss):+8.1f} MB/h")
    if lag:
        print(f"  ingest lag   {min(lag):8.3f} .. {max(lag):8.3f} s    slope {slope_per_hour(t_lag, lag):+8.3f} s/h "
              f"(median {statistics.median(lag):.3f} s)")
    print(f"  backlog      {min(backlog):8d} .. {max(backlog):8d} msgs slope {slope_per_hour(t, backlog):+8.1f} msgs/h")
    if ticks:
        print(f"  detector tick: longest {max(ticks):.2f} s, median of per-sample longest {statistics.median(ticks):.2f} s "
              f"(tick every {args.tick_s:g} s); its CPU time: longest {max(tick_cpu):.2f} s, median "
              f"{statistics.median(tick_cpu):.2f} s")
    print(f"  API probe p99 {min(p99):6.1f} .. {max(p99):6.1f} ms   slope {slope_per_hour(t, p99):+8.1f} ms/h; "
          f"errors {sum(r['probe_errors'] for r in steady)}")
    if memory_log is not None and memory_log.exists():
        from bench.soak_memory import summarize as memory_parts

        print("\n".join(memory_parts(memory_log, started=started, warm_s=warm)))


if __name__ == "__main__":
    main()
