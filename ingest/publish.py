"""Publish readings (e.g. simulated ones) over MQTT as meters would, replaying them on a fast clock.

Topic ``meters/<meter_id>/readings``; payload ``{"ts": ISO 8601, "total_l": float}`` or a JSON array of them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from paho.mqtt.client import Client, MQTTErrorCode, MQTTMessageInfo

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Longest single sleep, so that a stop or a change of the wall clock is noticed promptly.
MAX_SLEEP_S = 1.0


def iso_ms(ms: int, tz: ZoneInfo) -> str:
    """Epoch milliseconds as ISO 8601 with the offset of ``tz``; milliseconds only when there are some."""
    local = (EPOCH + timedelta(milliseconds=int(ms))).astimezone(tz)
    return local.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def upload_messages(readings: pd.DataFrame, timezone: str = "Asia/Shanghai") -> Iterator[tuple[int, str, bytes]]:
    """(received_ms, topic, payload) per upload: readings grouped by (meter_id, received_ms), in received_ms order.

    One reading makes a JSON object, several a JSON array (oldest first); ts is ISO 8601 with the
    timezone's offset.

    Examples
    --------
    >>> frame = pd.DataFrame({"meter_id": ["m1", "m1"], "ts_ms": [0, 900_000],
    ...                       "total_l": [10.0, 12.0], "received_ms": [901_000, 901_000]})
    >>> [(ms, topic, payload.decode()) for ms, topic, payload in upload_messages(frame, "UTC")]
    [(901000, 'meters/m1/readings', '[{"ts":"1970-01-01T00:00:00+00:00","total_l":10.0},{"ts":"1970-01-01T00:15:00+00:00","total_l":12.0}]')]
    """
    tz = ZoneInfo(timezone)
    bad = {m for m in pd.unique(readings["meter_id"]) if not m or any(c in str(m) for c in "/+#")}
    if bad:
        raise ValueError(f"meter ids {sorted(bad)} cannot be MQTT topic levels (empty, or containing / + #)")
    ordered = readings.sort_values(["received_ms", "meter_id", "ts_ms"], kind="stable")
    meters = ordered["meter_id"].to_numpy()
    ts = ordered["ts_ms"].to_numpy("int64")
    totals = ordered["total_l"].to_numpy("float64")
    received = ordered["received_ms"].to_numpy("int64")
    if len(ordered) == 0:
        return
    new_upload = np.ones(len(ordered), dtype=bool)
    new_upload[1:] = (received[1:] != received[:-1]) | (meters[1:] != meters[:-1])
    bounds = np.append(np.flatnonzero(new_upload), len(ordered))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        items = [{"ts": iso_ms(ts[i], tz), "total_l": float(totals[i])} for i in range(lo, hi)]
        body = items[0] if len(items) == 1 else items
        yield int(received[lo]), f"meters/{meters[lo]}/readings", json.dumps(body, separators=(",", ":")).encode()


class ReplayClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``sim_start_ms``.

    It never gets ahead of the real time: once it catches up with the wall clock it runs at real speed.
    ``wall`` returns the real time in epoch seconds.

    Examples
    --------
    >>> now = [1_000.0]
    >>> clock = ReplayClock(sim_start_ms=400_000, speed=60, wall=lambda: now[0])
    >>> now[0] += 5
    >>> clock.now_ms()  # 5 s of wall time are 300 s of simulated time
    700000
    >>> now[0] += 10
    >>> clock.now_ms()  # caught up with the real time
    1015000
    """

    def __init__(self, sim_start_ms: int, speed: float, wall: Callable[[], float] = time.time):
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.sim_start_ms = int(sim_start_ms)
        self.speed = float(speed)
        self.wall = wall
        self._wall_start = wall()
        if self.sim_start_ms > self._wall_start * 1000:
            raise ValueError("sim_start_ms is in the future; a ReplayClock never runs ahead of the real time")

    def now_ms(self) -> int:
        wall = self.wall()
        fast = self.sim_start_ms + (wall - self._wall_start) * self.speed * 1000
        return int(min(fast, wall * 1000))

    def wall_time_of(self, sim_ms: int) -> float:
        """The wall time (epoch seconds) at which the clock reaches ``sim_ms``."""
        fast = self._wall_start + (sim_ms - self.sim_start_ms) / self.speed / 1000
        return max(fast, sim_ms / 1000)

    def wait_until(self, sim_ms: int, stop: threading.Event | None = None) -> bool:
        """Sleep until the clock reaches ``sim_ms``; False if ``stop`` was set first."""
        stop = threading.Event() if stop is None else stop
        while not stop.is_set():
            if self.now_ms() >= sim_ms:
                return True
            stop.wait(min(MAX_SLEEP_S, max(self.wall_time_of(sim_ms) - self.wall(), 0.001)))
        return False


class _InFlight:
    """Published messages awaiting their PUBACK, oldest first."""

    def __init__(self, on_published: Callable[[int], None] | None):
        self.pending: deque[tuple[int, MQTTMessageInfo]] = deque()
        self.acked = 0
        self.on_published = on_published

    def add(self, received_ms: int, info: MQTTMessageInfo) -> None:
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.pending.append((received_ms, info))
        elif info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # paho keeps it and sends it after reconnecting, but its info no longer reports the PUBACK.
            log.warning("connection lost while publishing upload received at %d; paho will resend it", received_ms)
        else:
            log.error("upload received at %d was not published: %s", received_ms, info.rc)

    def collect(self) -> None:
        """Count the acknowledged messages at the head of the queue."""
        while self.pending and self.pending[0][1].is_published():
            received_ms, _ = self.pending.popleft()
            self.acked += 1
            if self.on_published is not None:
                self.on_published(received_ms)

    def wait_oldest(self, timeout: float) -> None:
        if self.pending:
            self.pending[0][1].wait_for_publish(timeout)
        self.collect()


def publish_readings(
    readings: pd.DataFrame,
    *,
    client: Client,
    clock: ReplayClock,
    stop: threading.Event | None = None,
    timezone: str = "Asia/Shanghai",
    max_in_flight: int = 100,
    on_published: Callable[[int], None] | None = None,
) -> int:
    """Publish every upload at QoS 1 when the clock reaches its received_ms.

    The client is already connected with its network loop running (``loop_start``). At most
    ``max_in_flight`` messages await their PUBACK; ``on_published(received_ms)`` is called as each
    upload is acknowledged. Returns how many messages the broker acknowledged; setting ``stop``
    ends the replay early.
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    stop = threading.Event() if stop is None else stop
    in_flight = _InFlight(on_published)
    for received_ms, topic, payload in upload_messages(readings, timezone):
        # While the next upload is not due, collect acknowledgements so on_published stays timely.
        while in_flight.pending and clock.now_ms() < received_ms and not stop.is_set():
            in_flight.wait_oldest(timeout=0.1)
        if not clock.wait_until(received_ms, stop) or not _wait_connected(client, stop):
            break
        in_flight.add(received_ms, client.publish(topic, payload, qos=1))
        in_flight.collect()
        while len(in_flight.pending) >= max_in_flight and not stop.is_set():
            in_flight.wait_oldest(timeout=0.1)
    while in_flight.pending and not stop.is_set():
        in_flight.wait_oldest(timeout=0.1)
    in_flight.collect()
    if in_flight.pending:
        log.info("stopped with %d uploads not acknowledged", len(in_flight.pending))
    return in_flight.acked


def _wait_connected(client: Client, stop: threading.Event) -> bool:
    """Publish only while connected; the client's network loop does the reconnecting."""
    if client.is_connected():
        return True
    log.warning("waiting for the MQTT connection to come back")
    while not stop.is_set():
        if client.is_connected():
            log.info("MQTT connection is back")
            return True
        stop.wait(0.1)
    return False
