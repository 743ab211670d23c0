"""Publishing readings over MQTT: payload shapes, the replay clock, and a real broker end to end."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pandas as pd
import paho.mqtt.client as mqtt
import pytest

from detect.simulate import simulate
from ingest.publish import ReplayClock, publish_readings, upload_messages

START = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")


def parse(payload: bytes) -> list[dict]:
    body = json.loads(payload)
    return body if isinstance(body, list) else [body]


def unpack(messages) -> pd.DataFrame:
    """Messages back into a readings frame."""
    rows = []
    for received_ms, topic, payload in messages:
        meter_id = topic.split("/")[1]
        for item in parse(payload):
            ts_ms = pd.Timestamp(item["ts"]).value // 1_000_000
            rows.append((meter_id, ts_ms, item["total_l"], received_ms))
    frame = pd.DataFrame(rows, columns=["meter_id", "ts_ms", "total_l", "received_ms"])
    frame["meter_id"] = frame["meter_id"].astype(object)
    return frame.sort_values(["meter_id", "ts_ms"], ignore_index=True)


def test_streaming_readings_become_one_object_each():
    readings = simulate(households=2, start=START, days=1, cadence_s=1800).readings
    messages = list(upload_messages(readings))
    assert len(messages) == len(readings)
    assert all(isinstance(json.loads(payload), dict) for _, _, payload in messages)
    assert [m[0] for m in messages] == sorted(m[0] for m in messages)
    assert {topic for _, topic, _ in messages} == {"meters/m0000/readings", "meters/m0001/readings"}
    assert json.loads(messages[0][2])["ts"].endswith("+08:00")
    pd.testing.assert_frame_equal(unpack(messages), readings.sort_values(["meter_id", "ts_ms"], ignore_index=True))


def test_batch_readings_become_one_array_per_upload():
    readings = simulate(households=2, start=START, days=1, cadence_s=900, upload_every_s=6 * 3600).readings
    messages = list(upload_messages(readings, timezone="Europe/Berlin"))
    assert len(messages) == readings.groupby(["meter_id", "received_ms"]).ngroups
    bodies = [json.loads(payload) for _, _, payload in messages]
    assert any(isinstance(b, list) and len(b) == 24 for b in bodies)
    for body in bodies:
        items = body if isinstance(body, list) else [body]
        assert [i["ts"] for i in items] == sorted(i["ts"] for i in items)
        assert all(i["ts"].endswith("+01:00") for i in items)
    pd.testing.assert_frame_equal(unpack(messages), readings.sort_values(["meter_id", "ts_ms"], ignore_index=True))


def test_millisecond_times_and_bad_meter_ids():
    frame = pd.DataFrame({"meter_id": ["a"], "ts_ms": [1_709_222_400_123], "total_l": [5.5], "received_ms": [1]})
    [(_, _, payload)] = upload_messages(frame)
    assert json.loads(payload) == {"ts": "2024-03-01T00:00:00.123+08:00", "total_l": 5.5}
    with pytest.raises(ValueError, match="topic levels"):
        list(upload_messages(frame.assign(meter_id=["a/b"])))


class FakeWall:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class AdvancingStop(threading.Event):
    """A stop event whose wait() lets the fake wall clock pass instead of sleeping."""

    def __init__(self, wall: FakeWall, stop_after: int | None = None):
        super().__init__()
        self.wall, self.waits, self.stop_after = wall, [], stop_after

    def wait(self, timeout=None):
        self.waits.append(timeout)
        self.wall.now += timeout
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.set()
        return self.is_set()


WALL = 1_700_000_000.0  # a wall time in epoch seconds
HOUR_MS = 3_600_000


def test_replay_clock_runs_fast_then_at_real_speed():
    wall = FakeWall(WALL)
    clock = ReplayClock(sim_start_ms=int(WALL * 1000) - 10 * HOUR_MS, speed=600, wall=wall)
    assert clock.now_ms() == int(WALL * 1000) - 10 * HOUR_MS
    wall.now += 30  # 30 s at 600x are 5 h
    assert clock.now_ms() == int(WALL * 1000) - 5 * HOUR_MS
    wall.now += 30  # 60 s at 600x are 10 h: the simulated time has reached where the wall clock started
    assert clock.now_ms() == int(WALL * 1000)
    wall.now = WALL + 120
    assert clock.now_ms() == int(wall.now * 1000)  # caught up: never ahead of the real time
    wall.now += 3600
    assert clock.now_ms() == int(wall.now * 1000)


def test_replay_clock_never_passes_the_wall_clock():
    wall = FakeWall(WALL)
    clock = ReplayClock(sim_start_ms=int(WALL * 1000) - 36_000_000, speed=600, wall=wall)
    for step in range(0, 200):
        wall.now = WALL + step * 0.5
        assert clock.now_ms() <= wall.now * 1000
    # 10 h behind at 600x: caught up after 36000 / 599 s, at real speed from then on.
    wall.now = WALL + 36_000 / 599 - 1
    assert clock.now_ms() < wall.now * 1000
    wall.now = WALL + 36_000 / 599 + 1
    assert clock.now_ms() == int(wall.now * 1000)


def test_wait_until_sleeps_as_long_as_the_clock_needs():
    wall = FakeWall(WALL)
    sim_start = int(WALL * 1000) - 10 * HOUR_MS
    clock = ReplayClock(sim_start_ms=sim_start, speed=600, wall=wall)
    stop = AdvancingStop(wall)
    assert clock.wait_until(sim_start + HOUR_MS, stop)  # an hour of simulated time is 6 s of wall time
    assert clock.now_ms() >= sim_start + HOUR_MS
    assert wall.now - WALL == pytest.approx(6, abs=0.01)
    assert max(stop.waits) <= 1.0  # sleeps in short steps, so a stop is noticed promptly
    slept = len(stop.waits)
    assert clock.wait_until(sim_start, stop)  # already reached: no sleep
    assert len(stop.waits) == slept


def test_wait_until_returns_false_when_stopped():
    wall = FakeWall(WALL)
    clock = ReplayClock(sim_start_ms=int(WALL * 1000), speed=1, wall=wall)
    stop = AdvancingStop(wall, stop_after=3)
    assert not clock.wait_until(int(WALL * 1000) + HOUR_MS, stop)
    assert len(stop.waits) == 3
    assert clock.now_ms() < int(WALL * 1000) + HOUR_MS


def test_replay_clock_refuses_nonsense():
    with pytest.raises(ValueError, match="future"):
        ReplayClock(sim_start_ms=int(WALL * 1000) + 1, speed=10, wall=FakeWall(WALL))
    with pytest.raises(ValueError, match="speed must be positive"):
        ReplayClock(sim_start_ms=0, speed=0, wall=FakeWall(WALL))


class Subscriber:
    """A real paho subscriber that records every message on its topics."""

    def __init__(self, port: int, topic: str):
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber did not subscribe"

    def on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload))

    def wait_for(self, count: int, timeout_s: float = 10) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.02)
        time.sleep(0.2)  # anything extra would show up now
        with self.lock:
            return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    assert connected.wait(10), "publisher did not connect"
    yield client
    client.disconnect()
    client.loop_stop()


def recent_simulation(prefix: str) -> pd.DataFrame:
    """Streaming and daily-batch meters over the last 6 hours, so every reading is in the past."""
    start = pd.Timestamp.now(tz="Asia/Shanghai").floor("s") - pd.Timedelta(hours=7)
    streaming = simulate(households=3, start=start, days=0.25, cadence_s=900, meter_prefix=f"{prefix}s")
    batch = simulate(households=2, start=start, days=0.25, cadence_s=900, upload_every_s=3600,
                     meter_prefix=f"{prefix}b", random_state=1)
    readings = pd.concat([streaming.readings, batch.readings], ignore_index=True)
    return readings[readings["received_ms"] < time.time() * 1000 - 1000]


def test_publish_delivers_every_upload_to_a_real_broker(mosquitto, publisher):
    prefix = uuid.uuid4().hex[:6]
    readings = recent_simulation(prefix)
    expected = list(upload_messages(readings))
    subscriber = Subscriber(mosquitto.port, "meters/+/readings")
    try:
        acknowledged: list[int] = []
        clock = ReplayClock(sim_start_ms=int(readings["received_ms"].min()) - 1000, speed=1_000_000)
        count = publish_readings(readings, client=publisher, clock=clock, max_in_flight=5,
                                 on_published=acknowledged.append)
        got = subscriber.wait_for(len(expected))
    finally:
        subscriber.close()
    assert count == len(expected) == len(acknowledged)
    assert acknowledged == [m[0] for m in expected]
    assert sorted(got) == sorted((topic, payload) for _, topic, payload in expected)
    assert any(isinstance(json.loads(p), list) for t, p in got if f"/{prefix}b" in t)
    assert all(isinstance(json.loads(p), dict) for t, p in got if f"/{prefix}s" in t)
    # What arrived is exactly what was simulated.
    back = unpack([(0, topic, payload) for topic, payload in got]).drop(columns="received_ms")
    simulated = readings.sort_values(["meter_id", "ts_ms"], ignore_index=True).drop(columns="received_ms")
    pd.testing.assert_frame_equal(back, simulated)


def test_publish_waits_for_the_clock_and_stops_when_asked(mosquitto, publisher):
    now_ms = int(time.time() * 1000)
    frame = pd.DataFrame({"meter_id": [f"due{uuid.uuid4().hex[:6]}", "later"], "ts_ms": [now_ms - 60_000, now_ms],
                          "total_l": [1.0, 2.0], "received_ms": [now_ms - 50_000, now_ms + 3_600_000]})
    subscriber = Subscriber(mosquitto.port, "meters/+/readings")
    stop = threading.Event()
    try:
        clock = ReplayClock(sim_start_ms=now_ms - 120_000, speed=1000)
        # The first upload is due at once; the second only in an hour, so the replay stops after one.
        count = publish_readings(frame, client=publisher, clock=clock, stop=stop, on_published=lambda ms: stop.set())
        got = subscriber.wait_for(2, timeout_s=1)
    finally:
        subscriber.close()
    assert count == 1
    assert [topic for topic, _ in got] == [f"meters/{frame['meter_id'][0]}/readings"]
