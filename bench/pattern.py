"""Unusual pattern: the hand rule against a learned model, on simulated routine drifts and on one real life.

Run: ``python -m bench.pattern [--households 50] [--days 120]``. Prints a Markdown table: per method
(and threshold), recall per drift kind, the median delay, false unusual_pattern alerts per
household-month of incident-free time, how many still-resident incidents it raised an alert
during (it should not: that is the inactivity detector's case), and alerts per month on the
untouched WEUSEDTO household (../shared/data/weusedto, hourly readings).

Scoring is ``detect.evaluate.score``: an incident is detected by an ``unusual_pattern`` episode of
its meter raised within [start, end]; an episode is a false alert when its span from
``started_ms`` to ``raised_ms`` overlaps no incident window (its start to its end plus 24 h) of
its meter.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from detect.backtest import backtest
from detect.evaluate import score as evaluate_score
from detect.evaluate import to_markdown
from detect.pattern import UnusualPatternDetector
from detect.simulate import DRIFT_KINDS, Incident, simulate
from detect.weusedto import TIMEZONE, default_path, monitored_periods, load_flows, weusedto_untouched

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MONTH_MS = 30 * DAY_MS
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
    report = evaluate_score(episodes, incidents, readings, alert_kinds=["unusual_pattern"])
    recall = report.recall.set_index("kind")
    drifts = report.incidents[report.incidents["kind"].isin(DRIFT_KINDS)]
    row = {f"recall {kind} %": 100 * recall.loc[kind, "recall"] for kind in DRIFT_KINDS}
    row["median delay h"] = drifts.loc[drifts["detected"], "delay_h"].median()
    # A still resident is the inactivity detector's case: how often a pattern episode was raised
    # during one is the still recall the pattern episodes would have if they were inactivity alerts.
    still = incidents[incidents["kind"] == "still"]
    as_inactivity = evaluate_score(episodes.assign(kind="inactivity"), still, readings).recall
    row["still incidents alerted %"] = 100 * as_inactivity["recall"].iloc[0]
    false = report.false_alerts.set_index("alert_kind")
    row["false per household-month"] = false.loc["unusual_pattern", "per_household_month"]
    return row


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
