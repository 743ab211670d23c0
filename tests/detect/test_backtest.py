"""Backtests: away windows reach the detectors that honour them, fleet outages regroup offline episodes,
and the away-windows CSV is read or refused clearly."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from detect.backtest import backtest, read_away_csv
from detect.csvio import CsvFormatError
from detect.episodes import empty_episodes
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.offline import OfflineDetector
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
        ("meter_id,start,end\n,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z\n", "every row needs a meter_id"),
        ("meter_id,start,end\nm1,tomorrow+08:00,2026-11-02T00:00:00Z\n", "ISO 8601"),
    ],
)
def test_a_bad_away_csv_is_refused_with_what_to_fix(tmp_path, text, message):
    with pytest.raises(CsvFormatError, match=message):
        read_away_csv(write(tmp_path, text))
