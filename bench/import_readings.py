"""Backfill speed: ``anxin import`` of a year of hourly readings for N meters, into InfluxDB and SQLite.

Run: ``python -m bench.import_readings [--meters 1000] [--days 365]``. Starts its own InfluxDB 1.x
(Debian's influxd) on a free port, imports the same CSV into it and into SQLite in one run, and
prints rows per second for each and their ratio. Then it checks the InfluxDB copy is complete.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from detect.csvio import write_readings_csv
from store.influx_readings import InfluxReadingsStore

HOUR_MS = 3_600_000


def synthetic_year(meters: int, days: float, seed: int = 1) -> pd.DataFrame:
    """Hourly registers ending an hour ago: a few litres in most waking hours, nothing at night."""
    rng = np.random.default_rng(seed)
    hours = int(days * 24)
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    ts = end - HOUR_MS * np.arange(hours)[::-1]
    awake = ((ts // HOUR_MS + 8) % 24 >= 6)
    use = rng.gamma(0.6, 12.0, size=(meters, hours)) * awake * (rng.random((meters, hours)) < 0.6)
    totals = np.round(np.cumsum(use, axis=1) + rng.uniform(1e4, 1e6, size=(meters, 1)), 3)
    return pd.DataFrame({
        "meter_id": np.repeat([f"m{i:04d}" for i in range(meters)], hours),
        "ts_ms": np.tile(ts, meters),
        "total_l": totals.ravel(),
        "received_ms": np.tile(ts, meters) + 60_000,
    })


def import_into(csv: Path, readings_url: str, workdir: Path) -> float:
    env = {**os.environ, "ANXIN_READINGS_URL": readings_url, "ANXIN_DATABASE_URL": f"sqlite:///{workdir}/anxin.db"}
    started = time.perf_counter()
    anxin = Path(sys.executable).parent / "anxin"  # the console script of the same environment
    subprocess.run([str(anxin), "import", str(csv)], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    from tests.servers import InfluxDB

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=float, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame = synthetic_year(args.meters, args.days)
        csv = tmp / "readings.csv"
        write_readings_csv(frame, csv, "Asia/Shanghai")
        n = len(frame)
        server = InfluxDB(workdir=tmp / "influxdb")
        server.workdir.mkdir()
        server.start()
        try:
            t_influx = import_into(csv, server.url("anxin"), tmp)
            t_sqlite = import_into(csv, f"sqlite:///{tmp}/readings.db", tmp)
            store = InfluxReadingsStore.from_url(server.url("anxin"))
            sample = range(0, args.meters, max(1, args.meters // 10))
            stored = sum(len(store.read(meter_ids=[f"m{i:04d}"])) for i in sample)
            hourly = len(store.read_hourly(meter_ids=["m0000"]))
            store.close()
        finally:
            server.stop()
    sampled = len(sample)
    print(f"{n:,} readings, {args.meters} meters, {args.days:g} days hourly; CSV {csv.name}")
    print(f"  anxin import -> InfluxDB 1.x  {t_influx:8.1f} s  {n / t_influx:10,.0f} readings/s")
    print(f"  anxin import -> SQLite        {t_sqlite:8.1f} s  {n / t_sqlite:10,.0f} readings/s")
    print(f"  ratio InfluxDB / SQLite time: {t_influx / t_sqlite:.2f}x")
    print(f"  check: {stored:,} readings in InfluxDB for {sampled} sampled meters "
          f"(expected {sampled * n // args.meters:,}); m0000 has {hourly} hourly points")


if __name__ == "__main__":
    main()
