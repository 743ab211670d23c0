"""Detector tick at city scale: one live Monitor tick over N meters whose last hour just arrived.

Run: ``python -m bench.tick [--meters 100000] [--history-days 8] [--ticks 3] [--shards 1] [--database sqlite]``. Not timed: a vectorised
generator makes ``history-days`` of hourly readings per meter (a daily routine, some households
still, some meters dead), the learning detectors are fitted on them and every detector steps
through them, so the monitor carries the state a long-running ``anxin detect`` would; its alerts are
synced once. Then the last hour (one reading per live meter) is written to a SQLite readings store
and one ``Monitor.tick`` is timed: the store read (``changes``), the detectors' step, and the alert
sync, each timed inside the tick, beside the whole tick. The next hours are then ticked too
(``--ticks`` in all), each timed whole and in the same parts, as the monitor ticks on: their median
is steadier than one tick on a shared machine.
Memory per meter is the deep size of the carried state and
the learned per-meter state, with the meter ids they are keyed by, divided by the meters.

With ``--shards N``, N monitors tick instead, one process each, as ``ANXIN_DETECT_SHARD=i/N`` runs
them: each warms up on its own meters, then they tick the same hours side by side, every shard
reading all that arrived and keeping its own meters. A tick is over when its slowest shard is.

The alerts go to a SQLite database beside the readings, or with ``--database postgresql`` to a new
database on the local PostgreSQL (as a city's detector shards share one), dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from api.settings import DetectSettings
from api.wiring import build_detectors, freeze_startup_objects
from detect.monitor import Monitor
from detect.shard import Shard
from store.db import Database
from store.readings import Reading
from store.sqlite_readings import SqliteReadingsStore
from store.times import to_ms

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
NOW_MS = 1_795_190_400_000  # 2026-11-22 00:00 Asia/Shanghai, an hour boundary


def simulated_hours(meters: int, hours: int, end_ms: int, seed: int = 0, after_h: int = 0) -> pd.DataFrame:
    """Hourly readings of ``meters`` meters for ``hours`` hours ending at ``end_ms``, vectorised.

    Each household wakes at its own hour (06-09) and sleeps at its own (21-24); while awake, each
    hour has use with probability 0.6 (1-40 L). 1 % are still for their last 14 hours, and 0.5 % of
    meters went dead 5 hours before the end, both counted ``after_h`` hours before the end.
    """
    rng = np.random.default_rng(seed)
    ts = end_ms - (hours - 1 - np.arange(hours)) * _HOUR_MS
    local_hour = ((ts + 8 * _HOUR_MS) // _HOUR_MS) % 24
    wake = rng.integers(6, 10, meters)[:, None]
    sleep = rng.integers(21, 25, meters)[:, None]
    awake = (local_hour[None, :] >= wake) & (local_hour[None, :] < sleep)
    use = np.where(awake & (rng.random((meters, hours)) < 0.6), rng.integers(1, 41, (meters, hours)), 0)
    still = rng.random(meters) < 0.01
    use[still, -14 - after_h:] = 0
    totals = rng.integers(1_000, 500_000, meters)[:, None] + np.cumsum(use, axis=1)
    keep = np.ones((meters, hours), dtype=bool)
    keep[rng.random(meters) < 0.005, -5 - after_h:] = False
    ids = np.array([f"m{i:07d}" for i in range(meters)], dtype=object)
    meter_ix, hour_ix = np.nonzero(keep)
    received = ts[hour_ix] + rng.integers(1_000, 60_000, len(hour_ix))
    return pd.DataFrame({"meter_id": ids[meter_ix], "ts_ms": ts[hour_ix], "total_l": totals[meter_ix, hour_ix]
                         .astype("float64"), "received_ms": received})


class TimedTickParts:
    """A monitor's store read, detectors' step and alert sync, each timed inside its ticks (wall
    seconds by part; the step's CPU too), so that the parts and the rest add up to the tick."""

    def __init__(self, monitor: Monitor) -> None:
        self.reset()
        self._time(monitor.readings, "changes", "read")
        self._time(monitor, "_step", "step")
        self._time(monitor, "_sync", "sync")

    def reset(self) -> None:
        self.wall_s = {"read": 0.0, "step": 0.0, "sync": 0.0}
        self.cpu_s = dict(self.wall_s)

    def _time(self, owner, name: str, part: str) -> None:
        """Replace ``owner.name`` (on this instance only) with the same call, timed into ``part``."""
        call = getattr(owner, name)

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.wall_s[part] += time.perf_counter() - wall
                self.cpu_s[part] += time.process_time() - cpu

        setattr(owner, name, timed)


def state_bytes(monitor: Monitor) -> int:
    """Deep size of the carried state, the ongoing episodes last synced and the learned per-meter state,
    with the meter ids they are keyed by (and, in a shard, every meter id it has seen, with whether it owns it)."""
    total = int(monitor._codes.ids.memory_usage(deep=True)) + int(monitor._members.ids.memory_usage(deep=True))
    total += monitor._members.ids.size  # a bool each
    total += sum(int(synced.memory_usage(deep=True).sum()) for synced in monitor._synced.values())
    for carry in monitor._carry.values():
        frames = [carry] if isinstance(carry, pd.DataFrame) else [getattr(carry, "first_seen", None),
                                                                     getattr(carry, "outages", None)]
        total += sum(int(f.memory_usage(deep=True).sum()) if isinstance(f, pd.DataFrame)
                     else int(f.memory_usage(deep=True)) for f in frames if f is not None)
    for detector in monitor.detectors:
        for name in ("background_l_per_h_", "warning_h_", "median_", "spread_"):
            learned = getattr(detector, name, None)
            if learned is not None:
                size = learned.memory_usage(deep=True)
                total += int(size.sum() if isinstance(size, pd.Series) else size)
    return total


def _write(store, readings: pd.DataFrame) -> None:
    """An hour's readings into the readings store, as the ingester writes them."""
    store.write([Reading(r.meter_id, int(r.ts_ms), float(r.total_l), int(r.received_ms))
                 for r in readings.itertuples(index=False)])


def _changed(reports: dict) -> int:
    """How many alerts a tick raised or resolved, of every kind."""
    return sum(len(r.raised) + len(r.resolved) + len(r.recorded) for r in reports.values())


def _warmed_monitor(history: pd.DataFrame, store: SqliteReadingsStore, db: Database,
                    history_days: float, clock: dict, shard: Shard = Shard()) -> Monitor:
    """A monitor as after days of ticking: fitted on the history of its shard's meters, carrying
    their state, its alerts synced, its cursor at the end of ``store``."""
    monitor = Monitor(detectors=build_detectors(DetectSettings()), readings=store, db=db,
                      history_ms=int(history_days * _DAY_MS), clock=lambda: clock["now"], shard=shard)
    warm_ms = to_ms(_tick_time(-1))
    own = monitor._own(history)
    monitor._fit(own)
    monitor._fitted_ms = warm_ms
    monitor._carry = monitor._step(own, warm_ms)[1]
    _, monitor._cursor = store.changes(None)
    monitor.tick()  # syncs the warm-up's alerts (no new readings)
    return monitor


def _tick_time(k: int) -> datetime:
    """The clock of the ``k``-th timed tick (0: the first; -1: the warm-up's), two minutes past the hour."""
    return pd.Timestamp(NOW_MS + k * _HOUR_MS + 120_000, unit="ms", tz="UTC").to_pydatetime()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--history-days", type=float, default=8.0,
                        help="warm-up history (the inactivity warnings need 7 days)")
    parser.add_argument("--ticks", type=int, default=3, help="hourly ticks timed one after another (at least 1)")
    parser.add_argument("--shards", type=int, default=1,
                        help="detector shards ticking side by side, a process each (ANXIN_DETECT_SHARD)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="where the alerts go: SQLite beside the readings, or a new PostgreSQL database")
    args = parser.parse_args(argv)
    if args.ticks < 1:
        parser.error("--ticks must be at least 1")
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    hours = int(args.history_days * 24) + args.ticks
    started = time.perf_counter()
    # The first tick finds the households and meters as with one tick; the later ones, an hour on each.
    readings = simulated_hours(args.meters, hours, NOW_MS + (args.ticks - 1) * _HOUR_MS, after_h=args.ticks - 1)
    ts = readings["ts_ms"].to_numpy()
    history, batch = readings[ts < NOW_MS], readings[ts == NOW_MS]
    later = [readings[ts == NOW_MS + k * _HOUR_MS] for k in range(1, args.ticks)]
    with tempfile.TemporaryDirectory() as tmp, _alerts_database(args.database, tmp) as url:
        if args.shards > 1:
            _sharded(args, history, [batch, *later], started, tmp, url)
        else:
            _one_monitor(args, history, batch, later, started, tmp, url)


@contextlib.contextmanager
def _alerts_database(database: str, tmp: str) -> Iterator[str]:
    """The URL of the alerts database: SQLite in ``tmp``, or a new PostgreSQL database, dropped afterwards."""
    if database == "sqlite":
        yield f"sqlite:///{Path(tmp) / 'anxin.db'}"
        return
    from tests.servers import create_postgres_database, drop_postgres_database

    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def _one_monitor(args: argparse.Namespace, history: pd.DataFrame, batch: pd.DataFrame, later: list[pd.DataFrame],
                 started: float, tmp: str, url: str) -> None:
    """Warm up one monitor, then time its ticks."""
    clock = {"now": _tick_time(-1)}
    db = Database(url)
    db.migrate()
    store = SqliteReadingsStore(Path(tmp) / "readings.db")
    monitor = _warmed_monitor(history, store, db, args.history_days, clock)
    warm_s = time.perf_counter() - started
    parts = TimedTickParts(monitor)
    ticks_s, changed, reads_s, steps_s, syncs_s = [], [], [], [], []
    for k, hour in enumerate([batch, *later]):  # the first hour, then the next, as the monitor ticks on
        _write(store, hour)
        clock["now"] = _tick_time(k)
        parts.reset()
        tick_started, cpu_started = time.perf_counter(), time.process_time()
        reports = monitor.tick()
        ticks_s.append(time.perf_counter() - tick_started)
        tick_cpu_s = time.process_time() - cpu_started
        changed.append(_changed(reports))
        reads_s.append(parts.wall_s["read"])
        steps_s.append(parts.wall_s["step"])
        syncs_s.append(parts.wall_s["sync"])
        if k == 0:
            tick_cpu, step_cpu = tick_cpu_s, parts.cpu_s["step"]
            raised = sum(len(r.raised) for r in reports.values())
            resolved = sum(len(r.resolved) for r in reports.values())
            open_now = sum(len(ongoing) for ongoing in monitor._synced.values())
    per_meter = state_bytes(monitor) / args.meters
    store.close()
    db.dispose()
    tick_s, read_s, step_s, sync_s = ticks_s[0], reads_s[0], steps_s[0], syncs_s[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.meters:,} meters, {len(batch):,} readings in the tick, {len(history):,} readings of "
          f"{args.history_days:g} days warm-up ({warm_s:.0f} s, not timed); alerts in {args.database}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  store read (SQLite changes)  {read_s:8.3f} s")
    print(f"  detectors step               {step_s:8.3f} s  wall, {step_cpu:.3f} s CPU "
          f"({len(batch) / step_s:,.0f} readings/s)")
    print(f"  alert sync                   {sync_s:8.3f} s  "
          f"({raised} raised, {resolved} resolved, {open_now} open episodes)")
    print(f"  the rest (commit, logs)      {tick_s - read_s - step_s - sync_s:8.3f} s")
    print(f"  whole tick                   {tick_s:8.3f} s wall, {tick_cpu:.3f} s CPU (target < 1 s)")
    if len(ticks_s) > 1:
        print(f"  {len(ticks_s)} hourly ticks in turn      {_seconds(ticks_s)} s wall; "
              f"median {float(np.median(ticks_s)):.3f} s (target < 1 s); alerts raised + resolved: "
              f"{', '.join(f'{n:,}' for n in changed)}")
        print(f"    of which store read        {_seconds(reads_s)} s; detectors step {_seconds(steps_s)} s; "
              f"alert sync {_seconds(syncs_s)} s")
    print(f"  memory per meter             {per_meter:8.0f} B of carried and learned state (target < 2048 B); "
          f"peak RSS {peak_mb:,.0f} MB")
    sys.stdout.flush()


def _seconds(figures: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in figures)


def _sharded(args: argparse.Namespace, history: pd.DataFrame, hours: list[pd.DataFrame], started: float,
             tmp: str, url: str) -> None:
    """Warm up ``args.shards`` monitors in forked processes, then time each hour's tick in all of them at once."""
    context = multiprocessing.get_context("fork")  # the workers share the simulated history as it is
    ready = context.Barrier(args.shards + 1, timeout=3_600)
    results = context.Queue()
    db = Database(url)
    db.migrate()
    db.dispose()  # each shard opens its own connections: none may cross the fork
    SqliteReadingsStore(Path(tmp) / "readings.db").close()  # its schema, before the shards open it
    workers = [context.Process(target=_shard_ticks, args=(Shard(i, args.shards), tmp, url, history, args,
                                                           len(hours), ready, results)) for i in range(args.shards)]
    for worker in workers:
        worker.start()
    store = SqliteReadingsStore(Path(tmp) / "readings.db")
    try:
        ready.wait()  # every shard is warmed up
        warm_s = time.perf_counter() - started
        timed: list[dict[int, tuple[float, int]]] = [{} for _ in hours]
        sizes: dict[int, tuple[int, float]] = {}
        for k, hour in enumerate(hours):
            _write(store, hour)
            ready.wait()  # the shards tick now
            while len(timed[k]) < len(workers):  # a shard may report its size before another its tick
                _receive(results.get(timeout=3_600), timed, sizes)
        while len(sizes) < len(workers):
            _receive(results.get(timeout=600), timed, sizes)
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
        store.close()
    per_meter = sum(size for size, _ in sizes.values()) / args.meters
    peak_mb = max(peak for _, peak in sizes.values())
    slowest = [max(seconds for seconds, _ in tick.values()) for tick in timed]
    print(f"{args.meters:,} meters in {args.shards} shards, a process each; {len(hours[0]):,} readings in the first "
          f"tick, {len(history):,} readings of {args.history_days:g} days warm-up ({warm_s:.0f} s, not timed); "
          f"alerts in {args.database}; load average {os.getloadavg()[0]:.2f}")
    for k, tick in enumerate(timed):
        shards = ", ".join(f"{tick[i][0]:.3f}" for i in sorted(tick))
        print(f"  tick {k + 1}: slowest shard {slowest[k]:.3f} s wall (shards {shards} s); alerts raised + resolved: "
              f"{sum(changed for _, changed in tick.values()):,}")
    print(f"  {len(hours)} hourly ticks in turn      {', '.join(f'{t:.3f}' for t in slowest)} s wall; "
          f"median {float(np.median(slowest)):.3f} s (target < 1 s)")
    print(f"  memory per meter             {per_meter:8.0f} B of carried and learned state (target < 2048 B); "
          f"peak RSS {peak_mb:,.0f} MB in the largest shard")
    sys.stdout.flush()


def _receive(message: tuple, timed: list[dict], sizes: dict) -> None:
    """File a shard's message: ("tick", shard, k, seconds, alerts changed) or ("size", shard, bytes, peak MB)."""
    what, index, *figures = message
    if what == "tick":
        k, seconds, changed = figures
        timed[k][index] = (seconds, changed)
    else:
        sizes[index] = tuple(figures)


def _shard_ticks(shard: Shard, tmp: str, url: str, history: pd.DataFrame, args: argparse.Namespace, ticks: int,
                 ready, results) -> None:
    """One shard's process: warm up, then tick each hour when the parent has written it."""
    try:
        clock = {"now": _tick_time(-1)}
        db = Database(url)
        store = SqliteReadingsStore(Path(tmp) / "readings.db")
        monitor = _warmed_monitor(history, store, db, args.history_days, clock, shard)
        ready.wait()
        for k in range(ticks):
            ready.wait()
            clock["now"] = _tick_time(k)
            tick_started = time.perf_counter()
            reports = monitor.tick()
            results.put(("tick", shard.index, k, time.perf_counter() - tick_started, _changed(reports)))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results.put(("size", shard.index, state_bytes(monitor), peak_mb))
        store.close()
        db.dispose()
    except BaseException:
        ready.abort()  # the parent stops waiting, with an error, instead of an hour's timeout
        raise


if __name__ == "__main__":
    # As `anxin detect` does once built; only when run as a program, since the tests call main().
    freeze_startup_objects()
    main()
