"""The ingester's writer loop: parse a batch of messages, store it durably, then acknowledge it.

Nothing is acknowledged before it is stored, so a crash or a store outage loses nothing: the
broker redelivers, and the store ignores what it already has.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingest.flood import FloodGate
from ingest.metrics import IngestMetrics
from ingest.mqtt_wire import Message
from ingest.payload import PayloadRules, meter_id_from_topic, parse_message
from store.dead_letters import Rejection
from store.errors import StoreError, StoreRefused
from store.readings import Reading, ReadingsStore, WriteResult
from store.times import from_ms, to_ms, utc_now

log = logging.getLogger(__name__)


@dataclass
class IngestCounters:
    messages: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    store_errors: int = 0
    last_error: str | None = field(default=None)


class Ingester:
    """Moves messages from a source to the readings store and the dead-letter table."""

    def __init__(
        self,
        *,
        source,  # has .messages (a queue of Message) and .ack(messages)
        readings: ReadingsStore,
        dead_letters: Callable[[Sequence[Rejection]], None],
        rules: PayloadRules = PayloadRules(),
        clock: Callable[[], datetime] = utc_now,
        max_batch: int = 1000,
        retry_max_s: float = 30.0,
        metrics: IngestMetrics | None = None,
        flood: FloodGate | None = None,
    ) -> None:
        self.source = source
        self.readings = readings
        self.dead_letters = dead_letters
        self.rules = rules
        self.clock = clock
        self.max_batch = max_batch
        self.retry_max_s = retry_max_s
        self.counters = IngestCounters()
        self.metrics = IngestMetrics() if metrics is None else metrics
        self.flood = FloodGate() if flood is None else flood
        self._batches = 0

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; whatever is unacknowledged then is redelivered later."""
        while not stop.is_set():
            batch = next_batch(self.source.messages, self.max_batch, timeout_s=0.2)
            if batch and self._store(batch, stop):
                self.source.ack(batch)

    def _store(self, batch: list[Message], stop: threading.Event) -> bool:
        received_ms = to_ms(self.clock())
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        self._batches += 1
        if self._batches % 1000 == 0:
            self.flood.forget_idle()
        for message in batch:
            meter_id = meter_id_from_topic(message.topic)
            if meter_id is not None and not self.flood.admit(meter_id):
                self._flooded(message, meter_id, received_ms, rejections)
                continue
            parsed = parse_message(message.topic, message.payload, received_ms=received_ms, rules=self.rules)
            readings.extend(parsed.readings)
            rejections.extend(parsed.rejections)
        stored, result = self._retry(lambda: self._write(readings), stop)
        if not stored:
            return False
        received_at = from_ms(received_ms)
        for reading, stored_total in result.conflicts:
            rejections.append(_conflict(reading, stored_total, received_at))
        for reading, why in result.refused:
            rejections.append(_refused(reading, why, received_at))
        if rejections and not self._retry(lambda: self.dead_letters(rejections), stop)[0]:
            return False
        duplicates = len(readings) - result.inserted - len(result.conflicts) - len(result.refused)
        self.counters.messages += len(batch)
        self.counters.readings_stored += result.inserted
        self.counters.duplicates += duplicates
        self.counters.rejected += len(rejections)
        self.metrics.batch_done(messages=len(batch), inserted=result.inserted, duplicates=duplicates,
                                rejections=rejections, new_readings=_new_readings(readings, result),
                                received_ms=received_ms)
        for rejection in rejections:
            log.warning("dead-lettered a reading from %s: %s", rejection.topic, rejection.reason,
                        extra={"meter_id": rejection.meter_id, "topic": rejection.topic})
        return True

    def _flooded(self, message: Message, meter_id: str, received_ms: int, rejections: list[Rejection]) -> None:
        """A message over its meter's rate limit: counted, and dead-lettered once a minute per meter."""
        self.metrics.flood_dropped.inc()
        dropped = self.flood.report_due(meter_id)
        if not dropped:
            return
        reason = (
            f"flood: meter {meter_id} sent more than {self.flood.per_minute:g} messages a minute (bursts of"
            f" {self.flood.burst:g}); {dropped} message(s) dropped since the last report, this one included;"
            " fix the meter's upload interval"
        )
        rejections.append(Rejection(message.topic, message.payload[: self.rules.max_payload_bytes], reason,
                                    from_ms(received_ms), meter_id))

    def _write(self, readings: list[Reading]) -> WriteResult:
        started = time.perf_counter()
        try:
            result = self.readings.write(readings)
        except StoreRefused as exc:
            # Retrying would block every meter behind this batch: keep its readings as dead letters.
            log.error("the readings store refused a batch of %d readings for good: %s", len(readings), exc)
            return WriteResult(refused=[(r, str(exc)) for r in readings])
        if readings:
            self.metrics.write_seconds.observe(time.perf_counter() - started)
        return result

    def _retry(self, write: Callable, stop: threading.Event) -> tuple[bool, object]:
        """Run ``write`` until it succeeds, backing off while the store is down; (False, None) if stopped first."""
        delay = 0.5
        try:
            while not stop.is_set():
                try:
                    return True, write()
                except StoreError as exc:
                    self.counters.store_errors += 1
                    self.counters.last_error = str(exc)
                    self.metrics.store_errors.inc()
                    self.metrics.batch_held.set(1)
                    log.warning("store unavailable, holding the batch and retrying in %.1fs: %s", delay, exc)
                    stop.wait(delay)
                    delay = min(delay * 2, self.retry_max_s)
            return False, None
        finally:
            self.metrics.batch_held.set(0)


def next_batch(messages: queue.Queue[Message], max_batch: int, *, timeout_s: float) -> list[Message]:
    """Wait for one message, then take whatever else is already queued: big batches only under load."""
    try:
        batch = [messages.get(timeout=timeout_s)]
    except queue.Empty:
        return []
    while len(batch) < max_batch:
        try:
            batch.append(messages.get_nowait())
        except queue.Empty:
            break
    return batch


def _new_readings(readings: Sequence[Reading], result: WriteResult) -> Sequence[Reading]:
    """The readings this write stored anew, or none when the result cannot say which they were.

    A write reports how many it inserted, not which: only when every reading that is not a conflict
    was inserted (no plain duplicates) are the new ones known.
    """
    if not result.conflicts:  # the common case: every reading is new, or the count shows some were not
        return readings if len(readings) == result.inserted else []
    conflicted = {id(reading) for reading, _ in result.conflicts}
    new = [reading for reading in readings if id(reading) not in conflicted]
    return new if len(new) == result.inserted else []


def _conflict(reading: Reading, stored_total: float, received_at: datetime) -> Rejection:
    reason = (
        f"a reading for this meter at this ts is already stored with total_l {stored_total}; "
        f"this one says {reading.total_l}. The first is kept; check the meter's clock or register"
    )
    return _store_rejection(reading, reason, received_at)


def _refused(reading: Reading, why: str, received_at: datetime) -> Rejection:
    return _store_rejection(reading, f"the readings store refused it: {why}; check the meter clock", received_at)


def _store_rejection(reading: Reading, reason: str, received_at: datetime) -> Rejection:
    payload = f'{{"ts_ms": {reading.ts_ms}, "total_l": {reading.total_l}}}'.encode()
    return Rejection(topic=f"meters/{reading.meter_id}/readings", payload=payload, reason=reason,
                     received_at=received_at, meter_id=reading.meter_id)
