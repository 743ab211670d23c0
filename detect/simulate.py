"""Believable water-meter readings for elderly people living alone, with labelled incidents.

Used to develop and backtest detectors and to feed demos; times are int64 epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

INCIDENT_KINDS = ("still", "still_drip", "dead_meter", "tap_running")
"""Incidents a safety alert answers (the evaluation harness maps each one to its alert kind)."""
DRIFT_KINDS = ("late_morning", "low_volume", "night_use")
"""Routine drifts, for the unusual-pattern detector: the resident still uses water, differently."""

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TAP_RUNNING_DEFAULT = pd.Timedelta(hours=3)
_MORNING_FROM_H = 4.0  # a day's first use is its first use from 04:00 on (earlier is the night)
_NIGHT_VISITS_H = (0.5, 4.5)  # extra night_use visits to the toilet fall in this part of the night


@dataclass(frozen=True)
class Incident:
    """Something that happens to one household from ``start`` for ``duration`` (None: to the end).

    ``still``: no water use; ``still_drip``: no use but a dripping tap; ``dead_meter``: the meter
    sends nothing; ``tap_running``: a tap runs at 3-8 L/min (3 hours unless a duration is given).

    Routine drifts (:data:`DRIFT_KINDS`), on each local day (or night) that starts inside the incident:
    ``late_morning``: the first use of the day from 04:00 on, and everything in the 2.5-4.5 hours
    after it, happen that much later (a new delay each day); ``low_volume``: every use that starts
    during the incident is cut to 25-40% of its volume (one factor per incident); ``night_use``:
    2-5 extra trips to the toilet (a flush, mostly a hand wash) between 00:30 and 04:30 each night.
    """

    meter_id: str
    kind: str
    start: pd.Timestamp
    duration: pd.Timedelta | None = None


@dataclass
class Simulation:
    """Readings (meter_id, ts_ms, total_l, received_ms) in arrival order, and the incidents behind them."""

    readings: pd.DataFrame
    incidents: pd.DataFrame


def simulate(
    *,
    households: int = 20,
    start: pd.Timestamp,
    days: float,
    cadence_s: int = 900,
    upload_every_s: int | None = None,
    incidents: Sequence[Incident] = (),
    random_state: int = 0,
    timezone: str = "Asia/Shanghai",
    resolution_l: float = 1.0,
    meter_prefix: str = "m",
) -> Simulation:
    """Simulate ``households`` meters over [start, start + days).

    Parameters
    ----------
    households : number of single-person households; meter ids are ``f"{meter_prefix}{i:04d}"``.
    start : tz-aware start of the simulation.
    days : length of the simulation in days.
    cadence_s : seconds between readings of one meter (each meter has its own phase).
    upload_every_s : None for meters that send each reading 1-20 s after taking it; otherwise
        readings are uploaded in batches, one per window of this many seconds, 1-60 s after the window.
    incidents : incidents to apply, see :class:`Incident`.
    random_state : seed; the same arguments and seed give the same simulation.
    timezone : the households' local time zone, which their daily routine follows.
    resolution_l : the meter's register resolution; totals are floored to it.
    meter_prefix : prefix of the meter ids.

    The readings are taken in [start, start + days); the last batch may arrive after the end.

    Examples
    --------
    >>> start = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
    >>> sim = simulate(households=2, start=start, days=1, cadence_s=3600,
    ...                incidents=[Incident("m0001", "still", start + pd.Timedelta(hours=6))])
    >>> sim.readings.groupby("meter_id").size().to_dict()
    {'m0000': 24, 'm0001': 24}
    >>> sim.incidents[["meter_id", "kind"]].values.tolist()
    [['m0001', 'still']]
    """
    tz = _check_args(households, start, days, cadence_s, upload_every_s, timezone, resolution_l)
    start_ms = _to_ms(start)
    end_ms = start_ms + round(days * DAY_MS)
    meter_ids = [f"{meter_prefix}{i:04d}" for i in range(households)]
    incident_frame = _incident_frame(incidents, meter_ids, start_ms, end_ms)
    midnight_ms = _local_midnights(start_ms, end_ms, tz)

    frames = []
    for meter_id, rng in zip(meter_ids, np.random.default_rng(random_state).spawn(households), strict=True):
        # Separate streams, so that an incident leaves the rest of a household's life unchanged.
        # The fifth (drift) stream is spawned after the others, so it leaves them as they were.
        routine_rng, sample_rng, arrival_rng, incident_rng, drift_rng = rng.spawn(5)
        own = incident_frame[incident_frame["meter_id"] == meter_id]
        events = _routine_events(routine_rng, midnight_ms)
        events = _apply_drifts(events, own[own["kind"].isin(DRIFT_KINDS)], drift_rng, midnight_ms)
        events = _apply_incidents(events, own, incident_rng)
        ts_ms = _sample_times(sample_rng, start_ms, end_ms, cadence_s)
        received_ms = _arrival_times(arrival_rng, ts_ms, start_ms, upload_every_s)
        alive = np.ones(len(ts_ms), dtype=bool)
        for row in own[own["kind"] == "dead_meter"].itertuples():
            alive &= (ts_ms < row.start_ms) | (ts_ms >= row.end_ms)
        ts_ms, received_ms = ts_ms[alive], received_ms[alive]
        volume = _integrate(events, np.append(ts_ms, start_ms).astype("float64"))
        register = sample_rng.uniform(10_000, 500_000) + volume[:-1] - volume[-1]
        total = np.round(np.floor(register / resolution_l) * resolution_l, 6)
        frames.append((meter_id, ts_ms, total, received_ms))

    readings = pd.DataFrame(
        {
            "meter_id": pd.Series(np.repeat([f[0] for f in frames], [len(f[1]) for f in frames]), dtype=object),
            "ts_ms": np.concatenate([f[1] for f in frames]).astype("int64"),
            "total_l": np.concatenate([f[2] for f in frames]).astype("float64"),
            "received_ms": np.concatenate([f[3] for f in frames]).astype("int64"),
        }
    )
    readings = readings.sort_values(["received_ms", "meter_id", "ts_ms"], kind="stable", ignore_index=True)
    return Simulation(readings=readings, incidents=incident_frame)


def _check_args(households, start, days, cadence_s, upload_every_s, timezone, resolution_l) -> ZoneInfo:
    if households < 1:
        raise ValueError(f"households must be at least 1, got {households}")
    if getattr(start, "tzinfo", None) is None:
        raise ValueError(f"start {start} has no time zone; pass e.g. pd.Timestamp(..., tz={timezone!r})")
    if not days > 0:
        raise ValueError(f"days must be positive, got {days}")
    if cadence_s <= 0:
        raise ValueError(f"cadence_s must be a positive number of seconds, got {cadence_s}")
    if upload_every_s is not None and upload_every_s <= 0:
        raise ValueError(f"upload_every_s must be positive or None (stream each reading), got {upload_every_s}")
    if not resolution_l > 0:
        raise ValueError(f"resolution_l must be positive, got {resolution_l}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {timezone!r}; use an IANA name such as 'Asia/Shanghai'") from exc


def _to_ms(t: pd.Timestamp) -> int:
    return pd.Timestamp(t).value // 1_000_000


def _incident_frame(incidents: Sequence[Incident], meter_ids: list[str], start_ms: int, end_ms: int) -> pd.DataFrame:
    known = set(meter_ids)
    rows = []
    for inc in incidents:
        if inc.kind not in (*INCIDENT_KINDS, *DRIFT_KINDS):
            raise ValueError(f"unknown incident kind {inc.kind!r}; use one of {(*INCIDENT_KINDS, *DRIFT_KINDS)}")
        if inc.meter_id not in known:
            raise ValueError(f"incident for unknown meter {inc.meter_id!r}; meters are {meter_ids[0]}..{meter_ids[-1]}")
        if getattr(inc.start, "tzinfo", None) is None:
            raise ValueError(f"incident start {inc.start} has no time zone; pass a tz-aware pd.Timestamp")
        at = _to_ms(inc.start)
        if not start_ms <= at < end_ms:
            raise ValueError(f"incident start {inc.start} is outside the simulated period")
        duration = inc.duration
        if duration is None and inc.kind == "tap_running":
            duration = TAP_RUNNING_DEFAULT
        if duration is not None and pd.Timedelta(duration) <= pd.Timedelta(0):
            raise ValueError(f"incident duration must be positive, got {duration}")
        # The label covers the simulated period only.
        until = end_ms if duration is None else min(end_ms, at + pd.Timedelta(duration).value // 1_000_000)
        rows.append((inc.meter_id, inc.kind, at, until))
    return pd.DataFrame(
        {
            "meter_id": pd.Series([r[0] for r in rows], dtype=object),
            "kind": pd.Series([r[1] for r in rows], dtype=object),
            "start_ms": np.array([r[2] for r in rows], dtype="int64"),
            "end_ms": np.array([r[3] for r in rows], dtype="int64"),
        }
    )


def _local_midnights(start_ms: int, end_ms: int, tz: ZoneInfo) -> np.ndarray:
    """Epoch ms of each local midnight from the day before the start (its night) to the last day."""
    first = pd.Timestamp(start_ms, unit="ms", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    last = pd.Timestamp(end_ms, unit="ms", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    days = pd.date_range(first - pd.Timedelta(days=1), last, freq="D")
    local = days.tz_localize(tz, ambiguous=np.zeros(len(days), dtype=bool), nonexistent="shift_forward")
    return local.as_unit("ms").asi8


@dataclass
class _Events:
    """Water use as intervals of constant flow (litres per millisecond)."""

    start: np.ndarray
    end: np.ndarray
    rate: np.ndarray


def _routine_events(rng: np.random.Generator, midnight_ms: np.ndarray) -> _Events:
    """A household's daily routine, each day a little different, in local time."""
    n = len(midnight_ms)
    u = rng.uniform
    # Who this household is.
    wake_mu, bed_mu = u(5.5, 7.5), u(21.0, 23.0)
    flush_l, scale = u(4.5, 7.5), u(0.8, 1.25)
    night_visits, bath_p, laundry_p, out_p = u(0.3, 1.2), 1 / u(5, 9), u(1, 2) / 7, u(0.05, 0.15)

    # How today goes.
    wake = np.clip(wake_mu + rng.normal(0, 0.25, n), 4.5, 8.5)
    bed = np.clip(bed_mu + rng.normal(0, 0.35, n), 20.0, 24.0)
    out = rng.random(n) < out_p
    # Most days out end in the afternoon; one in five runs into the evening (family, a trip).
    out_from = u(8.25, 8.75, n)
    out_until = np.where(rng.random(n) < 0.2, u(19.5, 22.0, n), u(16.5, 17.5, n))
    lunch, dinner = u(10.75, 11.75, n), u(16.75, 18.25, n)

    starts, ends, rates = [], [], []

    def add(hour, litres, l_per_min, keep=True):
        hour, litres, l_per_min, keep = np.broadcast_arrays(hour, litres, l_per_min, keep)
        day = (slice(None),) + (None,) * (hour.ndim - 1)
        # Nobody uses water at home on a day out.
        keep = keep & ~(out[day] & (hour >= out_from[day]) & (hour < out_until[day]))
        at = midnight_ms[day] + hour * HOUR_MS
        starts.append(at[keep])
        ends.append((at + litres / l_per_min * 60_000)[keep])
        rates.append((l_per_min / 60_000)[keep])

    def per_day(k, low, high):
        return u(np.asarray(low)[:, None], np.asarray(high)[:, None], (n, k))

    # Morning: toilet, washing, a kettle for tea.
    add(wake + u(0, 0.15, n), flush_l, 8.0)
    add(wake + u(0.1, 0.4, n), scale * u(3, 10, n), u(3, 6, n))
    add(wake + u(0.3, 0.8, n), u(1, 3, n), 4.0)
    # Cooking and dish washing, lunch and dinner.
    for meal in (lunch, dinner):
        add(meal, scale * u(5, 15, n), u(2, 4, n))
        add(meal + u(0.75, 1.5, n), scale * u(4, 12, n), u(3, 6, n))
    # Toilet during the day (with the morning and bedtime flushes, 5-8 a day), mostly washing hands after.
    flushes = per_day(6, wake + 0.5, bed - 0.5)
    taken = np.arange(6) < rng.integers(3, 7, n)[:, None]
    add(flushes, flush_l, 8.0, taken)
    add(flushes + 0.025, scale * u(0.5, 2, (n, 6)), u(3, 6, (n, 6)), taken & (rng.random((n, 6)) < 0.8))
    add(per_day(3, wake, bed), scale * u(0.5, 2, (n, 3)), u(3, 6, (n, 3)),
        np.arange(3) < rng.integers(1, 4, n)[:, None])
    # Sometimes a bucket for mopping the floor.
    add(u(wake + 1, 11.0), scale * u(6, 12, n), 8.0, rng.random(n) < 0.25)
    # Bedtime, and 0-2 trips to the toilet in the night.
    add(bed - u(0.3, 0.6, n), scale * u(1, 4, n), u(3, 5, n))
    add(bed - u(0.05, 0.25, n), flush_l, 8.0)
    nights = per_day(2, bed + 0.75, 24 + wake - 0.5)
    woke = np.arange(2) < np.minimum(rng.poisson(night_visits, n), 2)[:, None]
    add(nights, flush_l, 8.0, woke)
    add(nights + 0.02, u(0.5, 1.5, (n, 2)), 4.0, woke & (rng.random((n, 2)) < 0.6))
    # A bath or shower about once a week, laundry once or twice (three fills of the machine).
    add(u(18.5, bed - 0.5), scale * u(60, 120, n), u(6, 10, n), rng.random(n) < bath_p)
    washing = rng.random(n) < laundry_p
    wash_at, wash_l = u(wake + 1, 15.5), u(40, 60, n) / 3
    for fill in range(3):
        add(wash_at + 0.35 * fill, wash_l, 10.0, washing)

    start, end, rate = np.concatenate(starts), np.concatenate(ends), np.concatenate(rates)
    home = ~_inside(start, _stays_away(rng, midnight_ms, per_month=u(0.5, 2.0)))
    return _Events(start[home], end[home], rate[home])


def _stays_away(rng: np.random.Generator, midnight_ms: np.ndarray, per_month: float) -> np.ndarray:
    """Nights away (at a child's, in hospital, travelling): (leave, return) intervals in ms, sorted."""
    n = len(midnight_ms)
    stays = rng.poisson(per_month * n / 30)
    days = np.sort(rng.choice(n, size=min(stays, n), replace=False))
    leave = midnight_ms[days] + rng.uniform(8.0, 15.0, len(days)) * HOUR_MS
    back = leave + (rng.integers(1, 4, len(days)) * 24 + rng.uniform(-2.0, 4.0, len(days))) * HOUR_MS
    back = np.maximum.accumulate(back)  # overlapping stays merge into one
    return np.column_stack([leave, back])


def _inside(times: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Which of ``times`` fall inside any of the sorted ``intervals`` (an n x 2 array)."""
    if len(intervals) == 0:
        return np.zeros(len(times), dtype=bool)
    i = np.searchsorted(intervals[:, 0], times, side="right") - 1
    return (i >= 0) & (times < intervals[np.maximum(i, 0), 1])


def _apply_incidents(events: _Events, incidents: pd.DataFrame, rng: np.random.Generator) -> _Events:
    start, end, rate = events.start, events.end, events.rate
    extra = []
    for row in incidents.itertuples():
        if row.kind in ("still", "still_drip"):
            # The resident stops: nothing starts during the incident, and a use under way stops.
            keep = (start < row.start_ms) | (start >= row.end_ms)
            start, end, rate = start[keep], end[keep], rate[keep]
            end = np.where(start < row.start_ms, np.minimum(end, row.start_ms), end)
        if row.kind == "still_drip":
            extra.append((row.start_ms, row.end_ms, rng.uniform(0.3, 1.0) / HOUR_MS))
        elif row.kind == "tap_running":
            extra.append((row.start_ms, row.end_ms, rng.uniform(3, 8) / 60_000))
    if extra:
        more = np.array(extra, dtype="float64")
        start, end, rate = np.append(start, more[:, 0]), np.append(end, more[:, 1]), np.append(rate, more[:, 2])
    return _Events(start, end, rate)


def _apply_drifts(events: _Events, drifts: pd.DataFrame, rng: np.random.Generator, midnight_ms: np.ndarray) -> _Events:
    """The routine changed by the drift incidents (see :class:`Incident`), applied in their order."""
    for row in drifts.itertuples():
        days = midnight_ms[(midnight_ms >= row.start_ms) & (midnight_ms < row.end_ms)]
        if row.kind == "late_morning":
            events = _late_mornings(events, days, rng)
        elif row.kind == "low_volume":
            events = _low_volume(events, row.start_ms, row.end_ms, rng.uniform(0.25, 0.4))
        elif row.kind == "night_use":
            events = _night_visits(events, days, rng)
    return events


def _late_mornings(events: _Events, midnights: np.ndarray, rng: np.random.Generator) -> _Events:
    """On each day, the first use from 04:00 on and what follows within the delay happen later by the delay."""
    start, end = events.start.copy(), events.end.copy()
    for midnight, delay_h in zip(midnights, rng.uniform(2.5, 4.5, len(midnights)), strict=True):
        morning = midnight + _MORNING_FROM_H * HOUR_MS
        candidates = start[(start >= morning) & (start < midnight + DAY_MS)]
        if len(candidates) == 0:
            continue
        first = candidates.min()
        moved = (events.start >= first) & (events.start < first + delay_h * HOUR_MS)
        start[moved] += delay_h * HOUR_MS
        end[moved] += delay_h * HOUR_MS
    return _Events(start, end, events.rate)


def _low_volume(events: _Events, start_ms: int, end_ms: int, factor: float) -> _Events:
    """Every use starting in [start_ms, end_ms) lasts ``factor`` of its time, at the same flow."""
    during = (events.start >= start_ms) & (events.start < end_ms)
    end = np.where(during, events.start + (events.end - events.start) * factor, events.end)
    return _Events(events.start, end, events.rate)


def _night_visits(events: _Events, midnights: np.ndarray, rng: np.random.Generator) -> _Events:
    """2-5 extra flushes each night, 80% of them followed by a hand wash."""
    flush_l = rng.uniform(4.5, 7.5)
    visits = rng.integers(2, 6, len(midnights))
    at = np.repeat(midnights, visits) + rng.uniform(*_NIGHT_VISITS_H, visits.sum()) * HOUR_MS
    wash = rng.random(len(at)) < 0.8
    wash_at, wash_l = at[wash] + 0.02 * HOUR_MS, rng.uniform(0.5, 1.5, wash.sum())
    flush_rate, wash_rate = 8.0 / 60_000, 4.0 / 60_000
    start = np.concatenate([events.start, at, wash_at])
    end = np.concatenate([events.end, at + flush_l / flush_rate, wash_at + wash_l / wash_rate])
    rate = np.concatenate([events.rate, np.full(len(at), flush_rate), np.full(len(wash_at), wash_rate)])
    return _Events(start, end, rate)


def _integrate(events: _Events, at_ms: np.ndarray) -> np.ndarray:
    """Litres used from the first event until each time in ``at_ms``: the integral of the flow."""
    if len(events.start) == 0:
        return np.zeros(len(at_ms))
    times = np.concatenate([events.start, events.end])
    order = np.argsort(times, kind="stable")
    times = times[order]
    slope = np.cumsum(np.concatenate([events.rate, -events.rate])[order])
    # Rounding can leave a tiny negative slope after the last event ends; a register never runs back.
    slope = np.maximum(slope, 0.0)
    volume = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(times))])
    return np.interp(at_ms, times, volume)


def _sample_times(rng: np.random.Generator, start_ms: int, end_ms: int, cadence_s: int) -> np.ndarray:
    first = start_ms + int(rng.integers(0, cadence_s)) * 1000
    return np.arange(first, end_ms, cadence_s * 1000, dtype="int64")


def _arrival_times(
    rng: np.random.Generator, ts_ms: np.ndarray, start_ms: int, upload_every_s: int | None
) -> np.ndarray:
    if upload_every_s is None:
        return ts_ms + rng.integers(1_000, 20_001, len(ts_ms))
    window_ms = upload_every_s * 1000
    phase = int(rng.integers(0, window_ms))
    window = (ts_ms - start_ms - phase) // window_ms
    first = int(window.min()) if len(window) else 0
    delays = rng.integers(1_000, 60_001, (int(window.max()) - first + 1) if len(window) else 0)
    return start_ms + phase + (window + 1) * window_ms + delays[window - first]
