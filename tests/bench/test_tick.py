"""The detector-tick benchmark runs at a tiny size and prints sane figures (no timing is asserted)."""

from __future__ import annotations

import re

from bench import tick


def test_the_tick_benchmark_prints_the_store_read_the_step_the_tick_and_memory_per_meter(capsys):
    tick.main(["--meters", "300"])
    out = capsys.readouterr().out
    assert out.startswith("300 meters, ")
    for stage in ("store read (SQLite changes)", "detectors step", "alert sync and the rest", "whole tick"):
        assert re.search(re.escape(stage) + r"\s+\d+\.\d{3} s", out), stage
    ticks = re.search(r"3 hourly ticks in turn\s+(\d+\.\d{3}), (\d+\.\d{3}), (\d+\.\d{3}) s wall; median (\d+\.\d{3}) s", out)
    assert ticks and float(ticks.group(4)) == sorted(float(t) for t in ticks.groups()[:3])[1]
    per_meter = float(re.search(r"memory per meter\s+(\d+) B", out).group(1))
    assert 0 < per_meter < 100_000
