"""Evaluation: how many labelled incidents a set of detectors finds, how fast, and at what cost.

The readings are replayed through the live detector code (:func:`detect.backtest.backtest`, the
same ``step`` production runs), and the episodes it raises are scored against labelled incidents
(``meter_id, kind, start_ms, end_ms``: the simulator's labels, see :data:`INCIDENT_COLUMNS`).
Times are epoch milliseconds; results are in hours and household-months.

Detected
    An incident is detected when an episode of its alert kind (:data:`ALERT_KIND`: ``still`` and
    ``still_drip`` go to ``inactivity``, ``dead_meter`` to ``meter_offline``, ``tap_running`` to
    ``continuous_flow``) is raised for the same meter with ``raised_ms`` in
    [start, start + horizon]. The horizon is ``horizon_h`` hours if given, else the incident's
    duration, or 24 hours for an incident with no end. *recall* is detected / incidents, per
    incident kind, at any severity; *recall_alarm* counts only episodes of severity ``alarm``
    (kinds that go to the cadre; NaN for the others). An episode's severity is the highest it
    reached and its ``raised_ms`` is its first raise, so an episode that warned and then became
    an alarm counts for both from its warning. An alert kind no detector raises has a recall of
    0. An episode raised before the incident began does not count even if it is still open; an
    incident missed while such an episode was open is counted in ``already_open``.
Delay
    ``raised_ms`` of the first episode that detects an incident, minus the incident's start, in
    hours: the median and the 90th percentile (linear interpolation) over the detected incidents.
False alerts
    An episode is a false alert when its span from ``started_ms`` to ``raised_ms`` overlaps no
    incident window of its meter. An incident's window runs from its start to its end plus
    ``margin_h`` (default 24 h, because the aftermath belongs to the incident), or on for ever if
    it has no end; incidents of every kind count. The rate is false alerts per household-month
    of incident-free monitored time, for each alert kind separately: a meter is monitored from its
    first to its last reading (``ts``), the incident windows are taken out, and a household-month
    is :data:`MONTH_DAYS` days of one meter. False episodes of severity ``alarm`` are also
    counted on their own.
Misrouted dead meters
    A ``dead_meter`` incident is misrouted when an ``inactivity`` episode is raised for its meter
    during it (``raised_ms`` in [start, end]): the cadre is sent for a broken meter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from detect.backtest import backtest
from detect.csvio import CsvFormatError
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
from detect.simulate import INCIDENT_KINDS, Incident

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MONTH_DAYS = 30
"""Days in a household-month."""
DEFAULT_HORIZON_H = 24.0
"""Horizon of an incident that has no end."""
DEFAULT_MARGIN_H = 24.0
"""Hours after an incident's end that still belong to it (its aftermath)."""
INCIDENT_COLUMNS = ["meter_id", "kind", "start_ms", "end_ms"]
"""The incidents frame and CSV: meter, incident kind, start and end in epoch ms (end may be missing)."""
ALERT_KIND = {
    "still": "inactivity",
    "still_drip": "inactivity",
    "dead_meter": "meter_offline",
    "tap_running": "continuous_flow",
    "late_morning": "unusual_pattern",
    "low_volume": "unusual_pattern",
    "night_use": "unusual_pattern",
}
"""The alert kind that detects each incident kind (the routine drifts of ``detect.simulate.DRIFT_KINDS``
are scored too, but :func:`standard_incidents` does not place them)."""
CADRE_KINDS = ("inactivity",)
"""Alert kinds that go to the cadre, whose ``alarm`` severity is reported separately."""
# A tap is left running until someone notices: long enough to test the 10-hour continuous-flow target.
STANDARD_DURATIONS_H = {"still": (24, 48), "still_drip": (24, 48), "dead_meter": (24, 72), "tap_running": (10, 14)}
"""Durations (hours, low and high) of the incidents in :func:`standard_incidents`."""


@dataclass
class EvaluationReport:
    """What :func:`evaluate` found; every part is a tidy frame.

    recall : one row per incident kind: kind, alert_kind, incidents, detected, recall,
        recall_alarm, already_open, delay_median_h, delay_p90_h.
    false_alerts : one row per alert kind: alert_kind, episodes, false_alerts, false_alarms
        (those of severity alarm), household_months, per_household_month,
        alarms_per_household_month.
    misrouted : one row: dead_meter_incidents, misrouted_as_inactivity, share.
    incidents : the incidents with alert_kind, horizon_ms, raised_ms (first detecting episode),
        delay_h, detected, detected_alarm, already_open and misrouted.
    episodes : the replayed episodes, with ``false_alert``.
    household_months : incident-free monitored time.
    """

    recall: pd.DataFrame
    false_alerts: pd.DataFrame
    misrouted: pd.DataFrame
    incidents: pd.DataFrame
    episodes: pd.DataFrame
    household_months: float

    def summary(self) -> pd.Series:
        """The headline numbers as one Series, named for people: recall and shares in %."""
        rows: dict[str, float] = {}
        for r in self.recall.itertuples():
            name = f"{r.kind} → {r.alert_kind} (n={r.incidents})"
            rows[f"{name}: recall %"] = 100 * r.recall
            if r.alert_kind in CADRE_KINDS:
                rows[f"{name}: alarm recall %"] = 100 * r.recall_alarm
            rows[f"{name}: delay median h"] = r.delay_median_h
            rows[f"{name}: delay p90 h"] = r.delay_p90_h
            rows[f"{name}: missed, alert already open"] = r.already_open
        for r in self.false_alerts.itertuples():
            rows[f"false {r.alert_kind} per household-month"] = r.per_household_month
            if r.alert_kind in CADRE_KINDS:
                rows[f"false {r.alert_kind} alarms per household-month"] = r.alarms_per_household_month
        rows["incident-free household-months"] = self.household_months
        if self.misrouted["dead_meter_incidents"].iloc[0]:
            rows["dead meters misrouted as inactivity %"] = 100 * self.misrouted["share"].iloc[0]
        return pd.Series(rows, name="value", dtype="float64")

    def to_markdown(self) -> str:
        return to_markdown(self.summary().to_frame().rename_axis("metric"))


def evaluate(
    readings: pd.DataFrame,
    incidents: pd.DataFrame,
    detectors: Sequence,
    *,
    horizon_h: float | None = None,
    margin_h: float = DEFAULT_MARGIN_H,
    until_ms: int | None = None,
    refit_days: float | None = None,
) -> EvaluationReport:
    """Replay ``readings`` through ``detectors`` and score the episodes against ``incidents``.

    Parameters
    ----------
    readings : meter_id, ts_ms, total_l, received_ms.
    incidents : :data:`INCIDENT_COLUMNS`, e.g. ``simulate(...).incidents``.
    detectors : detectors as in production (``api.wiring.build_detectors``); an unfitted one is
        fitted without data (``backtest`` refits the ones that learn from history as it goes).
    horizon_h : how long after its start an incident may be detected; None: its duration.
    margin_h : hours after an incident's end in which an alert is not counted as false.
    until_ms : where the replay stops (default: the last arrival).
    refit_days : how often ``backtest`` refits the detectors that learn from history, as the
        monitor does (None: the backtest's default).

    Examples
    --------
    >>> from detect.inactivity import InactivityDetector
    >>> h = 3_600_000
    >>> readings = pd.DataFrame({"meter_id": ["m1"] * 25, "ts_ms": [i * h for i in range(25)],
    ...                          "total_l": [5.0 * min(i, 3) for i in range(25)],
    ...                          "received_ms": [i * h for i in range(25)]})
    >>> incidents = pd.DataFrame({"meter_id": ["m1"], "kind": ["still"], "start_ms": [3 * h - 60_000],
    ...                           "end_ms": [25 * h]})
    >>> report = evaluate(readings, incidents, [InactivityDetector(ceiling_h=12)])
    >>> report.recall[["kind", "incidents", "detected", "delay_median_h"]].to_dict("records")
    [{'kind': 'still', 'incidents': 1, 'detected': 1, 'delay_median_h': 12.016666666666667}]
    """
    ready = [fitted(d) for d in detectors]
    replay = {} if refit_days is None else {"refit_days": refit_days}
    episodes = backtest(readings, ready, until_ms=until_ms, **replay)
    kinds = [k for k in (getattr(d, "kind", None) for d in ready) if k]
    return score(episodes, incidents, readings, alert_kinds=kinds, horizon_h=horizon_h, margin_h=margin_h)


def twelve_hour_rule() -> list:
    """The community's practice as detectors: inactivity after 12 hours, and the default offline rule.

    Nothing is learned and nothing is seen through: no learned warnings or background, no trickle.
    """
    return [InactivityDetector(ceiling_h=12, learn=False, trickle_l_per_h=0.0), OfflineDetector()]


def compare(
    readings: pd.DataFrame, incidents: pd.DataFrame, detector_sets: Mapping[str, Sequence], **options
) -> pd.DataFrame:
    """:meth:`EvaluationReport.summary` of each named set of detectors, side by side.

    ``options`` are passed to :func:`evaluate`. A metric one set does not have is NaN for it.
    """
    summaries = {name: evaluate(readings, incidents, detectors, **options).summary()
                 for name, detectors in detector_sets.items()}
    return pd.concat(summaries, axis=1).rename_axis("metric")


def score(
    episodes: pd.DataFrame,
    incidents: pd.DataFrame,
    readings: pd.DataFrame,
    *,
    alert_kinds: Sequence[str] = (),
    horizon_h: float | None = None,
    margin_h: float = DEFAULT_MARGIN_H,
) -> EvaluationReport:
    """Score ``episodes`` (an episode frame) against ``incidents``; see the module docstring.

    ``readings`` give each meter's monitored time; ``alert_kinds`` are reported even when no
    episode of theirs was raised (the kinds the detectors can raise).
    """
    incidents = _check_incidents(incidents)
    if horizon_h is not None and not horizon_h > 0:
        raise ValueError(f"horizon_h must be positive hours or None (the incident's duration), got {horizon_h!r}")
    if not margin_h >= 0:
        raise ValueError(f"margin_h must be zero or more hours, got {margin_h!r}")
    matched = _match(incidents, episodes, horizon_h)
    windows = incidents.assign(window_end=incidents["end_ms"] + margin_h * HOUR_MS)
    flagged = episodes.assign(false_alert=_false_alerts(episodes, windows))
    household_months = _incident_free_ms(readings, windows) / (MONTH_DAYS * DAY_MS)
    dead = matched[matched["kind"] == "dead_meter"]
    misrouted = pd.DataFrame({
        "dead_meter_incidents": [len(dead)],
        "misrouted_as_inactivity": [int(dead["misrouted"].sum())],
        "share": [dead["misrouted"].mean() if len(dead) else np.nan],
    })
    return EvaluationReport(
        recall=_recall_table(matched),
        false_alerts=_false_alert_table(flagged, alert_kinds, household_months),
        misrouted=misrouted,
        incidents=matched,
        episodes=flagged,
        household_months=household_months,
    )


def standard_incidents(
    households: int,
    *,
    start: pd.Timestamp,
    days: float,
    random_state: int = 0,
    block_days: float = 30.0,
    meter_prefix: str = "m",
) -> list[Incident]:
    """The standard incident mix for :func:`detect.simulate.simulate`, spread across households.

    The period is cut into blocks of about ``block_days``. In block ``b`` household ``i`` has
    incident kind ``(i + b) % 5`` of (still, still_drip, dead_meter, tap_running, none), so each
    block has as many of each kind and one household in five stays incident-free. Durations are
    drawn from :data:`STANDARD_DURATIONS_H`; an incident starts at least a day into its block and
    ends at least a day before the block's end, so windows and aftermaths never overlap.

    >>> start = pd.Timestamp("2026-01-01", tz="Asia/Shanghai")
    >>> [(i.meter_id, i.kind) for i in standard_incidents(5, start=start, days=10)]
    [('m0000', 'still'), ('m0001', 'still_drip'), ('m0002', 'dead_meter'), ('m0003', 'tap_running')]
    """
    if households < 1:
        raise ValueError(f"households must be at least 1, got {households}")
    blocks = max(1, int(days // block_days))
    block_h = days * 24 / blocks
    longest_h = max(high for _, high in STANDARD_DURATIONS_H.values())
    if block_h < longest_h + 48:
        raise ValueError(f"days must be at least {(longest_h + 48) / 24:g} for the standard incident mix, got {days}")
    rng = np.random.default_rng(random_state)
    mix = (*INCIDENT_KINDS, None)
    incidents = []
    for b in range(blocks):
        for i in range(households):
            kind = mix[(i + b) % len(mix)]
            if kind is None:
                continue
            low, high = STANDARD_DURATIONS_H[kind]
            duration_h = rng.uniform(low, high)
            at_h = b * block_h + 24 + rng.uniform(0, block_h - 48 - duration_h)
            incidents.append(Incident(
                meter_id=f"{meter_prefix}{i:04d}", kind=kind,
                start=start + pd.Timedelta(minutes=round(at_h * 60)),
                duration=pd.Timedelta(minutes=round(duration_h * 60)),
            ))
    return incidents


def read_incidents_csv(path: str | Path) -> pd.DataFrame:
    """An incidents CSV (``meter_id,kind,start_ms,end_ms``, as ``anxin simulate --labels`` writes) as a frame."""
    raw = pd.read_csv(path, dtype={"meter_id": str, "kind": str})
    missing = [c for c in INCIDENT_COLUMNS if c not in raw.columns]
    if missing:
        raise CsvFormatError(f"{path}: missing column(s) {missing}; an incidents CSV has {','.join(INCIDENT_COLUMNS)}")
    try:
        return _check_incidents(raw[INCIDENT_COLUMNS])
    except ValueError as exc:
        raise CsvFormatError(f"{path}: {exc}") from exc


def write_incidents_csv(incidents: pd.DataFrame, path: str | Path) -> None:
    """Write an incidents frame in the format :func:`read_incidents_csv` reads."""
    _check_incidents(incidents).to_csv(path, index=False)


def to_markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table, its index as the first column, without ``tabulate``.

    Numbers are right-aligned: whole numbers and numbers from 100 up without decimals, from 10
    up with one, smaller ones to three significant digits; a missing value is ``–``.

    >>> print(to_markdown(pd.DataFrame({"a": [1.0, 0.12345], "b": [np.nan, 250.4]}, index=["x", "y"])))
    |   |     a |   b |
    |---|------:|----:|
    | x |     1 |   – |
    | y | 0.123 | 250 |
    """
    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    body = [[str(index), *map(_cell, values)] for index, values in zip(frame.index, frame.itertuples(index=False))]
    widths = [max(len(row[j]) for row in [header, *body]) for j in range(len(header))]
    numeric = [False] + [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule, *map(line, body)])


def fitted(detector):
    """``detector`` itself if fitted, else a fitted clone of it (fitted without data)."""
    try:
        check_is_fitted(detector)
    except NotFittedError:
        return clone(detector).fit()
    return detector


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_, str)):
        return str(value)
    if isinstance(value, (int, np.integer)) or float(value).is_integer() or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def _check_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in INCIDENT_COLUMNS if c not in incidents.columns]
    if missing:
        raise ValueError(f"incidents need the columns {INCIDENT_COLUMNS}; missing {missing}")
    unknown = sorted(set(incidents["kind"]) - set(ALERT_KIND))
    if unknown:
        raise ValueError(f"unknown incident kind(s) {unknown}; use one of {list(ALERT_KIND)}")
    start = pd.to_numeric(incidents["start_ms"], errors="coerce")
    end = pd.to_numeric(incidents["end_ms"], errors="coerce")
    if start.isna().any():
        raise ValueError("start_ms must be epoch milliseconds on every row")
    if (end.notna() & ~(end > start)).any():
        raise ValueError("end_ms must be after start_ms (or empty: the incident has not ended)")
    return pd.DataFrame({
        "meter_id": pd.Series(incidents["meter_id"].to_numpy(), dtype=object),
        "kind": pd.Series(incidents["kind"].to_numpy(), dtype=object),
        "start_ms": start.astype("int64").to_numpy(),
        "end_ms": pd.array(end.round(), dtype="Int64"),
    })


def _match(incidents: pd.DataFrame, episodes: pd.DataFrame, horizon_h: float | None) -> pd.DataFrame:
    """Each incident with its first detecting episode, and whether it was already open or misrouted."""
    inc = incidents.assign(alert_kind=incidents["kind"].map(ALERT_KIND))
    end = inc["end_ms"].astype("float64")
    if horizon_h is None:
        horizon = np.where(end.isna(), DEFAULT_HORIZON_H * HOUR_MS, end - inc["start_ms"])
    else:
        horizon = np.full(len(inc), horizon_h * HOUR_MS)
    inc["horizon_ms"] = horizon.astype("int64")
    inc["incident"] = np.arange(len(inc))
    eps = episodes.rename(columns={"kind": "alert_kind"})
    pairs = inc.merge(eps[["meter_id", "alert_kind", "severity", "raised_ms", "ended_ms"]], on=["meter_id", "alert_kind"])
    late = pairs["raised_ms"] - pairs["start_ms"]
    within = pairs[(late >= 0) & (late <= pairs["horizon_ms"])]
    first = within.groupby("incident")["raised_ms"].min()
    first_alarm = within[within["severity"] == "alarm"].groupby("incident")["raised_ms"].min()
    still_open = pairs["ended_ms"].isna() | (pairs["ended_ms"].astype("float64") > pairs["start_ms"])
    open_before = pairs[(pairs["raised_ms"] < pairs["start_ms"]) & still_open]["incident"].unique()

    dead = inc[inc["kind"] == "dead_meter"].merge(
        episodes[episodes["kind"] == "inactivity"][["meter_id", "raised_ms"]], on="meter_id")
    dead_end = dead["end_ms"].astype("float64").fillna(np.inf)
    misrouted = dead[(dead["raised_ms"] >= dead["start_ms"]) & (dead["raised_ms"] <= dead_end)]["incident"].unique()

    raised = first.reindex(inc["incident"])
    inc["raised_ms"] = pd.array(raised.to_numpy(), dtype="Int64")
    inc["delay_h"] = (raised.to_numpy() - inc["start_ms"].to_numpy()) / HOUR_MS
    inc["detected"] = raised.notna().to_numpy()
    inc["detected_alarm"] = first_alarm.reindex(inc["incident"]).notna().to_numpy()
    inc["already_open"] = inc["incident"].isin(open_before) & ~inc["detected"]
    inc["misrouted"] = inc["incident"].isin(misrouted)
    return inc.drop(columns="incident")


def _recall_table(matched: pd.DataFrame) -> pd.DataFrame:
    order = [k for k in ALERT_KIND if k in set(matched["kind"])]
    rows = []
    for kind in order:
        group = matched[matched["kind"] == kind]
        alert_kind = ALERT_KIND[kind]
        delays = group.loc[group["detected"], "delay_h"].to_numpy()
        median, p90 = np.percentile(delays, [50, 90]) if len(delays) else (np.nan, np.nan)
        rows.append({
            "kind": kind,
            "alert_kind": alert_kind,
            "incidents": len(group),
            "detected": int(group["detected"].sum()),
            "recall": group["detected"].mean(),
            "recall_alarm": group["detected_alarm"].mean() if alert_kind in CADRE_KINDS else np.nan,
            "already_open": int(group["already_open"].sum()),
            "delay_median_h": float(median),
            "delay_p90_h": float(p90),
        })
    columns = ["kind", "alert_kind", "incidents", "detected", "recall", "recall_alarm", "already_open",
               "delay_median_h", "delay_p90_h"]
    return pd.DataFrame(rows, columns=columns)


def _false_alerts(episodes: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """Which episodes overlap no incident window of their meter, from started_ms to raised_ms."""
    spans = episodes[["meter_id", "started_ms", "raised_ms"]].assign(episode=np.arange(len(episodes)))
    pairs = spans.merge(windows[["meter_id", "start_ms", "window_end"]], on="meter_id")
    window_end = pairs["window_end"].astype("float64").fillna(np.inf)
    overlaps = (pairs["started_ms"] <= window_end) & (pairs["raised_ms"] >= pairs["start_ms"])
    return ~np.isin(np.arange(len(episodes)), pairs.loc[overlaps, "episode"].to_numpy())


def _false_alert_table(episodes: pd.DataFrame, alert_kinds: Sequence[str], household_months: float) -> pd.DataFrame:
    kinds = list(dict.fromkeys(["inactivity", "meter_offline", *alert_kinds, *episodes["kind"]]))
    flagged = episodes.assign(false_alarm=episodes["false_alert"] & (episodes["severity"] == "alarm"))
    counts = flagged.groupby("kind")[["false_alert", "false_alarm"]].agg(["size", "sum"]).reindex(kinds, fill_value=0)
    false_alerts = counts[("false_alert", "sum")].astype("int64").to_numpy()
    false_alarms = counts[("false_alarm", "sum")].astype("int64").to_numpy()
    months = household_months if household_months > 0 else np.nan
    return pd.DataFrame({
        "alert_kind": kinds,
        "episodes": counts[("false_alert", "size")].astype("int64").to_numpy(),
        "false_alerts": false_alerts,
        "false_alarms": false_alarms,
        "household_months": household_months,
        "per_household_month": false_alerts / months,
        "alarms_per_household_month": false_alarms / months,
    })


def _incident_free_ms(readings: pd.DataFrame, windows: pd.DataFrame) -> float:
    """Monitored time (each meter's first to last reading) outside every incident window, in ms."""
    spans = readings.groupby("meter_id")["ts_ms"].agg(["min", "max"])
    total = float((spans["max"] - spans["min"]).sum())
    for meter, own in windows.groupby("meter_id"):
        if meter not in spans.index:
            continue
        lo, hi = spans.loc[meter, "min"], spans.loc[meter, "max"]
        covered, reach = 0.0, -np.inf
        ends = own["window_end"].astype("float64").fillna(np.inf)
        for start, end in sorted(zip(own["start_ms"].astype("float64"), ends)):
            start, end = max(start, lo, reach), min(end, hi)
            if end > start:
                covered += end - start
            reach = max(reach, end)
        total -= covered
    return total
