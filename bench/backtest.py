"""Backtest speed: a year of hourly readings for N meters, against reading the same CSV alone.

Run: ``python -m bench.backtest [--meters 100]``. Prints readings per second for each stage
and the ratio of the whole backtest to parsing the CSV, measured side by side.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from api.settings import DetectSettings
from api.wiring import build_detectors
from detect.backtest import backtest
from detect.csvio import read_readings_csv, write_readings_csv
from detect.simulate import simulate


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--days", type=float, default=365)
    args = parser.parse_args()
    sim, t_sim = timed(lambda: simulate(households=args.meters, start=pd.Timestamp("2025-01-01T00:00+08:00"),
                                        days=args.days, cadence_s=3600, random_state=1))
    n = len(sim.readings)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "readings.csv"
        write_readings_csv(sim.readings, csv, "Asia/Shanghai")
        _, t_csv = timed(lambda: pd.read_csv(csv))
        frame, t_parse = timed(lambda: read_readings_csv(csv))
        episodes, t_detect = timed(lambda: backtest(frame, build_detectors(DetectSettings())))
    rows = [("simulate", t_sim), ("pandas.read_csv alone", t_csv), ("read + parse times", t_parse),
            ("detectors (backtest)", t_detect), ("backtest total (parse + detect)", t_parse + t_detect)]
    print(f"{n:,} readings, {args.meters} meters, {args.days:g} days hourly; {len(episodes)} alerts")
    for name, seconds in rows:
        print(f"  {name:34s} {seconds:7.2f} s  {n / seconds:12,.0f} readings/s")
    print(f"  ratio backtest total / read_csv alone: {(t_parse + t_detect) / t_csv:.1f}x")


if __name__ == "__main__":
    main()
