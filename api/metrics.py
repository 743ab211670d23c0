"""``GET /metrics``: Prometheus metrics of the fleet, read from the readings store at each scrape.

In ``anxin run`` the same registry also holds the ingester's metrics (``ingest/metrics.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.deps import MetricsRegistryDep
from store.errors import StoreError
from store.readings import ReadingsStore

log = logging.getLogger(__name__)

router = APIRouter(tags=["metrics"])

NO_LETTERS_FAMILY = "_"


def meter_family(meter_id: str) -> str:
    """The family a meter belongs to in metrics: the ASCII letters its id starts with.

    An id that starts with a digit belongs to the family ``_``.

    >>> [meter_family(m) for m in ("m0002", "flat-12.b", "dong-3-502", "Tower_7", "12-3")]
    ['m', 'flat', 'dong', 'Tower', '_']
    """
    end = 0
    while end < len(meter_id) and meter_id[end].isascii() and meter_id[end].isalpha():
        end += 1
    return meter_id[:end] or NO_LETTERS_FAMILY


class FleetCollector:
    """Per meter family: how many meters there are and the time of the newest reading among them.

    Computed from ``ReadingsStore.latest()`` (one row per meter) at every scrape. If the store
    fails, the scrape still answers, without the fleet gauges, and counts the failure.
    """

    def __init__(self, readings: ReadingsStore) -> None:
        self.readings = readings
        self._store_errors = 0
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        try:
            latest = self.readings.latest()
        except StoreError as exc:
            log.warning("metrics: the readings store did not answer; this scrape has no fleet gauges: %s", exc)
            with self._lock:
                self._store_errors += 1
            yield from self._families()
            return
        newest_ms: dict[str, int] = {}
        meters: dict[str, int] = {}
        for meter_id, ts_ms in zip(latest["meter_id"], latest["ts_ms"], strict=True):
            family = meter_family(meter_id)
            newest_ms[family] = max(newest_ms.get(family, ts_ms), ts_ms)
            meters[family] = meters.get(family, 0) + 1
        yield from self._families(newest_ms, meters)

    def _families(self, newest_ms: dict[str, int] | None = None,
                  meters: dict[str, int] | None = None) -> Iterator[Metric]:
        last = GaugeMetricFamily("anxin_meter_last_reading_timestamp_seconds",
                                 "Time of the newest reading of any meter in the family (Unix seconds).",
                                 labels=["family"])
        count = GaugeMetricFamily("anxin_meters", "Meters that have sent at least one reading, per family.",
                                  labels=["family"])
        for family in sorted(newest_ms or {}):
            last.add_metric([family], newest_ms[family] / 1000)
            count.add_metric([family], meters[family])
        yield last
        yield count
        with self._lock:
            errors = self._store_errors
        yield CounterMetricFamily("anxin_metrics_store_errors",
                                  "Scrapes whose fleet gauges were left out because the readings store failed.",
                                  value=errors)


def fleet_registry(readings: ReadingsStore, registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` (a new one if None) with the fleet collector over ``readings`` registered in it."""
    registry = CollectorRegistry() if registry is None else registry
    registry.register(FleetCollector(readings))
    return registry


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    description="Text exposition format; no token. Keep it off the public network: let only Prometheus reach it.",
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "The metrics"}},
)
def metrics(registry: MetricsRegistryDep) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
