"""The ingester's writer loop: parse a batch of messages, store it durably, then acknowledge it.

Nothing is acknowledged before it is stored, so a crash or a store outage loses nothing: the
broker redelivers, and the store ignores what it already has.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingest.mqtt import Message
from ingest.payload import PayloadRules, parse_message
from store.dead_letters import Rejection
from store.errors import StoreError
from store.readings import Reading, ReadingsStore
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
    ) -> None:
        self.source = source
        self.readings = readings
        self.dead_letters = dead_letters
        self.rules = rules
        self.clock = clock
        self.max_batch = max_batch
        self.retry_max_s = retry_max_s
        self.counters = IngestCounters()

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; whatever is unacknowledged then is redelivered later."""
        while not stop.is_set():
            batch = self._next_batch(timeout_s=0.2)
            if batch and self._store(batch, stop):
                self.source.ack(batch)

    def _next_batch(self, timeout_s: float) -> list[Message]:
        """Wait for one message, then take whatever else is already queued: big batches only under load."""
        try:
            batch = [self.source.messages.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while len(batch) < self.max_batch:
            try:
                batch.append(self.source.messages.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[Message], stop: threading.Event) -> bool:
        received_ms = to_ms(self.clock())
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        for message in batch:
            parsed = parse_message(message.topic, message.payload, received_ms=received_ms, rules=self.rules)
            readings.extend(parsed.readings)
            rejections.extend(parsed.rejections)
        stored, result = self._retry(lambda: self.readings.write(readings), stop)
        if not stored:
            return False
        received_at = from_ms(received_ms)
        for reading, stored_total in result.conflicts:
            rejections.append(_conflict(reading, stored_total, received_at))
        if rejections and not self._retry(lambda: self.dead_letters(rejections), stop)[0]:
            return False
        self.counters.messages += len(batch)
        self.counters.readings_stored += result.inserted
        self.counters.duplicates += len(readings) - result.inserted - len(result.conflicts)
        self.counters.rejected += len(rejections)
        for rejection in rejections:
            log.warning("dead-lettered a reading from %s: %s", rejection.topic, rejection.reason)
        return True

    def _retry(self, write: Callable, stop: threading.Event) -> tuple[bool, object]:
        """Run ``write`` until it succeeds, backing off while the store is down; (False, None) if stopped first."""
        delay = 0.5
        while not stop.is_set():
            try:
                return True, write()
            except StoreError as exc:
                self.counters.store_errors += 1
                self.counters.last_error = str(exc)
                log.warning("store unavailable, holding the batch and retrying in %.1fs: %s", delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
        return False, None


def _conflict(reading: Reading, stored_total: float, received_at: datetime) -> Rejection:
    payload = f'{{"ts_ms": {reading.ts_ms}, "total_l": {reading.total_l}}}'.encode()
    return Rejection(
        topic=f"meters/{reading.meter_id}/readings",
        payload=payload,
        reason=(
            f"a reading for this meter at this ts is already stored with total_l {stored_total}; "
            f"this one says {reading.total_l}. The first is kept; check the meter's clock or register"
        ),
        received_at=received_at,
        meter_id=reading.meter_id,
    )
