"""The flood rule: one meter may not take the ingester from the others.

Each meter has a token bucket: ``per_minute`` messages a minute on average, bursts of up to
``burst`` (a meter back from days offline may upload its backlog at once). A message over the limit
is acknowledged and not stored. The first one in each minute of a flood becomes a dead letter that
says so, with its payload; the rest are counted (``anxin_ingest_flood_dropped_total``) and logged
once a minute. A healthy meter sends a message every 15 minutes to a day, far below the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    at: float
    reported_at: float = float("-inf")
    dropped: int = 0


@dataclass
class FloodGate:
    """Token buckets per meter; ``admit`` says whether a message may go on to be stored.

    >>> clock = iter([0.0, 0.0, 0.0, 60.0]).__next__
    >>> gate = FloodGate(per_minute=1, burst=2, clock=clock)
    >>> [gate.admit("m1") for _ in range(4)]  # the third is over the burst; a minute later one more fits
    [True, True, False, True]
    """

    per_minute: float = 60.0
    burst: float = 1000.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def admit(self, meter_id: str) -> bool:
        now = self.clock()
        bucket = self._buckets.get(meter_id)
        if bucket is None:
            bucket = self._buckets[meter_id] = _Bucket(tokens=self.burst, at=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_minute / 60.0)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        bucket.dropped += 1
        return False

    def report_due(self, meter_id: str) -> int:
        """After a refusal: how many were dropped since the last report, if a report is due (else 0)."""
        bucket = self._buckets[meter_id]
        now = self.clock()
        if now - bucket.reported_at < 60.0:
            return 0
        bucket.reported_at, dropped, bucket.dropped = now, bucket.dropped, 0
        return dropped

    def forget_idle(self) -> None:
        """Drop full buckets, so the table holds only meters that sent recently."""
        now = self.clock()
        full_after = 60.0 * self.burst / self.per_minute
        self._buckets = {m: b for m, b in self._buckets.items() if now - b.at < full_after}
