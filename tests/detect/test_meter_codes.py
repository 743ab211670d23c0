"""Meters as int64 codes and meters as ids go through the detectors alike.

The monitor and the backtest hand the detectors int64 meter codes, and the detectors keep their
carries and lookups on an int64 index (``detect.episodes.meter_index``), several times faster to
align than Python objects. A notebook hands them the ids themselves, kept as objects. The two must
find the same episodes and carry the same state, step after step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from detect.backtest import decode_meters, in_step_order, learns
from detect.continuous_flow import ContinuousFlowDetector
from detect.episodes import make_episodes, meter_index, sort_readings
from detect.fleet import FleetOutageDetector
from detect.inactivity import InactivityDetector
from detect.monitor import MeterCodes
from detect.offline import OfflineDetector
from detect.pattern import UnusualPatternDetector
from tests.detect.readings import H
from tests.detect.test_backtest import varied_silences
from tests.detect.test_carry_bounded import step_all

FIT_DAYS = 28
STEP_H = 12


def _ticks(readings: pd.DataFrame) -> list[tuple[dict, dict]]:
    """Fit on the first weeks, then step every detector through the rest in half-day ticks by arrival."""
    readings = sort_readings(readings)
    received = readings["received_ms"].to_numpy()
    detectors = in_step_order([InactivityDetector(), OfflineDetector(), UnusualPatternDetector(),
                               ContinuousFlowDetector(), FleetOutageDetector()])
    history = readings[received < FIT_DAYS * 24 * H]
    detectors = [clone(d).fit(history) if learns(d) else d.fit() for d in detectors]
    carries: dict = {}
    ticks = []
    for until_h in range(FIT_DAYS * 24, int(received.max() // H) + STEP_H + 1, STEP_H):
        batch = readings[(received >= (until_h - STEP_H) * H) & (received < until_h * H)]
        by_kind, carries = step_all(detectors, carries, batch, until_h * H)
        ticks.append((by_kind, carries))
    return ticks


def _frames(carry) -> dict[str, pd.DataFrame | pd.Series]:
    """A carry's frames keyed by meter: the fleet's is its first arrivals (its outages are not by meter)."""
    if isinstance(carry, pd.DataFrame):
        return {"carry": carry}
    return {"first_seen": carry.first_seen}


def _with_a_tap_left_running(readings: pd.DataFrame, meter: str, from_h: int, hours: int) -> pd.DataFrame:
    """``meter``'s register climbing 20 L/h more for ``hours`` from ``from_h``, as a tap left running."""
    ran_h = np.clip(readings["ts_ms"].to_numpy() / H - from_h, 0, hours)
    extra = np.where(readings["meter_id"].to_numpy() == meter, 20.0 * ran_h, 0.0)
    return readings.assign(total_l=readings["total_l"] + extra)


def test_meters_as_int64_codes_find_and_carry_what_meters_as_ids_do():
    readings = _with_a_tap_left_running(varied_silences(), "m00", from_h=40 * 24, hours=10)
    names, codes = np.unique(readings["meter_id"].to_numpy(dtype=object), return_inverse=True)
    by_ids = _ticks(readings)
    by_codes = _ticks(readings.assign(meter_id=codes.astype("int64")))

    assert len(by_ids) == len(by_codes) > 50
    found = 0
    for (episodes_ids, carries_ids), (episodes_codes, carries_codes) in zip(by_ids, by_codes, strict=True):
        for kind, episodes in episodes_ids.items():
            pd.testing.assert_frame_equal(decode_meters(episodes_codes[kind], names).reset_index(drop=True),
                                          episodes.reset_index(drop=True))
            found += len(episodes)
        for kind, carry in carries_ids.items():
            for name, frame in _frames(carry).items():
                coded = _frames(carries_codes[kind])[name]
                assert coded.index.dtype == "int64", (kind, name)
                assert names[coded.index.to_numpy()].tolist() == frame.index.tolist(), (kind, name)
                pd.testing.assert_frame_equal(pd.DataFrame(coded).reset_index(drop=True),
                                              pd.DataFrame(frame).reset_index(drop=True))
    assert found > 100  # the ticks found episodes of several kinds to compare, not only empty frames
    assert {kind for tick in by_ids for kind, e in tick[0].items() if len(e)} >= {
        "inactivity", "meter_offline", "unusual_pattern", "continuous_flow"}


@pytest.mark.parametrize(("meters", "dtype"), [
    (np.array([3, 1, 2], dtype="int64"), "int64"),
    (np.array([3, 1, 2], dtype="int32"), "int32"),
    (np.array(["m3", "m1"], dtype=object), object),
    (np.array(["m3", "m1"]), object),  # numpy strings: objects, as the ids come from a frame
    (np.array([], dtype=object), object),
])
def test_a_meter_index_keeps_integer_codes_and_makes_anything_else_objects(meters, dtype):
    index = meter_index(meters)
    assert index.dtype == dtype
    assert index.tolist() == meters.tolist()


def test_the_monitors_codes_keep_meter_ids_as_objects_and_decode_to_objects():
    # pandas 3 with pyarrow stores an all-string array in Arrow; the monitor's lookups and decoding
    # are several times slower there (bench.tick), so the codes and the episodes keep Python objects.
    codes = MeterCodes()
    first = codes.encode(pd.DataFrame({"meter_id": ["m2", "m1", "m2"], "ts_ms": [0, 0, 1], "total_l": 1.0,
                                       "received_ms": [0, 0, 1]}))
    later = codes.encode(pd.DataFrame({"meter_id": pd.Series(["m3", "m1"], dtype="str"), "ts_ms": 2,
                                       "total_l": 1.0, "received_ms": 2}))
    assert codes.ids.dtype == object and codes.ids.tolist() == ["m1", "m2", "m3"]
    assert first["meter_id"].tolist() == [0, 1, 1] and sorted(later["meter_id"].tolist()) == [0, 2]
    episodes = codes.decode(make_episodes([2, 0], kind="inactivity", severity="warning", started_ms=[0, 0],
                                          raised_ms=[1, 1]))
    assert episodes["meter_id"].tolist() == ["m3", "m1"]
    assert [str(episodes[column].dtype) for column in ("meter_id", "kind", "severity")] == ["object"] * 3
