"""Smoke test of ``python -m bench.api`` at a tiny size, so that ``make bench`` cannot silently rot.

It checks that the benchmark runs and prints sane figures; it asserts nothing about speed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wrk_installed():
    # Not a skip: a smoke test skipped in CI would let `make bench` rot unnoticed.
    assert shutil.which("wrk"), "wrk is not installed: `bash tests/services.sh` (run by make test) installs it"


LINE = re.compile(r"^  (?P<name>.+?)\s+(?P<rps>[\d,]+) req/s .*p50\s+(?P<p50>[\d.]+) ms\s+p99\s+(?P<p99>[\d.]+) ms"
                  r".*?(?P<requests>[\d,]+) requests\s+(?P<failed>\d+) failed$")


def test_the_api_and_the_bare_route_answer_under_load_over_sqlite_and_postgresql():
    done = subprocess.run(
        [sys.executable, "-m", "bench.api", "--households", "200", "--seconds", "1", "--clients", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [m.groupdict() for m in map(LINE.match, done.stdout.splitlines()) if m]
    names = [line["name"] for line in lines]
    # Two databases, two modes, the reference and three scenarios each.
    assert len(lines) == 2 * 2 * 4, done.stdout
    assert names.count("reference: bare FastAPI route, constant") == 4
    assert names.count("alerts open, as cadre") == names.count("one meter's week, as cadre") == 4
    for line in lines:
        assert int(line["requests"].replace(",", "")) > 0, line
        assert line["failed"] == "0", line
        assert 0 < float(line["p50"]) <= float(line["p99"]), line


def test_two_worker_processes_answer_beside_a_baseline_checkout():
    # This checkout as its own baseline: the flags work, whatever the commit compared against.
    done = subprocess.run(
        [sys.executable, "-m", "bench.api", "--households", "200", "--seconds", "1", "--clients", "20",
         "--database", "sqlite", "--modes", "saturated", "--workers", "2", "--baseline", str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [m.groupdict() for m in map(LINE.match, done.stdout.splitlines()) if m]
    names = [line["name"] for line in lines]
    assert names.count("alerts open, as admin") == names.count("baseline: alerts open, as admin") == 1, done.stdout
    assert len(lines) == 1 + 2 * 3, done.stdout
    for line in lines:
        assert int(line["requests"].replace(",", "")) > 0, line
        assert line["failed"] == "0", line
