"""Runs a real ingester (in this process or as `anxin ingest`) against a test broker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from api.settings import Settings, load_settings
from api.wiring import Background, Stores, build_ingester, start_ingester


def ingest_settings(broker_url: str, tmp_path: Path, protocol: str = "5", client_id: str = "anxin-test",
                    readings_url: str | None = None, **more) -> Settings:
    """Settings for an ingester on a test broker; readings in SQLite unless ``readings_url`` says otherwise."""
    db_url = f"sqlite:///{tmp_path}/anxin.db"
    return load_settings(mqtt_url=broker_url, mqtt_protocol=protocol, mqtt_client_id=client_id,
                         readings_url=readings_url or db_url, database_url=db_url, **more)


class InProcessIngester:
    """``anxin ingest`` in a thread; ``stop()`` disconnects it cleanly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stores = Stores(settings)
        self.background = Background()
        self.source, self.ingester = build_ingester(settings, self.stores)

    def start(self) -> InProcessIngester:
        start_ingester(self.background, self.source, self.ingester)
        if not self.source.connected.wait(10):
            raise TimeoutError("the ingester did not connect to the broker")
        return self

    def stop(self) -> None:
        self.background.shutdown()
        self.stores.close()

    def __enter__(self) -> InProcessIngester:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def ingester_process(settings: Settings, log_path: Path, overrides: dict[str, str] | None = None) -> subprocess.Popen:
    """``anxin ingest`` as its own process, so a test can SIGKILL it; ``overrides`` are more environment."""
    env = dict(os.environ, ANXIN_MQTT_URL=settings.mqtt_url, ANXIN_MQTT_PROTOCOL=settings.mqtt_protocol,
               ANXIN_MQTT_CLIENT_ID=settings.mqtt_client_id, ANXIN_READINGS_URL=settings.readings_url,
               ANXIN_MQTT_TOPIC=settings.mqtt_topic,
               ANXIN_DATABASE_URL=settings.database_url,
               ANXIN_INGEST_METRICS_PORT="0")  # tests in parallel must not fight over 9108
    env.update(overrides or {})
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "ingest"],
                                env=env, stdout=log, stderr=log)


def publisher(port: int, protocol: str = "5", username: str | None = None, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def stop_thread_after(seconds: float, action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread
