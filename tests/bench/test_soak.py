"""Smoke test of ``python -m bench.soak`` for a few seconds, so that ``make soak`` cannot silently rot.

It checks that `anxin run` stored what was published and that every sample was written; it
asserts nothing about speed.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_stores_what_it_publishes_and_samples_memory_lag_ticks_and_the_probe(tmp_path):
    out = tmp_path / "soak.csv"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "0.5", "--sample-s", "10", "--tick-s", "5",
         "--meters", "200", "--rate", "50", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3
    last = rows[-1]
    assert float(last["rss_mb"]) > 0 and int(last["stored"]) > 0
    assert int(last["published"]) - int(last["stored"]) < 50  # stored within a second of publishing
    assert 0 <= float(last["lag_s"]) < 5
    assert int(last["ticks"]) >= 2 and float(last["tick_last_s"]) >= 0
    assert int(last["probe_n"]) > 0 and last["probe_errors"] == "0"
    assert "summary after" in done.stdout and "RSS" in done.stdout
