"""Messy register readings: how much water each reading shows was used, by documented rules.

Raw readings are stored unchanged; these rules decide only what counts as consumption, so that a
hostile or faulty register can fake neither movement (a missed alarm) nor stillness (a false one).
Each reading is judged against the meter's *baseline*, the last reading accepted as the register's
value, using only the past and at most one pending suspect reading, both kept in the carry. A
fresh reading that is a plausible step up from the baseline is plain use (``glitch`` after a
suspect); any other goes through unit, impossible, rollover, reset and suspect, in that order:

``stale``
    A reading whose ``ts`` is not newer than every reading already seen for the meter (a duplicate
    or an out-of-order reading) is ignored: it counts no use and moves nothing.
``unit_m3_as_l`` / ``unit_l_as_m3``
    A reading that times ``UNIT_FACTOR`` (m³ sent as litres) or divided by it (litres sent as m³)
    lies within a plausible step of the baseline, and within ``unit_tolerance`` of it as a
    fraction, is reinterpreted in litres; the reinterpreted step counts if positive. Checked before
    the rules below, and only for a reading that is not itself a plausible step.
``impossible``
    A step up implying more than ``max_flow_l_per_h`` over the time since the baseline (at least
    ``MIN_ELAPSED_MS``) counts as no use, and the baseline moves to it.
``rollover``
    A baseline in the top ``rollover_band`` of a register width in ``rollover_widths_l`` followed by
    a reading in the bottom band counts the unwrapped step (width - baseline + reading) when that
    step is plausible.
``suspect``
    Any other reading below the baseline counts as no use and is held as pending; the next reading
    settles it:
``glitch``
    the next reading is back at or above the baseline: the low one was a glitch, and use is counted
    from the baseline (100, 50, 100 is no use);
``reset``
    the next reading is below the baseline but not below the pending one: the meter was reset or
    replaced. The baseline moves to the low reading, the reset step itself counts no use, and the
    use since the low reading counts (if plausible). A next reading below the pending one replaces
    it as the suspect.

The first reading of a meter has no consumption (NaN, unknown). Consumption is never negative.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd

from detect.episodes import meter_index, sort_readings

MAX_FLOW_L_PER_H = 3125.0
"""Overload flow Q4 of a DN15 household meter (Q3 = 2.5 m³/h, times 1.25): no more can pass."""
MIN_ELAPSED_MS = 60_000
"""Steps are judged over at least a minute, so readings taken close together are not impossible."""
ROLLOVER_WIDTHS_L = (1e8, 1e7, 1e6)
"""Register widths in litres: 99,999 m³, 9,999 m³ and 999 m³ registers roll over to zero."""
ROLLOVER_BAND = 0.1
"""A rollover goes from the top tenth of a width to the bottom tenth."""
UNIT_FACTOR = 1000.0
"""Litres per cubic metre."""
UNIT_TOLERANCE = 0.05
"""A reinterpreted reading must lie within this fraction of the baseline, as well as a plausible step."""
NOTES = ("stale", "unit_m3_as_l", "unit_l_as_m3", "impossible", "rollover", "suspect", "glitch", "reset")
"""Every value the ``note`` column takes besides None (no rule applied)."""
BASELINE_ELSEWHERE = ("suspect", "unit_m3_as_l", "unit_l_as_m3")
"""After a reading with one of these notes the register's baseline is not that reading (a suspect is
pending, or a unit reinterpretation moved the baseline elsewhere)."""

CARRY_COLUMNS = ["last_ts", "base_l", "base_ts", "pending_l", "pending_ts"]
_HOUR_MS = 3_600_000


def consumption_steps(
    readings: pd.DataFrame,
    carry: pd.DataFrame | None,
    *,
    max_flow_l_per_h: float = MAX_FLOW_L_PER_H,
    rollover_widths_l: tuple[float, ...] = ROLLOVER_WIDTHS_L,
    rollover_band: float = ROLLOVER_BAND,
    unit_tolerance: float = UNIT_TOLERANCE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The litres each reading shows were used since the previous accepted reading, and why.

    Returns ``readings`` in the order of :func:`~detect.episodes.sort_readings` with two more
    columns, ``consumption_l`` (float; NaN for a meter's first reading) and ``note`` (one of
    :data:`NOTES`, or None), and the carry (per-meter state, indexed by meter_id, with the columns
    :data:`CARRY_COLUMNS`; extra columns of the given carry are ignored) to pass with the next
    readings. Any split of the readings into arrival-ordered pieces gives the same result.

    Parameters
    ----------
    readings : DataFrame
        Columns meter_id, ts_ms, total_l, received_ms.
    carry : DataFrame or None
        What the previous call returned; None for the first call.
    max_flow_l_per_h : float, default=MAX_FLOW_L_PER_H
        The largest plausible flow; a faster step is impossible.
    rollover_widths_l : tuple of float, default=ROLLOVER_WIDTHS_L
        Register widths, in litres, at which a register may roll over to zero.
    rollover_band : float, default=ROLLOVER_BAND
        Fraction of a width at its top and bottom between which a rollover may happen.
    unit_tolerance : float, default=UNIT_TOLERANCE
        How close, as a fraction of the baseline, a reading reinterpreted in other units must come.

    Examples
    --------
    >>> import pandas as pd
    >>> h = 3_600_000
    >>> totals = [100.0, 50.0, 100.0, 248_100.0, 248_105.0, 248.125, 20.0, 25.0]
    >>> readings = pd.DataFrame({"meter_id": "m1", "ts_ms": [i * h for i in range(8)], "total_l": totals,
    ...                          "received_ms": [i * h for i in range(8)]})
    >>> steps, carry = consumption_steps(readings, None)
    >>> steps[["total_l", "consumption_l", "note"]].to_numpy().tolist()  # doctest: +NORMALIZE_WHITESPACE
    [[100.0, nan, None], [50.0, 0.0, 'suspect'], [100.0, 0.0, 'glitch'], [248100.0, 0.0, 'impossible'],
     [248105.0, 5.0, None], [248.125, 20.0, 'unit_m3_as_l'], [20.0, 0.0, 'suspect'], [25.0, 5.0, 'reset']]
    """
    carry = empty_carry() if carry is None else carry[CARRY_COLUMNS]
    rows = sort_readings(readings)
    n = len(rows)
    consumption = np.zeros(n)
    note = np.full(n, None, dtype=object)
    if n == 0:
        return _with_steps(rows, consumption, note), carry

    stale = _stale(rows, carry)
    note[stale] = "stale"
    fresh = np.flatnonzero(~stale)
    meters = rows["meter_id"].to_numpy()[fresh]
    ts = rows["ts_ms"].to_numpy(dtype="float64")[fresh]
    total = rows["total_l"].to_numpy(dtype="float64")[fresh]
    if len(fresh):
        rules = _Rules(max_flow_l_per_h, tuple(rollover_widths_l), rollover_band, unit_tolerance)
        used, why, tail = rules.run(meters, ts, total, carry)
        consumption[fresh] = used
        note[fresh] = why
        carry = pd.concat([carry.drop(tail.index, errors="ignore"), tail])[CARRY_COLUMNS]
    return _with_steps(rows, consumption, note), carry


def empty_carry() -> pd.DataFrame:
    """The carry of a call that has seen no readings."""
    return pd.DataFrame(
        {
            "last_ts": pd.Series([], dtype="int64"),
            "base_l": pd.Series([], dtype="float64"),
            "base_ts": pd.Series([], dtype="int64"),
            "pending_l": pd.Series([], dtype="float64"),
            "pending_ts": pd.Series([], dtype="int64"),
        },
        index=pd.Index([], dtype=object),
    )


def _with_steps(rows: pd.DataFrame, consumption: np.ndarray, note: np.ndarray) -> pd.DataFrame:
    # object dtype keeps None as None (pandas would otherwise make a string column with NaN)
    return rows.assign(consumption_l=consumption, note=pd.Series(note, index=rows.index, dtype=object))


def _stale(rows: pd.DataFrame, carry: pd.DataFrame) -> np.ndarray:
    """Readings not newer than one already seen for the meter: a late reading cannot move the state."""
    seen = carry["last_ts"].reindex(rows["meter_id"]).fillna(-np.inf).to_numpy()
    running = rows.groupby("meter_id", sort=False)["ts_ms"].cummax().groupby(rows["meter_id"]).shift(1)
    newest_before = np.fmax(running.to_numpy(dtype="float64"), seen)
    return ~(rows["ts_ms"].to_numpy() > newest_before)


class _Rules:
    """The rules, applied to fresh readings (newer than all before them) in consumption order.

    A reading that is a plausible step up from the baseline, with nothing pending, is judged in one
    vectorised pass; so is a meter's first reading. Only the others, and the readings right after
    one that left the state unlike a plain step (a suspect pending, a unit reinterpretation), go
    through the rules one by one.
    """

    def __init__(self, max_flow_l_per_h: float, widths: tuple[float, ...], band: float, unit_tolerance: float):
        self.flow_per_ms = max_flow_l_per_h / _HOUR_MS
        self.widths = widths
        self.band = band
        self.unit_tolerance = unit_tolerance

    def run(self, meters, ts, total, carry) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Consumption and note of each reading, and the new carry rows of the meters seen."""
        k = len(meters)
        change = meters[1:] != meters[:-1]
        first = np.r_[True, change]
        last = np.r_[change, True]
        group = np.cumsum(first) - 1
        prior = carry.reindex(meters[first])
        prior_base = prior["base_l"].to_numpy(dtype="float64")
        prior_base_ts = prior["base_ts"].to_numpy(dtype="float64")
        prior_pending = prior["pending_l"].to_numpy(dtype="float64")
        prior_pending_ts = prior["pending_ts"].to_numpy(dtype="float64")

        # Assume every reading left the state of a plain step: baseline = its value, nothing pending.
        base = np.r_[np.nan, total[:-1]]
        base_ts = np.r_[np.nan, ts[:-1]]
        base[first] = prior_base
        base_ts[first] = prior_base_ts
        pending = np.zeros(k, dtype=bool)
        pending[first] = ~np.isnan(prior_pending)
        step = total - base
        plain = ~pending & (np.isnan(base) | ((step >= 0) & (step <= self._allowed(ts - base_ts))))
        used = np.where(np.isnan(base), np.nan, step)
        why = np.full(k, None, dtype=object)

        end_base, end_base_ts = total.copy(), ts.copy()
        end_pending, end_pending_ts = np.full(k, np.nan), np.zeros(k)
        todo = np.flatnonzero(~plain).tolist()
        if todo:
            prior_state = np.column_stack([prior_base, prior_base_ts, prior_pending, prior_pending_ts]).tolist()
            judged = self._one_by_one(todo, total, ts, first, last, group, prior_state)
            rows = np.fromiter(judged, dtype="int64", count=len(judged))
            outcome = list(zip(*judged.values()))
            used[rows], why[rows] = outcome[0], np.array(outcome[1], dtype=object)
            end_base[rows], end_base_ts[rows], end_pending[rows], end_pending_ts[rows] = outcome[2:]

        tail = pd.DataFrame(
            {
                "last_ts": ts[last].astype("int64"),
                "base_l": end_base[last],
                "base_ts": end_base_ts[last].astype("int64"),
                "pending_l": end_pending[last],
                "pending_ts": end_pending_ts[last].astype("int64"),
            },
            index=meter_index(meters[last]),
        )
        return used, why, tail

    def _one_by_one(self, todo, total, ts, first, last, group, prior_state) -> dict[int, tuple]:
        """Judge the rows in ``todo`` and every row after one that left the state unlike a plain step."""
        judged: dict[int, tuple] = {}
        done, forced, j = -1, -1, 0
        while True:
            if forced >= 0:
                i = forced
            else:
                while j < len(todo) and todo[j] <= done:
                    j += 1
                if j == len(todo):
                    return judged
                i = todo[j]
            x, t = total.item(i), ts.item(i)
            if first.item(i):
                state = prior_state[group.item(i)]
            elif i - 1 in judged:
                state = judged[i - 1][2:]
            else:  # a plain step
                state = (total.item(i - 1), ts.item(i - 1), math.nan, 0.0)
            outcome = judged[i] = self.one(x, t, *state)
            done = i
            like_plain = outcome[2] == x and outcome[3] == t and math.isnan(outcome[4])
            forced = i + 1 if not like_plain and not last.item(i) else -1

    def _allowed(self, elapsed_ms):
        return self.flow_per_ms * np.maximum(elapsed_ms, MIN_ELAPSED_MS)

    def one(self, x: float, t: float, base: float, base_ts: float, pending: float, pending_ts: float):
        """One reading against the state: (consumption, note, base, base_ts, pending, pending_ts)."""
        settled = (math.nan, 0.0)
        if math.isnan(base):
            return (math.nan, None, x, t, *settled)
        allowed = self.flow_per_ms * max(t - base_ts, MIN_ELAPSED_MS)
        step = x - base
        if 0 <= step <= allowed:
            return (step, None if math.isnan(pending) else "glitch", x, t, *settled)
        for value, note in ((x * UNIT_FACTOR, "unit_m3_as_l"), (x / UNIT_FACTOR, "unit_l_as_m3")):
            if abs(value - base) <= min(allowed, self.unit_tolerance * base):
                if value > base:
                    return (value - base, note, value, t, *settled)
                return (0.0, note, base, base_ts, *settled)
        if step > allowed:
            return (0.0, "impossible", x, t, *settled)
        for width in self.widths:
            unwrapped = width - base + x
            if (1 - self.band) * width <= base < width and 0 <= x < self.band * width and unwrapped <= allowed:
                return (unwrapped, "rollover", x, t, *settled)
        if not math.isnan(pending) and x >= pending:
            since_reset = x - pending
            plausible = since_reset <= self.flow_per_ms * max(t - pending_ts, MIN_ELAPSED_MS)
            return (since_reset if plausible else 0.0, "reset", x, t, *settled)
        return (0.0, "suspect", base, base_ts, x, t)


def takes_steps(detector) -> bool:
    """Whether a detector's ``step`` can take the register's steps worked out already (``steps=``)."""
    return "steps" in inspect.signature(detector.step).parameters


class SharedSteps:
    """The register rules over one batch, worked out once for every detector that uses them.

    Each such detector carries the register's state in its own carry; stepping on the same batches
    from the start, they carry the same. A detector whose register state differs (or whose
    ``max_flow_l_per_h`` does) gets a pass of its own.
    """

    def __init__(self, batch: pd.DataFrame) -> None:
        self.batch = batch
        self._done: list[tuple[float, pd.DataFrame | None, tuple]] = []

    def steps(self, detector, carry: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        max_flow = detector.max_flow_l_per_h
        for flow, used_carry, result in self._done:
            if flow == max_flow and _same_register_state(used_carry, carry):
                return result
        result = consumption_steps(self.batch, carry, max_flow_l_per_h=max_flow)
        self._done.append((max_flow, carry, result))
        return result


def _same_register_state(a: pd.DataFrame | None, b: pd.DataFrame | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a is b or a[CARRY_COLUMNS].equals(b[CARRY_COLUMNS])
