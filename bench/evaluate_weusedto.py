"""weusedto (one real person, ../shared/data/weusedto): anxin against the 12-hour rule at three cadences.

Run: ``python -m bench.evaluate_weusedto``. Incidents are injected (detect/weusedto.py); the alert burden
is measured on the untouched data, per month of monitored time.
"""
import pandas as pd
from detect.evaluate import evaluate, twelve_hour_rule
from detect.weusedto import CADENCES, load_flows, monitored_periods, weusedto_dataset, weusedto_untouched
from detect.backtest import backtest
from api.settings import DetectSettings
from api.wiring import build_detectors

flows = load_flows()
periods = monitored_periods(flows)
months = (periods["end_ms"] - periods["start_ms"]).sum() / (30 * 86_400_000)
anxin = lambda: build_detectors(DetectSettings(), timezone="Europe/Rome")
rows = {}
for cadence in CADENCES:
    readings, incidents = weusedto_dataset(cadence=cadence, flows=flows, random_state=0)
    for name, dets in (("anxin", anxin()), ("12-hour rule", [d.fit() for d in twelve_hour_rule()])):
        s = evaluate(readings, incidents, dets).summary()
        untouched, _ = weusedto_untouched(cadence=cadence, flows=flows)
        eps = backtest(untouched, dets)
        s["inactivity alerts per month, untouched"] = (eps["kind"] == "inactivity").sum() / months
        s["of which alarms"] = ((eps["kind"] == "inactivity") & (eps["severity"] == "alarm")).sum() / months
        rows[(cadence, name)] = s
table = pd.DataFrame(rows)
print(f"monitored months: {months:.2f}")
print(table.round(2).to_string())
