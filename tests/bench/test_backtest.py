"""The backtest benchmark runs at a tiny size and prints sane figures (no timing is asserted)."""

from __future__ import annotations

import re

from bench import backtest


def test_the_backtest_benchmark_prints_its_rates_and_the_ratio_to_read_csv(capsys):
    backtest.main(["--meters", "3", "--days", "10"])
    out = capsys.readouterr().out
    assert "720 readings, 3 meters" in out
    assert "alerts (the same in 2 processes)" in out  # the benchmark checks the sharded run's alerts
    rates = [float(r.replace(",", "")) for r in re.findall(r"([\d,]+) readings/s", out)]
    assert len(rates) == 10 and all(r > 0 for r in rates)
    assert re.search(r"ratio backtest total \(parse \+ detect\) / read_csv alone: \d+\.\dx wall", out)
    assert re.search(r"ratio backtest total, 2 processes / read_csv alone: \d+\.\dx wall", out)
    assert "read + parse times by pandas, no Arrow" in out  # and equal to Arrow's, which the benchmark checks
    assert "/ read_csv with strings as objects:" in out
    assert "glibc allocator: freed memory kept" in out
