"""weusedto (one real person, ../shared/data/weusedto): anxin against the 12-hour rule at three cadences.

Run: ``python -m bench.evaluate_weusedto`` (detector settings from the environment, as for the service, e.g.
``ANXIN_DETECT__TRICKLE_L_PER_H=2``). Incidents are injected into the real flows
(detect/weusedto.py: 4 a month, the kinds taking turns); the alert burden is measured on the
untouched data, per month of monitored time. Prints one Markdown table.
"""

from __future__ import annotations

import time

import pandas as pd

from api.settings import load_settings
from api.wiring import build_detectors
from detect.backtest import backtest
from detect.evaluate import evaluate, fitted, to_markdown, twelve_hour_rule
from detect.weusedto import CADENCES, load_flows, monitored_periods, weusedto_dataset, weusedto_untouched

TIMEZONE = "Europe/Rome"  # where the household lives
INCIDENTS_PER_MONTH = 4.0


def detector_sets() -> dict[str, list]:
    return {"anxin": build_detectors(load_settings().detect, timezone=TIMEZONE), "12-hour rule": twelve_hour_rule()}


def one_row(readings, incidents, untouched, detectors, months: float) -> dict:
    report = evaluate(readings, incidents, detectors)
    recall = report.recall.set_index("kind")
    natural = backtest(untouched, [fitted(d) for d in detectors])
    inactivity = natural[natural["kind"] == "inactivity"]

    def cell(kind, column):
        return recall.loc[kind, column] if kind in recall.index else float("nan")

    return {
        "still recall %": 100 * cell("still", "recall"),
        "still delay median / p90 h": f"{cell('still', 'delay_median_h'):.1f} / {cell('still', 'delay_p90_h'):.1f}",
        "still_drip recall %": 100 * cell("still_drip", "recall"),
        "dead meter as offline %": 100 * cell("dead_meter", "recall"),
        "dead meter as inactivity %": 100 * report.misrouted["share"].iloc[0],
        "tap (15 L/h) recall %, delay median h": f"{100 * cell('tap_running', 'recall'):.0f}, "
                                                 f"{cell('tap_running', 'delay_median_h'):.1f}",
        "inactivity alerts / month, untouched (alarms)": f"{len(inactivity) / months:.2f} "
                                                         f"({(inactivity['severity'] == 'alarm').sum() / months:.2f})",
    }


def main() -> None:
    began = time.perf_counter()
    flows = load_flows()
    periods = monitored_periods(flows)
    months = float((periods["end_ms"] - periods["start_ms"]).sum() / (30 * 86_400_000))
    rows = {}
    for cadence in CADENCES:
        readings, incidents = weusedto_dataset(cadence=cadence, flows=flows, incidents_per_month=INCIDENTS_PER_MONTH,
                                               random_state=0)
        untouched, _ = weusedto_untouched(cadence=cadence, flows=flows)
        for name, detectors in detector_sets().items():
            rows[(cadence, name)] = one_row(readings, incidents, untouched, detectors, months)
    table = pd.DataFrame(rows).T
    table.index = [f"{cadence}, {name}" for cadence, name in table.index]
    counts = incidents["kind"].value_counts().to_dict()
    print(f"weusedto: {months:.1f} monitored months, incidents per cadence {counts}")
    print(to_markdown(table.rename_axis("cadence, detectors")))
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
