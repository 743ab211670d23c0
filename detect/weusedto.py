"""Real data: the WEUSEDTO apartment (one person living alone, Naples, 2019-2020) as smart-meter readings.

Every water fixture of the flat was metered; summed, they are what a whole-home meter would have
counted. This module turns them into a readings frame at a meter's cadence, only while the data
set was recording, and injects labelled incidents in the simulator's format, so that a detector
can be evaluated on one real life as well as on ``detect.simulate``'s synthetic ones.

The data (CC BY 4.0; A. Di Mauro, S. Venticinque, G.F. Santonastaso, A. Di Nardo, "WEUSEDTO -
Water End USE Dataset and TOols") lives outside the repository, in ``../shared/data/weusedto``
(see :func:`default_path`). What its files hold, as checked against the data:

- ``feed_<Fixture>.MYD.csv`` (Bidet, Kitchenfaucet, Shower, Washbasin, Washingmachine): rows of
  epoch seconds and flow in **mL/s**, about one a second while water runs and a zero *heartbeat*
  about every 301 s while the sensor is idle. The unit is not stated; the authors' own code divides
  flow by 1000 and integrates over seconds to get litres, and it gives plausible volumes: a shower
  at 90 mL/s (5.4 L/min), a tap at 2-3 L/min, a washing-machine fill at about 11 L/min, and a median
  of about 55 L a day over fully recorded days.
- ``feed.Toilet.csv`` and ``feed_Dishwasher30.MYD.csv``: event lists ``start flow end``; a flush is
  12 mL/s for 360 s (4.3 L), a dishwasher cycle 10.2 mL/s for 1800 s (18.4 L). They have no
  heartbeats, so they say nothing about whether the system was recording.
- ``feed_WholeHouse.MYD.csv`` (August 2020 only) is not used: its values (up to 3.6e8, some
  negative) are not a flow, as the data set's own notes warn.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from detect.simulate import INCIDENT_KINDS
from store.readings import READING_DTYPES

TIMEZONE = "Europe/Rome"
SAMPLED_FIXTURES = ("Bidet", "Kitchenfaucet", "Shower", "Washbasin", "Washingmachine")
EVENT_FIXTURES = ("Toilet", "Dishwasher30")
CADENCES = ("15min", "1h", "daily")
FLOW_COLUMNS = ["fixture", "start_ms", "end_ms", "litres"]
INCIDENT_DTYPES = {"meter_id": object, "kind": object, "start_ms": "int64", "end_ms": "int64"}
DEFAULT_DURATIONS = {
    "still": pd.Timedelta(hours=24),
    "still_drip": pd.Timedelta(hours=24),
    "dead_meter": pd.Timedelta(hours=72),  # a dead meter stays dead until someone repairs it
    "tap_running": pd.Timedelta(hours=12),  # the continuous-flow target: caught within 10 h
}

_SECOND_MS = 1000
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_MONTH_MS = 30 * _DAY_MS  # a household-month, as the evaluation harness counts it
_CADENCE_MS = {"15min": 900_000, "1h": _HOUR_MS, "daily": _HOUR_MS}  # daily: hourly readings, one upload a day
_MARGIN_MS = _DAY_MS  # an injected incident starts and ends at least this far inside its monitored period


def default_path() -> Path | None:
    """The data directory, ``<repo root>/../shared/data/weusedto``, or None where it is absent."""
    path = (Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "weusedto").resolve()
    return path if path.is_dir() else None


def load_flows(path: str | Path | None = None, *, max_hold_s: float = 4.0) -> pd.DataFrame:
    """The household's water use: one row per interval of constant flow, every fixture together.

    Columns ``fixture``, ``start_ms``, ``end_ms`` (epoch ms, UTC) and ``litres`` used in
    [start_ms, end_ms), ordered by ``start_ms``. A flow sample holds until the next sample of
    the same fixture but for at most ``max_hold_s`` seconds (the authors' own event splitter
    treats a longer gap as the end of a use), so a gap between samples never creates volume. A
    file's last sample holds for one second. Zero-flow heartbeats are kept (with zero litres):
    :func:`monitored_periods` needs them. Event lists become one interval per event.

    Parameters
    ----------
    path : the data directory; None uses :func:`default_path`.
    max_hold_s : the longest a flow sample is taken to last.
    """
    directory = _data_dir(path)
    if not max_hold_s >= 1:
        raise ValueError(f"max_hold_s must be at least one second (the sampling period), got {max_hold_s!r}")
    frames = []
    for fixture in (*SAMPLED_FIXTURES, *EVENT_FIXTURES):
        raw = _read_fixture(directory, fixture)
        start = raw[:, 0].astype("int64") * _SECOND_MS
        if fixture in SAMPLED_FIXTURES:
            held = np.minimum(np.diff(start, append=start[-1] + _SECOND_MS), round(max_hold_s * _SECOND_MS))
            end = start + held
        else:
            end = raw[:, 2].astype("int64") * _SECOND_MS
        litres = raw[:, 1] * (end - start) / 1e6  # mL/s times ms
        frames.append(_flows(fixture, start, end, litres))
    return pd.concat(frames, ignore_index=True).sort_values("start_ms", kind="stable", ignore_index=True)


def monitored_periods(
    flows: pd.DataFrame,
    *,
    max_gap: str | pd.Timedelta = "1h",
    min_length: str | pd.Timedelta = "1h",
    fixtures: Iterable[str] = SAMPLED_FIXTURES,
) -> pd.DataFrame:
    """The spans [start_ms, end_ms) in which the data set was recording.

    The sensors of ``fixtures`` send a heartbeat about every 301 s even when no water runs, so a
    stretch longer than ``max_gap`` with no sample from any of them means the system was down,
    not that the resident was still. The default of one hour is twelve missed heartbeats of every
    sensor at once. A longer rule would pass off outages as stillness: the toilet, metered
    separately, was flushed during many of the 1-2 day outages of 2019. A period ends one second
    after its last sample; one shorter than ``min_length`` is dropped (two bursts of a few minutes
    when the sensors were installed, on 13 February 2019, would hold no reading at all).

    Examples
    --------
    >>> s = 1000
    >>> flows = pd.DataFrame({"fixture": ["Shower"] * 3, "start_ms": [0, 300 * s, 9000 * s],
    ...                       "end_ms": [s, 301 * s, 9001 * s], "litres": [0.0, 0.0, 0.0]})
    >>> monitored_periods(flows, min_length="0s").values.tolist()
    [[0, 301000], [9000000, 9001000]]
    """
    gap_ms = pd.Timedelta(max_gap).value // 1_000_000
    min_ms = pd.Timedelta(min_length).value // 1_000_000
    if gap_ms <= 0 or min_ms < 0:
        raise ValueError(f"max_gap must be positive and min_length not negative, got {max_gap!r}, {min_length!r}")
    times = np.sort(flows.loc[flows["fixture"].isin(list(fixtures)), "start_ms"].to_numpy("int64"))
    if len(times) == 0:
        return pd.DataFrame({"start_ms": np.array([], "int64"), "end_ms": np.array([], "int64")})
    breaks = np.flatnonzero(np.diff(times) > gap_ms)
    starts = np.concatenate([times[:1], times[breaks + 1]])
    ends = np.concatenate([times[breaks], times[-1:]]) + _SECOND_MS
    long = ends - starts >= min_ms
    return pd.DataFrame({"start_ms": starts[long], "end_ms": ends[long]})


def to_readings(
    flows: pd.DataFrame,
    *,
    cadence: str = "1h",
    periods: pd.DataFrame | None = None,
    meter_id: str = "weusedto",
    start_total_l: float = 10_000.0,
    resolution_l: float = 1.0,
    latency_s: float = 10.0,
    upload_hour: int = 2,
    timezone: str = TIMEZONE,
    gap_l_per_day: float | None = None,
) -> pd.DataFrame:
    """The readings a whole-home meter would have sent: its register sampled at ``cadence``.

    Readings are taken on the clock (every 15 minutes or every hour, on the hour) and only inside
    ``periods`` (default: :func:`monitored_periods`); between periods the meter is offline and
    sends nothing. Its register keeps counting, though: use there is unknown, so it advances at
    ``gap_l_per_day``, and a meter back from a gap shows use instead of a silence as long as the
    gap. Use recorded outside the periods (toilet flushes during outages) is left out.

    Parameters
    ----------
    flows : from :func:`load_flows` (or :func:`inject_flows`).
    cadence : ``"15min"`` or ``"1h"``: each reading is sent ``latency_s`` after it is taken.
        ``"daily"``: hourly readings uploaded as one batch a day at ``upload_hour`` local time,
        as NB-IoT meters do; a reading is received at the first upload at or after it was taken
        (plus ``latency_s``). An upload hour the clocks skip (02:00 on the spring-forward day)
        moves to the next hour; one they repeat (on the fall-back day) is the first.
    periods : the spans with readings, columns ``start_ms`` and ``end_ms``.
    meter_id : the meter's id.
    start_total_l : the register before the first recorded use.
    resolution_l : the register's resolution; totals are floored to it.
    latency_s : seconds from taking (or uploading) a reading to its arrival.
    upload_hour : local hour of the daily upload.
    timezone : the household's time zone, for the daily upload.
    gap_l_per_day : the register's rate between periods; None: :func:`mean_l_per_day` of
        ``flows``. Pass the untouched household's rate when ``flows`` carry incidents, so that an
        incident changes nothing outside its own window.

    Examples
    --------
    >>> h = 3_600_000
    >>> flows = pd.DataFrame({"fixture": ["Shower", "Shower"], "start_ms": [h // 2, 3 * h],
    ...                       "end_ms": [h // 2 + 600_000, 3 * h + 1000], "litres": [50.0, 0.0]})
    >>> r = to_readings(flows, cadence="1h", periods=pd.DataFrame({"start_ms": [0], "end_ms": [4 * h]}))
    >>> r["total_l"].tolist(), (r["ts_ms"] // h).tolist(), (r["received_ms"] - r["ts_ms"]).unique().tolist()
    ([10000.0, 10050.0, 10050.0, 10050.0], [0, 1, 2, 3], [10000])
    """
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}; use one of {CADENCES}")
    if not resolution_l > 0:
        raise ValueError(f"resolution_l must be positive, got {resolution_l!r}")
    if not latency_s >= 0:
        raise ValueError(f"latency_s must be zero or more, got {latency_s!r}")
    if not (isinstance(upload_hour, int) and 0 <= upload_hour <= 23):
        raise ValueError(f"upload_hour must be a whole hour from 0 to 23, got {upload_hour!r}")
    if periods is None:
        periods = monitored_periods(flows)
    p_start, p_end = periods["start_ms"].to_numpy("int64"), periods["end_ms"].to_numpy("int64")
    step = _CADENCE_MS[cadence]
    ts_ms = np.concatenate(
        [np.arange(-(-s // step) * step, e, step, dtype="int64") for s, e in zip(p_start, p_end)]
        or [np.array([], "int64")]
    )
    if gap_l_per_day is None:
        gap_l_per_day = mean_l_per_day(flows, periods)
    volume = _cumulative_litres(_with_gap_fill(flows, p_start, p_end, gap_l_per_day / _DAY_MS), ts_ms)
    total = np.round(np.floor((start_total_l + volume) / resolution_l) * resolution_l, 6)
    latency_ms = round(latency_s * _SECOND_MS)
    if cadence == "daily":
        received_ms = _next_upload_ms(ts_ms, upload_hour, ZoneInfo(timezone)) + latency_ms
    else:
        received_ms = ts_ms + latency_ms
    return _readings(meter_id, ts_ms, total, received_ms)


def mean_l_per_day(flows: pd.DataFrame, periods: pd.DataFrame) -> float:
    """Litres a day the household used on average over the monitored ``periods``.

    >>> flows = pd.DataFrame({"fixture": ["Shower"], "start_ms": [0], "end_ms": [1000], "litres": [30.0]})
    >>> mean_l_per_day(flows, pd.DataFrame({"start_ms": [0], "end_ms": [2 * 86_400_000]}))
    15.0
    """
    p_start, p_end = periods["start_ms"].to_numpy("int64"), periods["end_ms"].to_numpy("int64")
    monitored_ms = (p_end - p_start).sum()
    if monitored_ms <= 0:
        return 0.0
    return float(_inside(flows, p_start, p_end)["litres"].sum() / monitored_ms * _DAY_MS)


def incidents_frame(rows: Iterable[tuple] = ()) -> pd.DataFrame:
    """An incidents frame as :func:`detect.simulate.simulate` returns: meter_id, kind, start_ms, end_ms.

    >>> incidents_frame([("weusedto", "still", 0, 3_600_000)]).dtypes.astype(str).tolist()
    ['object', 'object', 'int64', 'int64']
    """
    frame = pd.DataFrame(list(rows), columns=list(INCIDENT_DTYPES)).astype(INCIDENT_DTYPES)
    unknown = set(frame["kind"]) - set(INCIDENT_KINDS)
    if unknown:
        raise ValueError(f"unknown incident kind {sorted(unknown)}; use one of {INCIDENT_KINDS}")
    if (frame["end_ms"] <= frame["start_ms"]).any():
        raise ValueError("every incident must end after it starts (end_ms > start_ms)")
    return frame


def inject_flows(
    flows: pd.DataFrame, incidents: pd.DataFrame, *, drip_l_per_h: float = 2.0, tap_l_per_h: float = 15.0
) -> pd.DataFrame:
    """Flows changed by the incidents that change water use; ``dead_meter`` is for :func:`inject_readings`.

    ``still``: no use starts in [start_ms, end_ms) and a use under way stops at start_ms.
    ``still_drip``: the same, plus a constant drip of ``drip_l_per_h``.
    ``tap_running``: an extra constant ``tap_l_per_h`` on top of the household's own use.
    Heartbeats are kept, so the monitored periods do not change.

    Examples
    --------
    >>> h = 3_600_000
    >>> flows = pd.DataFrame({"fixture": ["Shower"], "start_ms": [0], "end_ms": [2 * h], "litres": [20.0]})
    >>> changed = inject_flows(flows, incidents_frame([("m", "still_drip", h, 4 * h)]), drip_l_per_h=2.0)
    >>> changed[["fixture", "litres"]].values.tolist(), (changed["end_ms"] // h).tolist()
    ([['Shower', 10.0], ['drip', 6.0]], [1, 4])
    """
    if not drip_l_per_h > 0 or not tap_l_per_h > 0:
        raise ValueError(f"drip_l_per_h and tap_l_per_h must be positive, got {drip_l_per_h!r}, {tap_l_per_h!r}")
    start, end = flows["start_ms"].to_numpy("int64"), flows["end_ms"].to_numpy("int64")
    litres, fixture = flows["litres"].to_numpy("float64"), flows["fixture"].to_numpy(object)
    extra = []
    for row in incidents.itertuples():
        if row.kind in ("still", "still_drip"):
            # What starts during the incident never happens; what runs into it is cut at its start.
            keep = (start < row.start_ms) | (start >= row.end_ms) | (litres == 0)
            start, end, litres, fixture = start[keep], end[keep], litres[keep], fixture[keep]
            cut = (start < row.start_ms) & (end > row.start_ms)
            litres = np.where(cut, litres * (row.start_ms - start) / np.maximum(end - start, 1), litres)
            end = np.where(cut, row.start_ms, end)
        if row.kind == "still_drip":
            extra.append(("drip", row.start_ms, row.end_ms, drip_l_per_h * (row.end_ms - row.start_ms) / _HOUR_MS))
        elif row.kind == "tap_running":
            extra.append(("tap", row.start_ms, row.end_ms, tap_l_per_h * (row.end_ms - row.start_ms) / _HOUR_MS))
    frames = [_flows(fixture, start, end, litres)]
    frames += [_flows(np.array([f], object), np.array([s]), np.array([e]), np.array([v])) for f, s, e, v in extra]
    return pd.concat(frames, ignore_index=True).sort_values("start_ms", kind="stable", ignore_index=True)


def inject_readings(readings: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Readings without those a ``dead_meter`` incident silenced: none taken in [start_ms, end_ms).

    As in the simulator, a reading taken before the meter died still arrives with its batch.

    >>> r = pd.DataFrame({"meter_id": ["m"] * 3, "ts_ms": [0, 10, 20], "total_l": [1.0, 1.0, 1.0],
    ...                   "received_ms": [0, 10, 20]})
    >>> inject_readings(r, incidents_frame([("m", "dead_meter", 5, 15)]))["ts_ms"].tolist()
    [0, 20]
    """
    alive = np.ones(len(readings), dtype=bool)
    ts, meter = readings["ts_ms"].to_numpy("int64"), readings["meter_id"].to_numpy(object)
    for row in incidents[incidents["kind"] == "dead_meter"].itertuples():
        alive &= (meter != row.meter_id) | (ts < row.start_ms) | (ts >= row.end_ms)
    return readings[alive].reset_index(drop=True)


def place_incidents(
    periods: pd.DataFrame,
    *,
    meter_id: str = "weusedto",
    incidents_per_month: float = 2.0,
    kinds: Iterable[str] = INCIDENT_KINDS,
    durations: dict | None = None,
    separation: str | pd.Timedelta = "2D",
    random_state: int = 0,
) -> pd.DataFrame:
    """Incidents at random times inside ``periods``, the same for the same arguments and seed.

    There are ``round(incidents_per_month * monitored months)`` of them, the ``kinds`` taking turns
    in a random order, each lasting its entry in ``durations`` (:data:`DEFAULT_DURATIONS` fills
    the rest). Each lies whole inside one period, at least a day from its ends, and at least
    ``separation`` from any other, so that an alert can be told apart from the next incident's.

    >>> periods = pd.DataFrame({"start_ms": [0], "end_ms": [60 * 24 * 3_600_000]})
    >>> place_incidents(periods, incidents_per_month=2, random_state=1)["kind"].tolist()
    ['tap_running', 'dead_meter', 'still', 'still_drip']
    """
    kinds = list(kinds)
    durations = {**DEFAULT_DURATIONS, **{k: pd.Timedelta(v) for k, v in (durations or {}).items()}}
    if not kinds or set(kinds) - set(INCIDENT_KINDS):
        raise ValueError(f"kinds must be some of {INCIDENT_KINDS}, got {kinds!r}")
    if not incidents_per_month >= 0:
        raise ValueError(f"incidents_per_month must be zero or more, got {incidents_per_month!r}")
    p_start, p_end = periods["start_ms"].to_numpy("int64"), periods["end_ms"].to_numpy("int64")
    count = round(incidents_per_month * (p_end - p_start).sum() / _MONTH_MS)
    separation_ms = pd.Timedelta(separation).value // 1_000_000
    rng = np.random.default_rng(random_state)
    order = [kinds[i % len(kinds)] for i in rng.permutation(count)]
    placed: list[tuple[str, int, int]] = []
    for kind in order:
        length = durations[kind].value // 1_000_000
        room = np.maximum(p_end - p_start - 2 * _MARGIN_MS - length, 0)
        if room.sum() == 0:
            raise ValueError(f"no monitored period is long enough for a {durations[kind]} {kind} incident")
        for _ in range(1000):
            # Uniform over every admissible start: a period is drawn in proportion to its room.
            i = rng.choice(len(room), p=room / room.sum())
            at = int(p_start[i] + _MARGIN_MS + rng.integers(0, room[i] // 60_000 + 1) * 60_000)
            if all(at >= e + separation_ms or at + length + separation_ms <= s for _, s, e in placed):
                placed.append((kind, at, at + length))
                break
        else:
            raise ValueError(
                f"cannot fit {count} incidents {separation} apart in the monitored time; lower incidents_per_month"
            )
    placed.sort(key=lambda row: row[1])
    return incidents_frame((meter_id, kind, s, e) for kind, s, e in placed)


def weusedto_dataset(
    path: str | Path | None = None,
    cadence: str = "1h",
    *,
    incidents_per_month: float = 2.0,
    random_state: int = 0,
    kinds: Iterable[str] = INCIDENT_KINDS,
    durations: dict | None = None,
    drip_l_per_h: float = 2.0,
    tap_l_per_h: float = 15.0,
    max_gap: str | pd.Timedelta = "1h",
    meter_id: str = "weusedto",
    flows: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real household with labelled incidents: (readings, incidents) as ``simulate`` gives them.

    Readings are in arrival order (received_ms, meter_id, ts_ms); incidents are placed by
    :func:`place_incidents` and applied by :func:`inject_flows` and :func:`inject_readings`.
    Pass ``flows`` (from :func:`load_flows`) to skip parsing the files again.
    """
    flows = load_flows(path) if flows is None else flows
    periods = monitored_periods(flows, max_gap=max_gap)
    incidents = place_incidents(
        periods, meter_id=meter_id, incidents_per_month=incidents_per_month, kinds=kinds, durations=durations,
        random_state=random_state,
    )
    changed = inject_flows(flows, incidents, drip_l_per_h=drip_l_per_h, tap_l_per_h=tap_l_per_h)
    readings = to_readings(
        changed, cadence=cadence, periods=periods, meter_id=meter_id, gap_l_per_day=mean_l_per_day(flows, periods)
    )
    return _arrival_order(inject_readings(readings, incidents)), incidents


def weusedto_untouched(
    path: str | Path | None = None,
    cadence: str = "1h",
    *,
    max_gap: str | pd.Timedelta = "1h",
    meter_id: str = "weusedto",
    flows: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real household as it lived: (readings, an empty incidents frame).

    Every alert on it is the natural burden: an ``inactivity`` alert comes from the resident's own
    life (a day out, a trip away), a ``meter_offline`` one from an outage of the data set.
    """
    flows = load_flows(path) if flows is None else flows
    periods = monitored_periods(flows, max_gap=max_gap)
    readings = to_readings(flows, cadence=cadence, periods=periods, meter_id=meter_id)
    return _arrival_order(readings), incidents_frame()


def _data_dir(path: str | Path | None) -> Path:
    directory = default_path() if path is None else Path(path)
    if directory is None or not directory.is_dir():
        where = "../shared/data/weusedto next to the repository" if directory is None else str(directory)
        raise FileNotFoundError(f"WEUSEDTO data not found at {where}; pass the directory holding feed_*.csv")
    return directory


def _read_fixture(directory: Path, fixture: str) -> np.ndarray:
    """A fixture file as a float array (time, flow[, end]), rows with a non-positive time dropped.

    Some files are comma-separated with a header, others space-separated with or without one.
    """
    name = "feed.Toilet.csv" if fixture == "Toilet" else f"feed_{fixture}.MYD.csv"
    file = directory / name
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing from the WEUSEDTO data; restore it from the data set")
    with file.open() as handle:
        first = handle.readline()
    header = 0 if first[:1].isalpha() else None
    sep = "," if "," in first else r"\s+"
    values = pd.read_csv(file, sep=sep, header=header).to_numpy("float64")
    values = values[values[:, 0] > 0]  # feed_Washbasin holds a row with epoch 0
    return values[np.argsort(values[:, 0], kind="stable")]


def _flows(fixture, start, end, litres) -> pd.DataFrame:
    n = len(start)
    return pd.DataFrame(
        {
            "fixture": np.broadcast_to(np.asarray(fixture, dtype=object), n).copy(),
            "start_ms": np.asarray(start, dtype="int64"),
            "end_ms": np.asarray(end, dtype="int64"),
            "litres": np.asarray(litres, dtype="float64"),
        },
        columns=FLOW_COLUMNS,
    )


def _inside(flows: pd.DataFrame, p_start: np.ndarray, p_end: np.ndarray) -> pd.DataFrame:
    """The flows that start inside a period and use water."""
    start = flows["start_ms"].to_numpy("int64")
    i = np.searchsorted(p_start, start, side="right") - 1
    inside = (i >= 0) & (start < p_end[np.maximum(i, 0)])
    return flows[inside & (flows["litres"].to_numpy() > 0)]


def _with_gap_fill(flows: pd.DataFrame, p_start: np.ndarray, p_end: np.ndarray, rate: float) -> pd.DataFrame:
    """Recorded use inside the periods, and ``rate`` (litres per ms) between them, while the meter is offline."""
    recorded = _inside(flows, p_start, p_end)
    if len(p_start) < 2:
        return recorded
    gap_start, gap_end = p_end[:-1], p_start[1:]
    fill = _flows(np.array(["gap_fill"], object), gap_start, gap_end, rate * (gap_end - gap_start))
    return pd.concat([recorded, fill], ignore_index=True)


def _cumulative_litres(flows: pd.DataFrame, at_ms: np.ndarray) -> np.ndarray:
    """Litres used from the first flow until each time in ``at_ms``: the integral of piecewise-constant flow."""
    if flows.empty:
        return np.zeros(len(at_ms))
    start, end = flows["start_ms"].to_numpy("float64"), flows["end_ms"].to_numpy("float64")
    end = np.maximum(end, start + 1)
    rate = flows["litres"].to_numpy("float64") / (end - start)
    times = np.concatenate([start, end])
    order = np.argsort(times, kind="stable")
    times = times[order]
    slope = np.maximum(np.cumsum(np.concatenate([rate, -rate])[order]), 0.0)
    volume = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(times))])
    # The slope's rounding residue must never run the register back.
    return np.interp(at_ms, times, np.maximum.accumulate(volume))


def _next_upload_ms(ts_ms: np.ndarray, upload_hour: int, tz: ZoneInfo) -> np.ndarray:
    """The first daily upload (``upload_hour`` local time) at or after each time."""
    if len(ts_ms) == 0:
        return ts_ms.copy()
    first = pd.Timestamp(int(ts_ms.min()), unit="ms", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    last = pd.Timestamp(int(ts_ms.max()), unit="ms", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    days = pd.date_range(first - pd.Timedelta(days=1), last + pd.Timedelta(days=1), freq="D")
    local = (days + pd.Timedelta(hours=upload_hour)).tz_localize(
        tz, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward"
    )
    uploads = local.as_unit("ms").asi8
    return uploads[np.searchsorted(uploads, ts_ms, side="left")]


def _readings(meter_id: str, ts_ms, total, received_ms) -> pd.DataFrame:
    n = len(ts_ms)
    frame = pd.DataFrame(
        {
            "meter_id": np.full(n, meter_id, dtype=object),
            "ts_ms": ts_ms,
            "total_l": total,
            "received_ms": received_ms,
        }
    )
    return frame.astype(READING_DTYPES)


def _arrival_order(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.sort_values(["received_ms", "meter_id", "ts_ms"], kind="stable", ignore_index=True)
