"""The inactivity detector's learned part: early warnings for silences unusual for this household and
hour, a trickle that cannot hide a silence, and the fixed rule for meters with little history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detect.backtest import backtest
from detect.inactivity import InactivityDetector

H = 3_600_000
DAY = 24 * H
TZ_OFFSET = 8 * H  # Asia/Shanghai
T0 = 1_700_000_000_000 // DAY * DAY - TZ_OFFSET  # a local midnight


def household(days: int, *, stop_at_h: float | None = None, drip_l_per_h: float = 0.0, leak_l_per_h: float = 0.0,
              meter: str = "m1") -> pd.DataFrame:
    """Hourly readings: 3 L in every waking hour (07:00-22:00 local), nothing at night.

    From ``stop_at_h`` (hours after T0) nobody uses water; ``drip_l_per_h`` then flows instead.
    ``leak_l_per_h`` flows all the time.
    """
    hours = np.arange(days * 24 + 1)
    local_hour = hours % 24
    use = np.where((local_hour >= 7) & (local_hour < 22), 3.0, 0.0) + leak_l_per_h
    if stop_at_h is not None:
        use = np.where(hours >= stop_at_h, drip_l_per_h + leak_l_per_h, use)
    total = 1000.0 + np.concatenate([[0.0], np.cumsum(use[1:])])
    ts = T0 + hours * H
    return pd.DataFrame({"meter_id": meter, "ts_ms": ts, "total_l": total, "received_ms": ts + 5_000})


def anxin(**params) -> InactivityDetector:
    return InactivityDetector(trickle_l_per_h=1.0, **params)


def split(frame: pd.DataFrame, at_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame["ts_ms"] < at_ms], frame[frame["ts_ms"] >= at_ms]


def test_an_unusual_morning_silence_warns_hours_before_the_ceiling_then_alarms():
    readings = household(29, stop_at_h=28 * 24 + 10)  # day 28: the 09:00 reading shows the last use
    history, live = split(readings, T0 + 28 * DAY)
    detector = anxin().fit(history)
    episodes, _ = detector.step(live, None, until_ms=T0 + 29 * DAY)
    [episode] = episodes.to_dict("records")
    assert episode["started_ms"] == T0 + (28 * 24 + 9) * H
    # The longest silence under way at 13:00-15:00 in the history is an hour or so: +2 h margin, at least 4 h.
    assert episode["raised_ms"] - episode["started_ms"] <= 4 * H + 5_000
    assert episode["severity"] == "alarm"  # it went on past the 12-hour ceiling


def test_the_fixed_rule_would_have_waited_twelve_hours():
    readings = household(29, stop_at_h=28 * 24 + 10)
    history, live = split(readings, T0 + 28 * DAY)
    [episode] = InactivityDetector(learn=False, trickle_l_per_h=0).fit(history).step(live, None, until_ms=T0 + 29 * DAY)[0].to_dict("records")
    assert episode["raised_ms"] - episode["started_ms"] == 12 * H + 5_000  # the rule never warns early


def test_a_usual_night_raises_nothing():
    readings = household(35)
    history, live = split(readings, T0 + 28 * DAY)
    assert anxin().fit(history).step(live, None, until_ms=T0 + 35 * DAY)[0].empty


def test_a_meter_with_little_history_falls_back_to_the_rule():
    readings = household(5, stop_at_h=4 * 24 + 10)
    history, live = split(readings, T0 + 4 * DAY)
    detector = anxin().fit(history)
    assert detector.warning_h_.empty
    [episode] = detector.step(live, None, until_ms=T0 + 5 * DAY)[0].to_dict("records")
    assert episode["raised_ms"] - episode["started_ms"] == 12 * H + 5_000


def test_a_drip_does_not_hide_a_silence():
    readings = household(29, stop_at_h=28 * 24 + 10, drip_l_per_h=0.6)
    history, live = split(readings, T0 + 28 * DAY)
    assert InactivityDetector(learn=False, trickle_l_per_h=0).fit(history).step(live, None, until_ms=T0 + 29 * DAY)[0].empty  # the rule is blind
    [episode] = anxin().fit(history).step(live, None, until_ms=T0 + 29 * DAY)[0].to_dict("records")
    assert episode["severity"] == "alarm" and episode["raised_ms"] - episode["started_ms"] <= 4 * H + 5_000


def test_a_household_leak_becomes_background_up_to_a_cap():
    readings = household(29, stop_at_h=28 * 24 + 10, leak_l_per_h=2.5)  # above the trickle, below the cap
    history, live = split(readings, T0 + 28 * DAY)
    detector = anxin().fit(history)
    assert detector.background_l_per_h_["m1"] == 2.5
    assert detector.step(live, None, until_ms=T0 + 29 * DAY)[0]["severity"].tolist() == ["alarm"]
    assert anxin(max_background_l_per_h=2.0).fit(history).step(live, None, until_ms=T0 + 29 * DAY)[0].empty


def test_learned_steps_are_split_invariant():
    readings = household(29, stop_at_h=28 * 24 + 10)
    history, live = split(readings, T0 + 28 * DAY)
    detector = anxin().fit(history)
    whole, _ = detector.step(live, None, until_ms=T0 + 29 * DAY)
    carry, pieces = None, []
    for rows in np.array_split(np.arange(len(live)), 7):
        piece = live.iloc[rows]
        episodes, carry = detector.step(piece, carry, until_ms=int(piece["received_ms"].max()))
        pieces.append(episodes)
    assert episodes.to_dict("records") == whole.to_dict("records")


def test_a_backtest_learns_as_it_goes_without_looking_ahead():
    readings = household(29, stop_at_h=28 * 24 + 10)
    [episode] = backtest(readings, [anxin().fit()]).to_dict("records")
    assert episode["raised_ms"] - episode["started_ms"] <= 4 * H + 5_000
    # What comes after the incident cannot change what was raised before it.
    cut = backtest(readings[readings["ts_ms"] <= episode["raised_ms"]], [anxin().fit()])
    assert cut["raised_ms"].tolist() == [episode["raised_ms"]]
