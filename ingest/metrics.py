"""The ingester's Prometheus metrics, and the small HTTP server that exposes them for ``anxin ingest``.

The Ingester updates an ``IngestMetrics``; the composition root decides which registry holds it
(the API's in ``anxin run``, a server of its own in ``anxin ingest``).
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import threading
import time
from collections.abc import Iterator, Sequence
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from store.dead_letters import Rejection
from store.readings import Reading

# What a rejection is about, derived from its reason (see reason_kind); the label never takes other values.
REASON_KINDS = ("topic", "too_large", "not_json", "shape", "meter_id", "ts", "total", "extra", "conflict", "other")

# First match wins: how each reason written by ingest/payload.py and ingest/service.py begins.
_REASON_PREFIXES = (
    ("topic", ("topic ",)),
    ("extra", ("optional field", "an optional field")),
    ("too_large", ("payload has ",)),
    ("not_json", ("payload is not utf-8", "payload is not json")),
    ("shape", ("payload is a json", "payload is an empty array", "item is a json")),
    ("meter_id", ("meter_id ",)),
    ("ts", ("ts ", "missing ts")),
    ("total", ("total_l", "total_m3", "missing total", "send total_l")),
    ("conflict", ("a reading for this meter at this ts is already stored",)),
    ("store_refused", ("the readings store refused it",)),
    ("flood", ("flood:",)),
)

WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From "live" to "a week-old batch": meters that upload daily land around 12-24 h.
LAG_BUCKETS_S = (1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400)
_VECTORISE_FROM = 256  # values in one observe_many call from which NumPy beats a loop of bisects


def reason_kind(reason: str) -> str:
    """A short, bounded name for what a rejection reason is about, for the ``reason_kind`` label.

    >>> reason_kind("payload is not JSON: Expecting value at line 1 column 1")
    'not_json'
    >>> reason_kind("total_l must be a non-negative number, got -5"), reason_kind("missing ts; send ...")
    ('total', 'ts')
    >>> reason_kind("payload is 300000 bytes; the limit is 262144 (only the first ...)")
    'too_large'
    >>> reason_kind("something new")
    'other'
    """
    text = reason.lower()
    if text.startswith("payload is ") and " bytes; the limit is " in text:
        return "too_large"
    for kind, prefixes in _REASON_PREFIXES:
        if text.startswith(prefixes):
            return kind
    return "other"


class IngestMetrics:
    """The counters, histograms and gauge that the Ingester updates, all held by ``registry``.

    Without a registry they go to a private one that nothing serves, so an Ingester built
    without metrics (as in a unit test) still counts.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        r = self.registry
        self.messages = Counter("anxin_ingest_messages_total", "MQTT messages processed and acknowledged.",
                                registry=r)
        self.readings = Counter("anxin_ingest_readings_total", "New readings stored.", registry=r)
        self.duplicates = Counter("anxin_ingest_duplicates_total",
                                  "Readings already stored with the same total, ignored.", registry=r)
        self.rejected = Counter("anxin_ingest_rejected_total",
                                "Messages or batch items refused, by what the reason is about.",
                                ["reason_kind"], registry=r)
        for kind in REASON_KINDS:
            self.rejected.labels(reason_kind=kind)  # every series exists from the start, at 0
        self.dead_letters = Counter("anxin_ingest_dead_letters_total",
                                    "Rejections written to the dead-letter table.", registry=r)
        self.store_errors = Counter("anxin_ingest_store_errors_total",
                                    "Failed writes to the readings store or the dead-letter table (each is retried).",
                                    registry=r)
        self.write_seconds = Histogram("anxin_ingest_write_seconds",
                                       "Time a successful batch write to the readings store took.",
                                       buckets=WRITE_BUCKETS_S, registry=r)
        self.lag_seconds = BatchHistogram("anxin_ingest_lag_seconds",
                                          "Receive time minus reading time of newly stored readings (0 if ahead).",
                                          buckets=LAG_BUCKETS_S, registry=r)
        self.flood_dropped = Counter("anxin_ingest_flood_dropped_total",
                                     "Messages not stored because their meter sent over its rate limit.", registry=r)
        self.batch_held = Gauge("anxin_ingest_batch_held",
                                "1 while a batch waits for an unavailable store, else 0.", registry=r)

    def batch_done(
        self,
        *,
        messages: int,
        inserted: int,
        duplicates: int,
        rejections: Sequence[Rejection],
        new_readings: Sequence[Reading],
        received_ms: int,
    ) -> None:
        """Count a batch that was stored, dead-lettered and is about to be acknowledged."""
        self.messages.inc(messages)
        self.readings.inc(inserted)
        self.duplicates.inc(duplicates)
        for rejection in rejections:
            self.rejected.labels(reason_kind=reason_kind(rejection.reason)).inc()
        self.dead_letters.inc(len(rejections))
        if new_readings:
            self.lag_seconds.observe_many(_lags_s(new_readings, received_ms))


def _lags_s(readings: Sequence[Reading], received_ms: int) -> Sequence[float]:
    """Receive time minus reading time in seconds, 0 for a reading ahead of it: a list for a few, an array for many.

    >>> _lags_s([Reading("m", 1_000, 1.0, 3_500), Reading("m", 9_000, 1.0, 3_500)], 3_500)
    [2.5, 0.0]
    """
    if len(readings) < _VECTORISE_FROM:
        return [max(0, received_ms - reading.ts_ms) / 1000 for reading in readings]
    ts_ms = np.fromiter(map(_TS_MS, readings), dtype=np.int64, count=len(readings))
    return np.maximum(received_ms - ts_ms, 0) / 1000


_TS_MS = operator.attrgetter("ts_ms")


class BatchHistogram:
    """A Prometheus histogram fed a batch of values at once, exposed exactly as ``prometheus_client.Histogram``.

    ``Histogram.observe`` takes one value a call (about 1 µs each); a 96,000-reading batch would spend
    a tenth of a second there. Buckets count values ``<= le``, as Prometheus defines them.

    >>> registry = CollectorRegistry()
    >>> lag = BatchHistogram("lag_seconds", "Lag.", buckets=(1, 10), registry=registry)
    >>> lag.observe_many([0.5, 1.0, 3.0, 30.0])
    >>> [registry.get_sample_value("lag_seconds_bucket", {"le": le}) for le in ("1.0", "10.0", "+Inf")]
    [2.0, 3.0, 4.0]
    >>> registry.get_sample_value("lag_seconds_sum")
    34.5
    """

    def __init__(self, name: str, documentation: str, *, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = [*map(float, buckets), math.inf]
        self._counts = [0] * len(self._bounds)  # per bucket, not cumulative
        self._sum = 0.0
        self._created = time.time()
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        """Count every value (none may be NaN): a Python loop for a few, NumPy for many (same counts)."""
        if len(values) < _VECTORISE_FROM:
            counts = [0] * len(self._bounds)
            for value in values:
                counts[bisect.bisect_left(self._bounds, value)] += 1
        else:
            array = np.asarray(values, dtype=np.float64)
            counts = np.bincount(np.searchsorted(self._bounds, array, side="left"), minlength=len(self._bounds))
        # A batch's sum, then added: equal to adding one by one up to float rounding.
        total = sum(values) if len(values) < _VECTORISE_FROM else float(array.sum())
        with self._lock:
            for index, count in enumerate(counts):
                self._counts[index] += int(count)
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative, total = list(itertools.accumulate(map(float, self._counts))), self._sum
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], [(floatToGoString(b), c) for b, c in zip(self._bounds, cumulative, strict=True)], total)
        family.samples.append(Sample(self.name + "_created", {}, self._created))
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation)


def start_metrics_server(registry: CollectorRegistry, *, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; ``server.shutdown()`` stops it.

    Raises OSError if the port cannot be bound.
    """
    return start_http_server(port, addr=host, registry=registry)
