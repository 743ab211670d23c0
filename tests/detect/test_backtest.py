"""Backtests: away windows reach the detectors that honour them, fleet outages regroup offline episodes,
and the away-windows CSV is read or refused clearly."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from detect import register
from detect.backtest import _window_steps, backtest, read_away_csv
from detect.continuous_flow import ContinuousFlowDetector
from detect.csvio import CsvFormatError
from detect.episodes import empty_episodes, sort_readings
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
from detect.pattern import UnusualPatternDetector, _no_carry
from store.times import to_ms
from tests.detect.readings import H, frame, hourly

STILL_FROM_1H = frame(hourly("m1", [0, 4] + [4] * 34))  # still from 01:00 to 35:00


def away(*windows) -> pd.DataFrame:
    return pd.DataFrame([(m, int(s * H), int(e * H)) for m, s, e in windows],
                        columns=["meter_id", "start_ms", "end_ms"])


def inactivity(episodes: pd.DataFrame) -> list[tuple]:
    chosen = episodes[episodes["kind"] == "inactivity"]
    return [(r.meter_id, r.started_ms / H, r.raised_ms / H) for r in chosen.itertuples()]


@pytest.mark.parametrize("learn", [False, True], ids=["one-step", "walk-forward"])
def test_an_away_window_suppresses_inactivity_and_a_silence_past_it_counts_from_its_end(learn):
    detectors = [InactivityDetector(learn=learn).fit(), OfflineDetector().fit()]
    assert inactivity(backtest(STILL_FROM_1H, detectors)) == [("m1", 1.0, 13.0)]
    assert inactivity(backtest(STILL_FROM_1H, detectors, away=away(("m1", 0, 40)))) == []
    assert inactivity(backtest(STILL_FROM_1H, detectors, away=away(("m1", 2, 20)))) == [("m1", 20.0, 32.0)]
    assert inactivity(backtest(STILL_FROM_1H, detectors, away=away(("m2", 0, 40)))) == [("m1", 1.0, 13.0)]


CALLS: list[tuple[str, bool]] = []  # (detector class, whether its step was given away windows)


class IgnoresAway(BaseEstimator):
    """A detector whose step takes no away windows; it records its calls and finds nothing."""

    kind = "ignores"

    def __init__(self, learns_from_history: bool = False) -> None:
        self.learns_from_history = learns_from_history

    def fit(self, readings=None, y=None):
        return self

    def step(self, readings, carry, *, until_ms):
        CALLS.append((type(self).__name__, False))
        return empty_episodes(), carry


class TakesAway(IgnoresAway):
    kind = "takes"

    def step(self, readings, carry, *, until_ms, away=None):
        CALLS.append((type(self).__name__, away is not None))
        return empty_episodes(), carry


@pytest.mark.parametrize("learns", [False, True], ids=["one-step", "walk-forward"])
def test_away_windows_go_only_to_detectors_whose_step_takes_them(learns):
    CALLS.clear()
    readings = frame(hourly("m1", [0.0] * 24 * 20))  # 20 days: a walk-forward steps three times
    backtest(readings, [TakesAway(learns), IgnoresAway(learns)], away=away(("m1", 0, 1)))
    steps = 3 if learns else 1
    assert sorted(CALLS) == sorted([("IgnoresAway", False)] * steps + [("TakesAway", True)] * steps)


def test_a_fleet_outage_replaces_the_offline_episodes_it_explains():
    rows = []
    for i in range(12):  # twelve hourly meters; their readings from 10:00 arrive at 16:00
        rows += [(f"m{i:02d}", h + i / 60, float(h), max(h + i / 60, 16 + i / 60) if h >= 10 else h + i / 60)
                 for h in range(20)]
    readings = frame(rows)
    plain = backtest(readings, [OfflineDetector().fit()])
    assert set(plain["kind"]) == {"meter_offline"} and len(plain) == 12
    regrouped = backtest(readings, [FleetOutageDetector().fit(), OfflineDetector().fit()])  # any order
    assert regrouped[["meter_id", "kind"]].values.tolist() == [["*", "fleet_outage"]]


def write(tmp_path, text: str):
    path = tmp_path / "away.csv"
    path.write_text(text)
    return path


def ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text))


def test_the_away_csv_is_read_as_epoch_milliseconds(tmp_path):
    path = write(tmp_path, "meter_id,start,end,note\n"
                           "m1,2026-11-01T08:00:00+08:00,2026-11-03T08:00:00+08:00,daughter\n"
                           "007,2026-11-02T00:00:00Z,2026-11-02T12:00:00Z,\n")
    windows = read_away_csv(path)
    assert windows.to_dict("records") == [
        {"meter_id": "m1", "start_ms": ms("2026-11-01T00:00:00+00:00"), "end_ms": ms("2026-11-03T00:00:00+00:00")},
        {"meter_id": "007", "start_ms": ms("2026-11-02T00:00:00+00:00"), "end_ms": ms("2026-11-02T12:00:00+00:00")},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meter,start,end\nm1,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z\n", "meter_id,start,end"),
        ("meter_id,start,end\nm1,2026-11-01T00:00:00,2026-11-02T00:00:00Z\n", "line 2: start .* needs a UTC offset"),
        ("meter_id,start,end\nm1,2026-11-02T00:00:00Z,2026-11-01T00:00:00Z\n", "line 2: a window must end after"),
        ("meter_id,start,end\n,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z\n", "line 2: every row needs a meter_id"),
        ("meter_id,start,end\nm1,tomorrow+08:00,2026-11-02T00:00:00Z\n", "ISO 8601"),
    ],
)
def test_a_bad_away_csv_is_refused_with_what_to_fix(tmp_path, text, message):
    with pytest.raises(CsvFormatError, match=message):
        read_away_csv(write(tmp_path, text))


def messy_readings(meters: int = 12, days: int = 50, seed: int = 0) -> pd.DataFrame:
    """Hourly readings with every register fault the rules know, duplicates and late readings."""
    rng = np.random.default_rng(seed)
    parts = []
    for m in range(meters):
        hours = np.arange(days * 24)
        use = np.where(rng.random(len(hours)) < 0.4, rng.integers(1, 30, len(hours)), 0).astype(float)
        use[(hours % 24 >= 1) & (hours % 24 < 6)] = 0.0
        parts += _with_faults(rng, m, hours, use)
    return pd.concat(parts, ignore_index=True)


def _with_faults(rng, m: int, hours: np.ndarray, use: np.ndarray) -> list[pd.DataFrame]:
    """Meter ``m``'s hourly readings of the litres ``use``d each hour, with register faults, late
    readings and duplicates."""
    total = 5_000.0 + np.cumsum(use)
    faults = rng.random(len(hours))
    total = np.where(faults < 0.01, total / 2, total)  # a glitch (suspect, then glitch or reset)
    total = np.where((faults >= 0.01) & (faults < 0.015), total / 1000, total)  # litres sent as m³
    total = np.where((faults >= 0.015) & (faults < 0.018), total + 1e6, total)  # an impossible step
    received = hours.copy()
    late = rng.random(len(hours)) < 0.01
    received[late] += rng.integers(1, 30, late.sum())  # a reading that arrives a day late
    frame_m = pd.DataFrame({"meter_id": f"m{m:02d}", "ts_ms": hours * H, "total_l": total,
                            "received_ms": received * H})
    duplicates = frame_m.sample(frac=0.01, random_state=m).assign(received_ms=lambda f: f["received_ms"] + H)
    return [frame_m, duplicates]


def test_the_register_steps_of_a_refit_window_cut_from_the_history_equal_its_own():
    readings = messy_readings()
    codes = pd.factorize(readings["meter_id"], sort=True)[0]
    readings = sort_readings(readings.assign(meter_id=codes.astype("int64")))
    history = register.consumption_steps(readings, None)[0]
    received, ts = readings["received_ms"].to_numpy(), readings["ts_ms"].to_numpy()
    redone = 0
    windows = [(begin_h, 3 + begin_h % 5) for begin_h in range(24 * 4, 24 * 50, 7)] + [(24 * 50, 84)]
    for begin_h, days in windows:  # starting at every hour of the day, so some start on each fault
        known = (received < begin_h * H) & (ts >= (begin_h - 24 * days) * H)
        alone = register.consumption_steps(readings[known], None)[0]
        cut = _window_steps(history, np.flatnonzero(known), InactivityDetector())
        pd.testing.assert_frame_equal(cut, alone)
        redone += (cut["note"].iloc[1:].to_numpy() != history["note"][known].iloc[1:].to_numpy()).sum()
    assert redone  # the windows did start on faults and late readings


def varied_silences(meters: int = 10, days: int = 60, seed: int = 4) -> pd.DataFrame:
    """Messy readings (as ``messy_readings``) of households whose silences vary: some use water often,
    some rarely, some go away for a day or two, some have a tap dripping day and night (a background
    flow), and some a tap creeping by day (no background: creep the rules must tell from use)."""
    rng = np.random.default_rng(seed)
    parts = []
    for m in range(meters):
        hours = np.arange(days * 24)
        often = (0.4, 0.12, 0.05)[m % 3]
        use = np.where(rng.random(len(hours)) < often, rng.integers(1, 30, len(hours)), 0).astype(float)
        use[(hours % 24 >= 1) & (hours % 24 < 6)] = 0.0
        if m % 4 == 1:
            for start in rng.integers(0, len(hours) - 60, 3):
                use[start:start + rng.integers(14, 60)] = 0.0  # away
        if m % 5 == 2:
            use += 2.0  # a tap dripping day and night, faster than a creep
        if m % 5 == 4:
            by_day = (hours % 24 >= 8) & (hours % 24 < 20) & (rng.random(len(hours)) < 0.8)
            use += np.where(by_day, 0.4, 0.0)  # a tap creeping by day
        parts += _with_faults(rng, m, hours, use)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("params", [{}, {"min_use_l": 5.0}, {"trickle_l_per_h": 0.0},
                                    {"ceiling_h": 8.0, "trickle_gap_h": 5.0, "min_history_days": 10}])
def test_a_refit_from_the_historys_silences_learns_what_a_refit_on_the_window_alone_learns(params):
    readings = varied_silences()
    codes = pd.factorize(readings["meter_id"], sort=True)[0]
    readings = sort_readings(readings.assign(meter_id=codes.astype("int64")))
    params = {"min_history_days": 3, **params}
    history = register.consumption_steps(readings, None)[0]
    refits = InactivityDetector(**params).refits_on_history(history)
    received, ts = readings["received_ms"].to_numpy(), readings["ts_ms"].to_numpy()
    learned_from_history, learned_alone = 0, 0
    for begin_h in range(24 * 4, 24 * 60, 7):  # windows starting at every hour of the day
        rows = np.flatnonzero((received < begin_h * H) & (ts >= (begin_h - 24 * (3 + begin_h % 17)) * H))
        steps = _window_steps(history, rows, InactivityDetector())
        own = InactivityDetector(**params).fit(steps, steps=steps)
        fitted = refits.fit(rows)
        pd.testing.assert_series_equal(fitted.background_l_per_h_, own.background_l_per_h_)
        pd.testing.assert_frame_equal(fitted.warning_h_, own.warning_h_)
        learned_alone += (fitted.background_l_per_h_ > 0).sum()
        learned_from_history += fitted.warning_h_.notna().any(axis=1).sum()
    assert learned_alone and learned_from_history  # both ways were taken, and warnings were learned


class _FitsFromReadings:
    """A learning detector whose ``fit`` takes no ``steps``: the walk-forward hands it readings."""

    def fit(self, readings=None, y=None):
        return super().fit(readings)


class _InactivityFromReadings(_FitsFromReadings, InactivityDetector):
    pass


class _PatternFromReadings(_FitsFromReadings, UnusualPatternDetector):
    pass


def test_a_walk_forward_fitted_from_the_historys_steps_raises_what_refits_from_readings_raise():
    readings = messy_readings(meters=8, days=70, seed=1)
    params = {"history_days": 20.0, "min_history_days": 3}
    fast = backtest(readings, [InactivityDetector(**params).fit(), UnusualPatternDetector(**params).fit()])
    slow = backtest(readings, [_InactivityFromReadings(**params).fit(), _PatternFromReadings(**params).fit()])
    assert len(fast) and set(fast["kind"]) == {"inactivity", "unusual_pattern"}
    pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.parametrize("params", [{}, {"min_use_l": 5.0, "max_silence_h": 6.0, "max_interval_h": 3.0}])
def test_the_days_a_refit_takes_from_the_judged_history_equal_the_days_it_judges_alone(params):
    readings = messy_readings(meters=12, days=50, seed=2)
    codes = pd.factorize(readings["meter_id"], sort=True)[0]
    readings = sort_readings(readings.assign(meter_id=codes.astype("int64")))
    detector = UnusualPatternDetector(**params, min_history_days=3).fit()
    history = register.consumption_steps(readings, None)[0]
    judged = detector.judge_history(history)
    received, ts = readings["received_ms"].to_numpy(), readings["ts_ms"].to_numpy()
    plain = []
    for begin_h in range(24 * 4, 24 * 50, 7):  # windows starting at every hour of the day
        rows = np.flatnonzero((received < begin_h * H) & (ts >= (begin_h - 24 * (3 + begin_h % 9)) * H))
        steps = _window_steps(history, rows, detector)
        days = judged.window(steps, rows)
        alone = detector._whole_days(detector._rows(steps, _no_carry().copy()), _no_carry())
        pd.testing.assert_frame_equal(days, alone[days.columns].reset_index(drop=True))
        learned = UnusualPatternDetector(**params, min_history_days=3).fit(steps, steps=steps, days=days)
        own = UnusualPatternDetector(**params, min_history_days=3).fit(steps, steps=steps)
        pd.testing.assert_frame_equal(learned.median_, own.median_)
        pd.testing.assert_frame_equal(learned.spread_, own.spread_)
        meters = steps["meter_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
        plain += list(judged._plain(steps, rows, starts, np.r_[starts[1:], len(meters)]))
    assert any(plain) and not all(plain)  # most windows are taken from the history, some judged again


def city_of_messy_meters() -> pd.DataFrame:
    """Messy readings of 12 meters over 60 days, where some meters join late (so a shard's first
    arrival is not the fleet's), every meter falls silent at once for 30 hours (a fleet outage
    across shards), and one meter runs a tap for a day and then goes still."""
    readings = messy_readings(meters=12, days=60, seed=3)
    meter = readings["meter_id"].str[1:].astype(int)
    joined_late = (meter >= 8) & (readings["ts_ms"] < (9 + meter) * 24 * H)
    outage = readings["received_ms"].between(40 * 24 * H, 41 * 24 * H + 6 * H)
    still = (meter == 5) & (readings["ts_ms"] > 52 * 24 * H)
    readings = readings[~joined_late & ~outage & ~still].copy()
    tap = (meter == 10) & readings["ts_ms"].between(30 * 24 * H, 31 * 24 * H)
    readings.loc[tap, "total_l"] += (readings.loc[tap, "ts_ms"] - 30 * 24 * H) / H * 30.0
    return readings.reset_index(drop=True)


@pytest.mark.parametrize("method", ["rule", "isolation_forest"])
def test_a_backtest_in_worker_processes_raises_what_one_process_raises(method):
    readings = city_of_messy_meters()
    windows = away(("m03", 20 * 24, 22 * 24), ("m09", 25 * 24, 27 * 24))

    def detectors():
        return [InactivityDetector(history_days=20.0).fit(), OfflineDetector().fit(),
                UnusualPatternDetector(method=method, history_days=20.0, min_history_days=3, random_state=0).fit(),
                ContinuousFlowDetector().fit(), FleetOutageDetector(min_meters=5).fit()]

    alone = backtest(readings, detectors(), away=windows)
    assert {"inactivity", "meter_offline", "fleet_outage", "unusual_pattern", "continuous_flow"} <= set(alone["kind"])
    for jobs in (2, 3):
        pd.testing.assert_frame_equal(backtest(readings, detectors(), away=windows, jobs=jobs), alone)
    with pytest.raises(ValueError, match="jobs must be 1 or more"):
        backtest(readings, detectors(), jobs=0)
