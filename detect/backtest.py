"""Backtests: replay readings through the live detectors in data time, without look-ahead.

A backtest is one ``step`` over the whole history. Each detector is causal by construction: an
episode's ``raised_ms`` is the arrival of the last reading it depends on. A detector that learns
from history (``learns_from_history``) walks forward as the live monitor does: every
``refit_days`` it is refitted on what had arrived by then, and steps on what arrives next. A
detector that regroups others' episodes (``regroups``: the fleet outage) steps after them, over
their episodes, exactly as the monitor does each tick.

With ``jobs`` > 1 the meters are split into that many contiguous shards, stepped in parallel worker
processes. The alerts are the same as with one: each detector judges a meter from its own readings
but for two things, which every shard takes from the whole history (:class:`_ArrivalClock`): the
times of the refits, and the newest data time a refit sees. A detector that learns across meters
(``learns_across_meters``, such as a pooled model) and one that regroups others' episodes step over
every meter in the parent process.
"""

from __future__ import annotations

import inspect
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from detect import register
from detect.csvio import (ALERTS_CSV_COLUMNS, CsvFormatError, parse_times_ms, refuse_blank_meter_ids,
                          refuse_times_without_offset, to_iso)
from detect.episodes import concat_episodes, empty_episodes, objects, row_ranges, sort_readings


_DAY_MS = 86_400_000
AWAY_CSV_COLUMNS = ["meter_id", "start", "end"]


def learns(detector) -> bool:
    """Whether a detector is refitted on history (by the monitor, and by a backtest as it goes)."""
    return getattr(detector, "learns_from_history", False) and getattr(detector, "learn", True)


def regroups(detector) -> str | None:
    """The kind of episodes a detector regroups after the others have stepped (fleet outages: meter_offline)."""
    return getattr(detector, "regroups", None)


def learns_across_meters(detector) -> bool:
    """Whether a detector's judgement of one meter depends on other meters' readings (a pooled model)."""
    return getattr(detector, "learns_across_meters", False)


def takes_away(detector) -> bool:
    """Whether a detector's ``step`` honours away windows (``away=``), as the inactivity detector does."""
    return "away" in inspect.signature(detector.step).parameters


def in_step_order(detectors: Sequence) -> list:
    """Detectors that regroup others' episodes step last, once the episodes they regroup exist."""
    return sorted(detectors, key=lambda d: regroups(d) is not None)


def regroup(detector, by_kind: dict[str, pd.DataFrame], readings: pd.DataFrame, carry, *, until_ms: int):
    """Step a regrouping detector over ``by_kind[detector.regroups]``; it replaces those episodes
    in ``by_kind`` with the ones it keeps and adds its own. Returns its carry."""
    source = by_kind.get(detector.regroups, empty_episodes())
    episodes, carry = detector.step(readings, carry, until_ms=until_ms, episodes=source)
    for kind in (detector.regroups, detector.kind):
        by_kind[kind] = episodes[episodes["kind"] == kind]
    return carry


def backtest(
    readings: pd.DataFrame,
    detectors: Sequence,
    *,
    until_ms: int | None = None,
    refit_days: float = 7.0,
    away: pd.DataFrame | None = None,
    jobs: int = 1,
) -> pd.DataFrame:
    """Every episode the detectors raise on ``readings`` (meter_id, ts_ms, total_l, received_ms).

    ``until_ms`` is the data time the replay stops at (default: the last arrival), which decides
    whether a silence still running at the end is reported as ongoing. ``away`` holds the away
    windows (meter_id, start_ms, end_ms), passed to the detectors that honour them. ``jobs`` is the
    number of worker processes that step shards of the meters (1: none, all in this process).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, got {jobs!r}")
    if until_ms is None:
        until_ms = int(readings["received_ms"].max()) if len(readings) else 0
    readings = readings[readings["received_ms"] <= until_ms]
    # Meters as integer codes in the order of their ids: every sort and grouping below is on
    # integers, and the detectors consume the meters in the same order as they would the ids.
    names, readings, away = _encode(readings, away)
    replay = _Replay(until_ms, int(refit_days * _DAY_MS), _ArrivalClock(readings))
    ordered = in_step_order(detectors)
    per_meter = [d for d in ordered if not regroups(d) and not learns_across_meters(d)]
    pooled = [d for d in ordered if not regroups(d) and learns_across_meters(d)]
    shards = _meter_shards(readings, min(jobs, len(names))) if per_meter else []
    if len(shards) > 1:
        found = _in_workers(readings, away, per_meter, replay, shards, also=lambda: replay.run(readings, away, pooled))
    else:
        found = [replay.run(readings, away, per_meter + pooled)]
    by_kind: dict[str, pd.DataFrame] = {}
    for detector in ordered:  # each kind's episodes in the order one process finds them
        if regroups(detector):
            regroup(detector, by_kind, readings, None, until_ms=until_ms)
        else:
            by_kind[detector.kind] = concat_episodes(
                [by_kind.get(detector.kind, empty_episodes()), *(part[id(detector)] for part in found
                                                                if id(detector) in part)])
    episodes = decode_meters(concat_episodes(list(by_kind.values())), names)
    return episodes.sort_values(["raised_ms", "meter_id", "kind"], kind="stable").reset_index(drop=True)


class _ArrivalClock:
    """What a refit needs to know of the whole history, whichever meters it is given: the day the
    first reading arrived (the refits are every ``refit_days`` from it), and the newest data time
    among the readings that had arrived by a time (a refit learns from ``history_days`` before it)."""

    def __init__(self, readings: pd.DataFrame):
        received = readings["received_ms"].to_numpy("int64")
        by_arrival = np.argsort(received, kind="stable")
        self.arrival_order = received[by_arrival]
        self.newest_by_arrival = np.maximum.accumulate(readings["ts_ms"].to_numpy("int64")[by_arrival])
        self.first_day_ms = int(received.min()) // _DAY_MS * _DAY_MS if len(received) else 0

    def newest_before(self, t: int) -> int | None:
        """The newest data time of the readings received before ``t`` (None: none had arrived)."""
        arrived = int(np.searchsorted(self.arrival_order, t))
        return int(self.newest_by_arrival[arrived - 1]) if arrived else None


class _Replay:
    """One replay's settings, stepping some detectors over some meters' readings."""

    def __init__(self, until_ms: int, refit_ms: int, clock: _ArrivalClock):
        self.until_ms, self.refit_ms, self.clock = until_ms, refit_ms, clock

    def run(self, readings: pd.DataFrame, away: pd.DataFrame | None, detectors: Sequence) -> dict[int, pd.DataFrame]:
        """Per detector (by ``id``), its episodes on ``readings`` (meter codes, ``sort_readings`` order)."""
        history = _History(readings, self.clock)  # worked out once, shared by the detectors
        found = {}
        for detector in detectors:
            windows = {"away": away} if away is not None and takes_away(detector) else {}
            if learns(detector):
                found[id(detector)] = _walk_forward(readings, detector, self, windows, history)
            else:
                shared = {"steps": history.steps(detector)} if register.takes_steps(detector) else {}
                found[id(detector)] = detector.step(readings, None, until_ms=self.until_ms, **windows, **shared)[0]
        return found


def _meter_shards(readings: pd.DataFrame, count: int) -> list[tuple[int, int]]:
    """``count`` row ranges of readings in ``sort_readings`` order, each whole meters, of near equal size."""
    if count <= 1 or readings.empty:
        return [(0, len(readings))]
    meters = readings["meter_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
    cuts = starts[np.searchsorted(starts, np.arange(1, count) * len(readings) / count)]
    bounds = np.unique(np.r_[0, cuts[cuts > 0], len(readings)])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


# What the worker processes of one sharded backtest step: inherited at the fork, not pickled.
_WORK: tuple | None = None


def _in_workers(readings, away, detectors, replay, shards, also) -> list[dict[int, pd.DataFrame]]:
    """Each shard's episodes, stepped in a worker process of its own, and ``also()`` run here meanwhile."""
    global _WORK
    _WORK = (readings, away, detectors, replay)
    try:
        # Fork: the workers share the readings as they are, where a spawned one would copy them.
        with ProcessPoolExecutor(len(shards), mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_shard, first, stop) for first, stop in shards]
            here = also()
            found = [future.result() for future in futures]
    finally:
        _WORK = None
    # The episodes come back keyed by the workers' copies of the detectors: key them by the originals.
    ids = [id(d) for d in detectors]
    return [{ids[i]: episodes for i, episodes in enumerate(part)} for part in found] + [here]


def _run_shard(first: int, stop: int) -> list[pd.DataFrame]:
    """In a worker: each detector's episodes on the readings of rows [first, stop), in detector order."""
    readings, away, detectors, replay = _WORK
    shard = readings.iloc[first:stop].reset_index(drop=True)
    if away is not None:
        meters = shard["meter_id"].to_numpy()
        away = away[away["meter_id"].between(meters[0], meters[-1])]
    found = replay.run(shard, away, detectors)
    return [found[id(d)] for d in detectors]


def _encode(readings: pd.DataFrame, away: pd.DataFrame | None) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame | None]:
    """Readings (and away windows) with meter_id replaced by its rank among the meter ids, and the ids."""
    codes, names = pd.factorize(readings["meter_id"].to_numpy(dtype=object), sort=True)
    readings = sort_readings(readings.assign(meter_id=codes.astype("int64")))
    if away is not None:
        known = away["meter_id"].isin(names).to_numpy()
        away = away[known].assign(meter_id=pd.Index(names).get_indexer(away["meter_id"][known]).astype("int64"))
    return np.asarray(names, dtype=object), readings, away


def decode_meters(episodes: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """Episodes with meter codes (positions in ``names``) turned back into meter ids (the fleet's own id is kept)."""
    if episodes.empty:
        return episodes.assign(meter_id=episodes["meter_id"].astype(object))
    ids = episodes["meter_id"].to_numpy(dtype=object).copy()
    coded = np.fromiter((not isinstance(m, str) for m in ids), dtype=bool, count=len(ids))
    ids[coded] = names[ids[coded].astype("int64")]
    return episodes.assign(meter_id=objects(ids, episodes.index))


def _walk_forward(readings: pd.DataFrame, detector, replay: _Replay, windows: dict, history: _History) -> pd.DataFrame:
    """Refit on what had arrived at each refit time, then step through what arrives until the next."""
    until_ms, refit_ms = replay.until_ms, replay.refit_ms
    if readings.empty:
        return detector.step(readings, None, until_ms=until_ms, **windows)[0]
    # A detector that learns only from the newest ``history_days`` of what it is given gets only those.
    newest_only = getattr(detector, "learns_from_newest_days", False)
    history_days_ms = int(detector.history_days * _DAY_MS) if newest_only else None
    # Such a detector can be handed its register steps: computed once per backtest, not at every refit.
    history_steps = history.steps(detector)[0] if newest_only and _fits_from_steps(detector) else None
    # Such a detector may judge the whole history once, and take each refit's judgements from it.
    judged = detector.judge_history(history_steps) if history_steps is not None and hasattr(
        detector, "judge_history") else None
    # Such a detector may learn each refit from the whole history's, not from the window's steps.
    refits = detector.refits_on_history(history_steps) if history_steps is not None and hasattr(
        detector, "refits_on_history") else None
    rows = history.rows
    carry, closed, episodes = None, [], None
    for begin in range(replay.clock.first_day_ms, until_ms + 1, refit_ms):
        end = min(begin + refit_ms, until_ms + 1)
        known = rows.known(begin, history_days_ms)
        if refits is not None:
            fitted = refits.fit(known)
        elif history_steps is not None:
            # The window's steps carry the readings' columns too: they are the readings fit is given.
            steps = _window_steps(history_steps, known, detector)
            days = {"days": judged.window(steps, known)} if judged is not None else {}
            fitted = clone(detector).fit(steps, steps=steps, **days)
        else:
            fitted = clone(detector).fit(readings.take(known))
        piece = readings.take(rows.arrived(begin, end))
        episodes, carry = fitted.step(piece, carry, until_ms=end - 1, **windows)
        closed.append(episodes[episodes["ended_ms"].notna()])
    return concat_episodes([*closed, episodes[episodes["ended_ms"].isna()]])


class _RowFinder:
    """The rows (positions, in order) of readings in ``sort_readings`` order that had arrived by a time,
    or that arrive between two times, found per meter by binary search instead of a pass over all.

    Within a meter the rows are ordered by arrival, so what had arrived by a time is a prefix of the
    meter's rows; when they are ordered in data time too (no late reading), what is newer than a
    time is a suffix. Otherwise the rows are found by comparing every one.
    """

    def __init__(self, readings: pd.DataFrame, clock: _ArrivalClock):
        meters = readings["meter_id"].to_numpy()
        self.received = readings["received_ms"].to_numpy("int64")
        self.ts = readings["ts_ms"].to_numpy("int64")
        self.clock = clock
        codes = np.cumsum(np.r_[True, meters[1:] != meters[:-1]]) - 1
        self.meter_codes = np.arange(int(codes[-1]) + 1)
        self.by_received = _MeterTimeKey(codes, self.received)
        by_ts = _MeterTimeKey(codes, self.ts)
        self.by_ts = by_ts if by_ts.key is not None and (np.diff(by_ts.key) >= 0).all() else None

    def known(self, begin: int, history_days_ms: int | None) -> np.ndarray:
        """Rows received before ``begin``; with ``history_days_ms``, only those within it of the newest of them."""
        cutoff = self._cutoff(begin, history_days_ms)
        if self.by_received.key is None:
            known = self.received < begin
            return np.flatnonzero(known if cutoff is None else known & (self.ts >= cutoff))
        upto = self.by_received.first_at(self.meter_codes, begin)
        if cutoff is not None and self.by_ts is not None:
            return row_ranges(self.by_ts.first_at(self.meter_codes, cutoff), upto)
        rows = row_ranges(self.by_received.first_at(self.meter_codes, None), upto)
        return rows if cutoff is None else rows[self.ts[rows] >= cutoff]

    def arrived(self, begin: int, end: int) -> np.ndarray:
        """Rows received at or after ``begin`` and before ``end``."""
        if self.by_received.key is None:
            return np.flatnonzero((self.received >= begin) & (self.received < end))
        return row_ranges(self.by_received.first_at(self.meter_codes, begin),
                          self.by_received.first_at(self.meter_codes, end))

    def _cutoff(self, begin: int, history_days_ms: int | None) -> int | None:
        """The oldest data time a refit at ``begin`` learns from (None: all): of the whole history, not
        only of these readings' meters."""
        newest = self.clock.newest_before(begin) if history_days_ms is not None else None
        return None if newest is None else newest - history_days_ms


class _MeterTimeKey:
    """One int64 per row ordered as (meter code, time), for binary searches per meter (None: too wide)."""

    def __init__(self, codes: np.ndarray, times: np.ndarray):
        self.low, self.span = int(times.min()), int(times.max() - times.min()) + 1
        fits = (int(codes[-1]) + 1) * self.span < 2**62
        self.key = codes * self.span + (times - self.low) if fits else None

    def first_at(self, meter_codes: np.ndarray, t: int | None) -> np.ndarray:
        """Per meter, its first row whose time is at or after ``t`` (None: its first row), else its end."""
        at = 0 if t is None else min(max(t - self.low, 0), self.span)
        return np.searchsorted(self.key, meter_codes * self.span + at)


def _fits_from_steps(detector) -> bool:
    """Whether a detector's ``fit`` accepts the register steps of its readings (``steps=``)."""
    return "steps" in inspect.signature(detector.fit).parameters


class _History:
    """What the detectors of a backtest need of the same readings (in ``sort_readings`` order),
    worked out once and shared (read only): the register steps of the whole history, row for row,
    and where each refit's rows are."""

    def __init__(self, readings: pd.DataFrame, clock: _ArrivalClock):
        self.readings, self.clock = readings, clock
        self._steps = register.SharedSteps(readings)

    @cached_property
    def rows(self) -> _RowFinder:
        return _RowFinder(self.readings, self.clock)

    def steps(self, detector) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The register steps of the whole history with no carry, and the carry after them."""
        return self._steps.steps(detector, None)


def _window_steps(history_steps: pd.DataFrame, rows: np.ndarray, detector) -> pd.DataFrame:
    """The register steps of the readings at ``rows`` of the history on their own, with no carry,
    exactly as ``consumption_steps(window, None)`` gives them, taken from the whole history's steps.

    Alone, a meter's first row in the window has no consumption (NaN, no note) and becomes the
    baseline. In the whole history, once a row has left the baseline at itself (any note but
    ``register.BASELINE_ELSEWHERE``), every later row is judged the same way whatever came before it. So a
    meter's window rows are the history's, but for the first one, when they are contiguous there,
    none is stale there (a stale row may not be stale in the window alone) and the first one left
    the baseline at itself. The other meters' rows (rare: a register fault or a late reading at the
    window's start) are judged again on their own.
    """
    steps = history_steps.take(rows).reset_index(drop=True)
    if steps.empty:
        return steps
    meters = steps["meter_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
    ends = np.r_[starts[1:], len(meters)] - 1
    note = steps["note"].to_numpy(dtype=object).copy()
    consumption = steps["consumption_l"].to_numpy(dtype="float64").copy()
    contiguous = rows[ends] - rows[starts] == ends - starts
    stale = np.add.reduceat((note == "stale").astype("int64"), starts) > 0
    elsewhere = pd.Series(note[starts], dtype=object).isin(register.BASELINE_ELSEWHERE).to_numpy()
    consumption[starts], note[starts] = np.nan, None
    again = ~contiguous | stale | elsewhere
    if again.any():
        redo = np.repeat(again, ends - starts + 1)
        readings = steps.loc[redo, list(history_steps.columns.drop(["consumption_l", "note"]))]
        alone, _ = register.consumption_steps(readings, None, max_flow_l_per_h=detector.max_flow_l_per_h)
        consumption[redo] = alone["consumption_l"].to_numpy(dtype="float64")
        note[redo] = alone["note"].to_numpy(dtype=object)
    return steps.assign(consumption_l=consumption, note=pd.Series(note, index=steps.index, dtype=object))


def read_away_csv(path: str | Path) -> pd.DataFrame:
    """An away-windows CSV (``meter_id,start,end``, ISO 8601 with an offset) as meter_id, start_ms, end_ms."""
    raw = pd.read_csv(path, dtype={"meter_id": str, "start": str, "end": str}, keep_default_na=False)
    missing = [c for c in AWAY_CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise CsvFormatError(f"{path}: missing column(s) {missing}; an away CSV has meter_id,start,end")
    refuse_blank_meter_ids(raw["meter_id"], path)
    for column in ("start", "end"):
        refuse_times_without_offset(raw[column], column, path)
    start, end = parse_times_ms(raw["start"], "start"), parse_times_ms(raw["end"], "end")
    backwards = ~(end > start)
    if backwards.any():
        line = int(np.flatnonzero(backwards)[0]) + 2
        raise CsvFormatError(f"{path}: line {line}: a window must end after it starts")
    return pd.DataFrame({"meter_id": raw["meter_id"].astype(object), "start_ms": start, "end_ms": end})


def write_alerts_csv(episodes: pd.DataFrame, path: str | Path, timezone: str) -> None:
    """Episodes in the alerts-CSV format: meter_id,kind,severity,started_at,raised_at,ended_at."""
    ended = episodes["ended_ms"].astype("float64")  # <NA> becomes NaN, written as an empty field
    pd.DataFrame(
        {
            "meter_id": episodes["meter_id"].to_numpy(),
            "kind": episodes["kind"].to_numpy(),
            "severity": episodes["severity"].to_numpy(),
            "started_at": to_iso(episodes["started_ms"].to_numpy(), timezone).to_numpy(),
            "raised_at": to_iso(episodes["raised_ms"].to_numpy(), timezone).to_numpy(),
            "ended_at": to_iso(ended.to_numpy(), timezone).to_numpy(),
        },
        columns=ALERTS_CSV_COLUMNS,
    ).to_csv(path, index=False)
