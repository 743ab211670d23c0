"""Smoke test of ``python -m bench.mqtt_read`` at a tiny size; it asserts nothing about speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_client_drains_the_backlog_and_gets_a_cpu_figure():
    proc = subprocess.run([sys.executable, "-m", "bench.mqtt_read", "--messages", "200", "--rounds", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^\| (paho-mqtt[^|]*|anxin.s lean client[^|]*|buffered reader[^|]*) \| (\d+\.\d) \|", proc.stdout, re.MULTILINE)
    assert len(rows) == 6, proc.stdout
    assert all(float(cpu) > 0 for _, cpu in rows)
