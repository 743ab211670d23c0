"""Unusual pattern: the hand rule against a learned model, on simulated routine drifts and on one real life.

Run: ``python -m bench.pattern [--households 50] [--days 120]``. Prints a Markdown table: per method
(and threshold), recall per drift kind, the median delay, false unusual_pattern alerts per
household-month of incident-free time, how many still-resident incidents it raised an alert
during (it should not: that is the inactivity detector's case), and alerts per month on the
untouched WEUSEDTO household (../shared/data/weusedto, hourly readings).

Scoring follows ``detect.evaluate``: an incident is detected by an ``unusual_pattern`` episode of
its meter raised within [start, end]; an episode is a false alert when its span from
``started_ms`` to ``raised_ms`` overlaps no incident window (its start to its end plus 24 h) of
its meter. ``detect.evaluate.score`` does not know the drift kinds yet, hence the few lines here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from detect.backtest import backtest
from detect.evaluate import to_markdown
from detect.pattern import UnusualPatternDetector
from detect.simulate import DRIFT_KINDS, Incident, simulate
from detect.weusedto import TIMEZONE, default_path, monitored_periods, load_flows, weusedto_untouched

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MONTH_MS = 30 * DAY_MS
MARGIN_MS = DAY_MS
START = pd.Timestamp("2025-01-01", tz="Asia/Shanghai")
MIX = (*DRIFT_KINDS, "still", None)
DURATION_DAYS = {"late_morning": (2, 5), "low_volume": (2, 5), "night_use": (2, 5), "still": (1, 2)}
CANDIDATES = {
    "rule, z > 3": dict(method="rule", z_threshold=3.0),
    "rule, z > 4 (default)": dict(method="rule", z_threshold=4.0),
    "rule, z > 5": dict(method="rule", z_threshold=5.0),
    "elliptic envelope, 2%": dict(method="elliptic_envelope", unusual_share=0.02),
    "elliptic envelope, 4%": dict(method="elliptic_envelope", unusual_share=0.04),
    "isolation forest, 2%": dict(method="isolation_forest", unusual_share=0.02),
}


def drift_incidents(households: int, days: int, random_state: int = 0) -> list[Incident]:
    """After a first month to learn from, each 30-day block gives household i the kind (i + block) % 5 of MIX.

    Drifts last 2-5 whole days from a local midnight, a still resident 1-2 days from a random hour.
    """
    rng = np.random.default_rng(random_state)
    incidents = []
    for block in range(1, days // 30):
        for i in range(households):
            kind = MIX[(i + block) % len(MIX)]
            if kind is None:
                continue
            low, high = DURATION_DAYS[kind]
            length_h = int(rng.integers(low, high + 1)) * 24 if kind != "still" else rng.uniform(24 * low, 24 * high)
            first_day = block * 30 + int(rng.integers(2, 30 - high - 2))
            start_h = first_day * 24 + (rng.uniform(6, 18) if kind == "still" else 0)
            incidents.append(Incident(f"m{i:04d}", kind, START + pd.Timedelta(hours=start_h),
                                      pd.Timedelta(hours=length_h)))
    return incidents


def score(episodes: pd.DataFrame, incidents: pd.DataFrame, readings: pd.DataFrame) -> dict[str, float]:
    """Recall per drift kind, median delay (h), false alerts per household-month, still incidents alerted."""
    pairs = incidents.reset_index(names="incident").merge(episodes, on="meter_id")
    within = pairs[(pairs["raised_ms"] >= pairs["start_ms"]) & (pairs["raised_ms"] <= pairs["end_ms"])]
    first = within.groupby("incident")["raised_ms"].min()
    found = incidents.assign(delay_h=(first.reindex(incidents.index) - incidents["start_ms"]) / HOUR_MS)
    row = {f"recall {kind} %": 100 * found.loc[found["kind"] == kind, "delay_h"].notna().mean() for kind in DRIFT_KINDS}
    row["median delay h"] = found.loc[found["kind"].isin(DRIFT_KINDS), "delay_h"].median()
    row["still incidents alerted %"] = 100 * found.loc[found["kind"] == "still", "delay_h"].notna().mean()
    row["false per household-month"] = false_alerts(episodes, incidents) / incident_free_months(readings, incidents)
    return row


def false_alerts(episodes: pd.DataFrame, incidents: pd.DataFrame) -> int:
    spans = episodes.reset_index(names="episode").merge(incidents, on="meter_id", how="left")
    overlaps = (spans["started_ms"] <= spans["end_ms"] + MARGIN_MS) & (spans["raised_ms"] >= spans["start_ms"])
    return int(len(episodes) - spans.loc[overlaps, "episode"].nunique())


def incident_free_months(readings: pd.DataFrame, incidents: pd.DataFrame) -> float:
    """Monitored time outside incident windows; the mix never lets a household's windows overlap."""
    span = readings.groupby("meter_id")["ts_ms"].agg(lambda ts: ts.max() - ts.min()).sum()
    return float(span - (incidents["end_ms"] + MARGIN_MS - incidents["start_ms"]).sum()) / MONTH_MS


def real_life(detector_params: dict, untouched: pd.DataFrame, months: float) -> float:
    """Alerts per monitored month on the untouched real household: every one is a false alert."""
    detector = UnusualPatternDetector(timezone=TIMEZONE, **detector_params)
    return len(backtest(untouched, [detector])) / months


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=50)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    incidents = drift_incidents(args.households, args.days, random_state=args.seed)
    sim = simulate(households=args.households, start=START, days=args.days, cadence_s=3600, incidents=incidents,
                   random_state=args.seed)
    real = None
    if default_path() is not None:
        flows = load_flows()
        periods = monitored_periods(flows)
        months = (periods["end_ms"] - periods["start_ms"]).sum() / MONTH_MS
        real = weusedto_untouched(cadence="1h", flows=flows)[0], months
    rows = {}
    for name, params in CANDIDATES.items():
        episodes = backtest(sim.readings, [UnusualPatternDetector(**params)])
        rows[name] = score(episodes, sim.incidents, sim.readings)
        if real is not None:
            rows[name]["real household, alerts per month"] = real_life(params, *real)
    table = pd.DataFrame(rows).T.rename_axis("method")
    counts = sim.incidents["kind"].value_counts().to_dict()
    print(f"{args.households} simulated households x {args.days} days, hourly readings; incidents {counts}; "
          f"weekly walk-forward refits; {time.perf_counter() - started:.0f} s\n")
    print(to_markdown(table))


if __name__ == "__main__":
    main()
