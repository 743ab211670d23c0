"""The live detector: each tick feeds newly stored readings through the detectors and syncs alerts.

It uses exactly the code a backtest uses (``step``), carrying each detector's per-meter state from
tick to tick; on start it rebuilds that state from the recent history in the store. As in a
backtest, the detectors see meters as integer codes (kept across ticks), so that their sorts,
groupings and lookups are on integers; episodes get their meter ids back before the sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.base import clone

from detect.backtest import decode_meters, in_step_order, learns, regroup, regroups, takes_away
from detect.episodes import empty_episodes, meter_index, sort_readings
from detect.register import SharedSteps, takes_steps
from detect.shard import Members, Shard
from store.alerts import Episode, SyncReport, sync_episodes
from store.db import Database
from store.errors import StoreError
from store.readings import ReadingsStore
from store.times import from_ms, to_ms, utc_now

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000


_SYNCED_COLUMNS = ["meter_id", "started_ms", "raised_ms", "severity"]


def ongoing_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episodes that last, as the monitor remembers them once synced."""
    return episodes.loc[episodes["ended_ms"].isna().to_numpy(), _SYNCED_COLUMNS].reset_index(drop=True)


def changed_meters(synced: pd.DataFrame, ongoing: pd.DataFrame, episodes: pd.DataFrame) -> np.ndarray:
    """The meters whose episodes differ from the ongoing ones synced last time: an episode that
    began, ended, grew worse or vanished since (every other meter's alert is already in step)."""
    before = pd.MultiIndex.from_frame(synced)
    now = pd.MultiIndex.from_frame(ongoing)
    ended = episodes["ended_ms"].notna().to_numpy()
    return pd.unique(np.concatenate([
        ongoing["meter_id"].to_numpy(dtype=object)[~now.isin(before)],
        synced["meter_id"].to_numpy(dtype=object)[~before.isin(now)],
        episodes["meter_id"].to_numpy(dtype=object)[ended],
    ]))


def to_store_episodes(frame: pd.DataFrame) -> list[Episode]:
    """The episodes as the store syncs them. Column by column: row tuples cost a burst's sync 0.06 s
    for 7,801 episodes, a third of it iterating the string column one value at a time."""
    ended = [None if over else ms for ms, over in zip(frame["ended_ms"].tolist(), frame["ended_ms"].isna().tolist())]
    return [
        Episode(meter_id=meter_id, kind=kind, severity=severity, started_at=from_ms(started_ms),
                raised_at=from_ms(raised_ms), ended_at=None if ended_ms is None else from_ms(ended_ms))
        for meter_id, kind, severity, started_ms, raised_ms, ended_ms in zip(
            frame["meter_id"].tolist(), frame["kind"].tolist(), frame["severity"].tolist(),
            frame["started_ms"].tolist(), frame["raised_ms"].tolist(), ended)
    ]


class MeterCodes:
    """Meter ids as integer codes, a code per id for the monitor's lifetime (new ids get the next codes)."""

    def __init__(self) -> None:
        self.ids = pd.Index([], dtype=object)

    def encode(self, readings: pd.DataFrame) -> pd.DataFrame:
        """``readings`` with meter_id as its code, in the order the detectors consume them.

        Ids first seen together get codes in the order of the ids, so a monitor started on its
        history numbers the meters as a backtest of that history does.
        """
        codes = self._codes(readings["meter_id"].to_numpy(dtype=object))
        return sort_readings(readings.assign(meter_id=codes))

    def encode_windows(self, away: pd.DataFrame) -> pd.DataFrame:
        """Away windows of the meters with a code (the others have no readings to judge), coded."""
        codes = self.ids.get_indexer(meter_index(away["meter_id"].to_numpy(dtype=object)))
        known = codes >= 0
        return away[known].assign(meter_id=codes[known].astype("int64"))

    def decode(self, episodes: pd.DataFrame) -> pd.DataFrame:
        """Episodes with meter codes turned back into meter ids (the fleet's own id is kept)."""
        return decode_meters(episodes, self.ids.to_numpy())

    def _codes(self, ids: np.ndarray) -> np.ndarray:
        # An object Index on both sides (see meter_index): given strings, pandas 3 makes Arrow ones.
        codes = self.ids.get_indexer(meter_index(ids))
        unknown = codes < 0
        if unknown.any():
            self.ids = meter_index(np.concatenate([self.ids.to_numpy(), np.sort(pd.unique(ids[unknown]))]))
            codes[unknown] = self.ids.get_indexer(meter_index(ids[unknown]))
        return codes.astype("int64")


def _ids(alert) -> dict:
    """The fields a log line about ``alert`` carries for structured logs (ANXIN_LOG_FORMAT=json)."""
    return {"alert_id": alert.id, "meter_id": alert.meter_id, "alert_kind": str(alert.kind),
            "severity": str(alert.severity)}


class Monitor:
    """Runs the detectors over the readings store and keeps the alerts table in step with them."""

    def __init__(
        self,
        *,
        detectors: Sequence,
        readings: ReadingsStore,
        db: Database,
        history_ms: int,
        clock: Callable[[], datetime] = utc_now,
        refit_ms: int = 7 * 86_400_000,
        away: Callable[[int, int], pd.DataFrame] | None = None,
        shard: Shard = Shard(),
    ) -> None:
        self.detectors = in_step_order(detectors)
        self.refit_ms = refit_ms
        self.away = away  # (start_ms, end_ms) -> the away windows overlapping it (meter_id, start_ms, end_ms)
        self._fitted_ms: int | None = None
        self.readings = readings
        self.db = db
        self.history_ms = history_ms
        self.clock = clock
        self._carry: dict[str, pd.DataFrame | None] = {d.kind: None for d in self.detectors}
        self._codes = MeterCodes()  # the carries and the learned state are keyed by these codes
        self._cursor: int | None = None
        # The ongoing episodes of each kind as last synced (none after a start: the first tick syncs every alert).
        self._synced: dict[str, pd.DataFrame] = {}
        # A shard sees only its own meters. Each shard regroups its own offline episodes into fleet
        # outages (its meters are a uniform sample of the fleet), but only shard 0 keeps the fleet's alert.
        self.shard = shard
        self._members = Members(shard)
        self._fleet_kinds = {d.kind for d in self.detectors if regroups(d)}

    def tick(self) -> dict[str, SyncReport]:
        """Consume what arrived since the last tick and sync alerts; the first tick loads the history."""
        now = self.clock()
        now_ms = to_ms(now)
        if self._fitted_ms is None or now_ms - self._fitted_ms >= self.refit_ms:
            self._refit(now_ms)
        if self._cursor is None:
            batch, cursor = self.readings.changes(None, received_since_ms=now_ms - self.history_ms)
        else:
            batch, cursor = self.readings.changes(self._cursor)
        by_kind, carries = self._step(self._own(batch), now_ms)
        by_kind = {kind: episodes for kind, episodes in by_kind.items()
                   if self.shard.index == 0 or kind not in self._fleet_kinds}
        ongoing = {kind: ongoing_episodes(episodes) for kind, episodes in by_kind.items()}
        with self.db.session() as session:  # one transaction: all kinds sync, or none does
            reports = {kind: self._sync(session, kind, episodes, ongoing[kind], now)
                       for kind, episodes in by_kind.items()}
        # Advance only after the alerts are committed; a failed tick replays the same batch.
        self._carry = carries
        self._cursor = cursor
        self._synced = ongoing
        for kind, report in reports.items():
            for alert in report.raised:
                log.info("raised %s alert %s on meter %s", kind, alert.id, alert.meter_id, extra=_ids(alert))
            for alert in report.escalated:
                log.info("escalated %s alert %s on meter %s to %s", kind, alert.id, alert.meter_id, alert.severity,
                         extra=_ids(alert))
            for alert in report.resolved:
                log.info("resolved %s alert %s on meter %s: condition ended", kind, alert.id, alert.meter_id,
                         extra=_ids(alert))
        return reports

    def _sync(self, session, kind: str, episodes: pd.DataFrame, ongoing: pd.DataFrame, now: datetime) -> SyncReport:
        """Sync one kind's alerts: after the first sync, only those of the meters whose episodes changed."""
        owns = None if self.shard.whole else self.shard.owns_one
        meters = None
        if kind in self._synced:
            meters = changed_meters(self._synced[kind], ongoing, episodes)
            episodes = episodes[episodes["meter_id"].isin(meters).to_numpy()]
        return sync_episodes(session, kind=kind, episodes=to_store_episodes(episodes), now=now, owns=owns,
                             meters=meters)

    def _own(self, readings: pd.DataFrame) -> pd.DataFrame:
        """The readings of this shard's meters."""
        if self.shard.whole or readings.empty:
            return readings
        return readings[self._members.owns(readings["meter_id"].to_numpy())].reset_index(drop=True)

    def _step(self, batch: pd.DataFrame, now_ms: int) -> tuple[dict[str, pd.DataFrame], dict]:
        """Every detector's episodes by kind (with meter ids), as a backtest finds them, and the
        carries to keep (keyed by meter code)."""
        batch = self._codes.encode(batch)
        windows = {}
        if self.away is not None and any(takes_away(d) for d in self.detectors):
            # Windows over the history, so a silence that began before a window ended is measured right.
            windows = {"away": self._codes.encode_windows(self.away(now_ms - self.history_ms, now_ms + _DAY_MS))}
        by_kind: dict[str, pd.DataFrame] = {d.kind: empty_episodes() for d in self.detectors}
        carries = {}
        shared = SharedSteps(batch)
        for d in self.detectors:
            if regroups(d):
                carries[d.kind] = regroup(d, by_kind, batch, self._carry[d.kind], until_ms=now_ms)
            else:
                extra = windows if takes_away(d) else {}
                if takes_steps(d):
                    extra = {**extra, "steps": shared.steps(d, self._carry[d.kind])}
                by_kind[d.kind], carries[d.kind] = d.step(batch, self._carry[d.kind], until_ms=now_ms, **extra)
        return {kind: self._codes.decode(episodes) for kind, episodes in by_kind.items()}, carries

    def _refit(self, now_ms: int) -> None:
        """Refit the detectors that learn from history on the newest readings, as a backtest does."""
        learning = [i for i, d in enumerate(self.detectors) if learns(d)]
        if learning:
            days = max(getattr(self.detectors[i], "history_days", 28.0) for i in learning)
            history = self._own(self.readings.read(start_ms=now_ms - int(days * 86_400_000), end_ms=now_ms))
            self._fit(history)
            log.info("refitted %d detector(s) on %d readings", len(learning), len(history))
        self._fitted_ms = now_ms

    def _fit(self, history: pd.DataFrame) -> None:
        """Refit the learning detectors on ``history`` (readings with meter ids)."""
        coded = self._codes.encode(history)
        self.detectors = [clone(d).fit(coded) if learns(d) else d for d in self.detectors]

    def run(self, stop: threading.Event, tick_s: float) -> None:
        """Tick every ``tick_s`` seconds until ``stop`` is set; a failing tick is logged and retried."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except StoreError as exc:
                log.warning("detector tick failed, retrying next tick: %s", exc)
            stop.wait(max(0.0, tick_s - (time.monotonic() - started)))
