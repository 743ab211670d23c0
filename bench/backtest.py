"""Backtest speed: a year of hourly readings for N meters, against reading the same CSV alone.

Run: ``python -m bench.backtest [--meters 1000] [--days 365]``. The readings CSV is simulated once
and cached under ``bench/out/`` (not timed). Then, side by side in one run: ``pandas.read_csv`` of
the file alone (the reference: pandas keeps its strings in Arrow, since anxin installs pyarrow), the
same with the strings as Python objects (as pandas reads without pyarrow), ``read_readings_csv``
(read and parse times; a plain file by Arrow), the same by the pandas path that other files take
(the two frames must be equal), and ``backtest`` with every detector of ``build_detectors(DetectSettings())``.
Prints readings per second and CPU seconds of each stage, and the ratio of the whole backtest
(parse + detect) to each ``read_csv``.

With ``--jobs N`` (default: 2, the cores of the reference machine) the detectors also run in N
worker processes, each stepping a shard of the meters, side by side with one process; the two must
raise the same alerts. Their CPU seconds include the workers'.

As ``anxin backtest`` does, it first has glibc keep freed memory for reuse
(``detect.allocator.keep_freed_memory``); ``--allocator default`` leaves glibc as it is.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import pandas as pd

from api.settings import DetectSettings
from api.wiring import build_detectors
from detect.allocator import keep_freed_memory
from detect.backtest import backtest
from detect.csvio import read_readings_csv, write_readings_csv
from detect.simulate import simulate

OUT = Path(__file__).parent / "out"
START = pd.Timestamp("2025-01-01T00:00+08:00")


def timed(fn):
    """(result, wall seconds, CPU seconds of this process and of its children that ended) of ``fn()``."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def readings_csv(meters: int, days: float, seed: int) -> Path:
    """The simulated readings CSV, written once per (meters, days, seed) and reused."""
    path = OUT / f"backtest-{meters}m-{days:g}d-seed{seed}.csv"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        print(f"simulating {meters} meters x {days:g} days into {path} (once; not timed)", flush=True)
        parts = []
        for first in range(0, meters, 100):  # in slices, so a city of meters fits in memory as text
            n = min(100, meters - first)
            sim = simulate(households=n, start=START, days=days, cadence_s=3600, random_state=seed + first)
            readings = sim.readings.assign(meter_id=sim.readings["meter_id"].map(lambda m, f=first: f"s{f:06d}-{m}"))
            parts.append(readings)
        tmp = path.with_suffix(".tmp")
        write_readings_csv(pd.concat(parts, ignore_index=True), tmp, "Asia/Shanghai")
        os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2,
                        help="also run the detectors in this many worker processes, side by side (1: only one process)")
    parser.add_argument("--allocator", choices=("keep", "default"), default="keep",
                        help="keep: glibc keeps freed memory for reuse, as anxin backtest has it; default: as glibc is")
    args = parser.parse_args(argv)
    kept = args.allocator == "keep" and keep_freed_memory()
    csv = readings_csv(args.meters, args.days, args.seed)
    _, t_csv, c_csv = timed(lambda: pd.read_csv(csv))
    _, t_objects, c_objects = timed(lambda: pd.read_csv(csv, dtype={c: object for c in ("meter_id", "ts", "received_at")}))
    frame, t_parse, c_parse = timed(lambda: read_readings_csv(csv))
    by_pandas, t_pandas, c_pandas = timed(lambda: read_readings_csv(csv, arrow=False))
    if not by_pandas.equals(frame):
        raise SystemExit("read_readings_csv by Arrow and by pandas gave different frames")
    del by_pandas
    n = len(frame)
    episodes, t_detect, c_detect = timed(lambda: backtest(frame, build_detectors(DetectSettings())))
    rows = [("pandas.read_csv alone (reference)", t_csv, c_csv),
            ("pandas.read_csv, strings as objects", t_objects, c_objects), ("read + parse times", t_parse, c_parse),
            ("read + parse times by pandas, no Arrow", t_pandas, c_pandas),
            ("detectors, one process", t_detect, c_detect),
            ("backtest total (parse + detect)", t_parse + t_detect, c_parse + c_detect)]
    if args.jobs > 1:
        sharded, t_jobs, c_jobs = timed(lambda: backtest(frame, build_detectors(DetectSettings()), jobs=args.jobs))
        if not sharded.equals(episodes):
            raise SystemExit(f"the detectors in {args.jobs} processes raised other alerts than in one")
        rows += [(f"detectors, {args.jobs} processes", t_jobs, c_jobs),
                 (f"backtest total, {args.jobs} processes", t_parse + t_jobs, c_parse + c_jobs)]
    print(f"{n:,} readings, {args.meters} meters, {args.days:g} days hourly; {len(episodes):,} alerts"
          f"{f' (the same in {args.jobs} processes)' if args.jobs > 1 else ''}; "
          f"load average {os.getloadavg()[0]:.2f}; glibc allocator: {'freed memory kept' if kept else 'as it is'}")
    for name, seconds, cpu in rows:
        print(f"  {name:38s} {seconds:8.2f} s wall {cpu:8.2f} s CPU  {n / seconds:12,.0f} readings/s")
    for name, seconds, cpu in rows[4:]:
        if name.startswith("detectors"):
            print(f"  {name}: {n / seconds:,.0f} readings/s (target 1,000,000)")
        else:
            print(f"  ratio {name} / read_csv alone: {seconds / t_csv:.1f}x wall, {cpu / c_csv:.1f}x CPU (target 5x); "
                  f"/ read_csv with strings as objects: {seconds / t_objects:.1f}x wall, {cpu / c_objects:.1f}x CPU")


if __name__ == "__main__":
    main()
