"""Last week's use as a small bar chart: litres per hour, laid out on the server for an inline SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

HOUR_MS = 3_600_000
HOURS = 7 * 24
WIDTH, HEIGHT, AXIS = 336, 120, 14  # two SVG units an hour; the axis labels below the bars


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    height: float
    hour: datetime
    litres: float


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    plot_height: int
    bar_width: float
    bars: list[Bar]
    ticks: list[Tick]  # local midnights
    max_litres: float
    total_litres: float


def hourly_use(frame: pd.DataFrame) -> dict[int, float]:
    """Litres used in each hour of one meter's hourly series (``store.readings.HOURLY_COLUMNS``).

    An hour's use is its last total less the previous hour's last total (less its own first
    total for the first hour); a register that went backwards (a reset) counts as no use.

    >>> frame = pd.DataFrame({"hour_ms": [0, HOUR_MS, 3 * HOUR_MS], "total_l": [10.0, 25.0, 20.0],
    ...                       "first_l": [4.0, 12.0, 20.0]})
    >>> hourly_use(frame)
    {0: 6.0, 3600000: 15.0, 10800000: 0.0}
    """
    use: dict[int, float] = {}
    previous = None
    for hour_ms, total, first in frame.sort_values("hour_ms")[["hour_ms", "total_l", "first_l"]].itertuples(
        index=False, name=None
    ):
        base = first if previous is None else previous
        use[int(hour_ms)] = max(0.0, float(total) - float(base))
        previous = total
    return use


def usage_chart(use: dict[int, float], *, end: datetime, tz: ZoneInfo) -> Chart:
    """The week of hours ending with the hour of ``end``, one bar per hour with use."""
    last_hour = int(end.timestamp() * 1000) // HOUR_MS * HOUR_MS
    first_hour = last_hour - (HOURS - 1) * HOUR_MS
    step = WIDTH / HOURS
    plot = HEIGHT - AXIS
    week = {hour_ms: litres for hour_ms, litres in use.items() if first_hour <= hour_ms <= last_hour and litres > 0}
    top = max(week.values(), default=0.0)
    bars = []
    for hour_ms, litres in sorted(week.items()):
        height = max(1.0, plot * litres / top)  # a little use still shows
        bars.append(Bar(x=(hour_ms - first_hour) / HOUR_MS * step, y=plot - height, height=height,
                        hour=datetime.fromtimestamp(hour_ms / 1000, UTC).astimezone(tz), litres=litres))
    start = datetime.fromtimestamp(first_hour / 1000, UTC).astimezone(tz)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    ticks = []
    while midnight.timestamp() * 1000 <= last_hour:
        x = (midnight.timestamp() * 1000 - first_hour) / HOUR_MS * step
        ticks.append(Tick(x=x, label=midnight.strftime("%m-%d")))
        midnight = (midnight + timedelta(days=1, hours=2)).replace(hour=0)  # safe across DST changes
    return Chart(width=WIDTH, height=HEIGHT, plot_height=plot, bar_width=max(step - 0.4, 0.5), bars=bars,
                 ticks=ticks, max_litres=top, total_litres=sum(b.litres for b in bars))
