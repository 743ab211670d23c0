"""The week-of-use chart: litres per hour from the hourly series, laid out on 168 hourly slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from api.web.chart import HOUR_MS, HOURS, WIDTH, hourly_use, usage_chart

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 22, 5, 30, tzinfo=UTC)  # 13:30 in Shanghai


def test_use_is_the_step_between_hours_and_a_reset_is_no_use():
    frame = pd.DataFrame({"hour_ms": [2 * HOUR_MS, 0, 5 * HOUR_MS], "total_l": [30.0, 10.0, 1.0],
                          "first_l": [12.0, 10.0, 1.0]})
    assert hourly_use(frame) == {0: 0.0, 2 * HOUR_MS: 20.0, 5 * HOUR_MS: 0.0}


def test_bars_sit_in_their_hour_and_scale_to_the_busiest():
    last = int(END.timestamp() * 1000) // HOUR_MS * HOUR_MS
    use = {last: 40.0, last - 24 * HOUR_MS: 10.0, last - HOURS * HOUR_MS: 99.0, last - 3 * HOUR_MS: 0.0}
    chart = usage_chart(use, end=END, tz=SHANGHAI)
    assert [b.litres for b in chart.bars] == [10.0, 40.0]  # out of the week and zero hours draw nothing
    busiest = chart.bars[-1]
    assert busiest.height == chart.plot_height and busiest.x == WIDTH * (HOURS - 1) / HOURS
    assert chart.bars[0].height == chart.plot_height / 4
    assert chart.bars[0].hour == datetime(2026, 11, 21, 13, tzinfo=SHANGHAI)
    assert [t.label for t in chart.ticks] == ["11-16", "11-17", "11-18", "11-19", "11-20", "11-21", "11-22"]
    assert chart.total_litres == 50.0


def test_an_empty_week_draws_no_bars():
    chart = usage_chart({}, end=END, tz=SHANGHAI)
    assert chart.bars == [] and chart.total_litres == 0 and len(chart.ticks) == 7
    assert timedelta(hours=HOURS) == timedelta(days=7)
