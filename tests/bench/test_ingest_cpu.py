"""Smoke test of ``python -m bench.ingest_cpu`` at a tiny size; it asserts nothing about speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("store", ["sqlite", "influxdb"])
def test_it_stores_every_reading_and_prints_cpu_per_reading(store):
    proc = subprocess.run([sys.executable, "-m", "bench.ingest_cpu", "--messages", "20", "--batch", "96",
                           "--per-batch", "7", "--store", store], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"1,920 readings into {store}, 7 messages a batch" in proc.stdout
    assert re.search(r"^CPU \d+\.\d\d s = \d+\.\d\d us a reading", proc.stdout, re.MULTILINE), proc.stdout
    server = re.search(r"^influxd CPU (\d+\.\d\d) s = (\d+\.\d\d) us a reading, of which reading the stored points"
                       r" before writing (\d+\.\d\d) us$", proc.stdout, re.MULTILINE)
    assert (server is not None) == (store == "influxdb"), proc.stdout
    if server is not None:
        assert float(server[3]) <= float(server[2])
