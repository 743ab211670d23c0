"""The MQTT side of the ingester: a paho-mqtt 2.x client with a persistent session and manual acks.

Messages are handed to the writer through a bounded queue and acknowledged only when the writer
says they are stored. The broker's in-flight window bounds what is held in memory; what does not
fit stays queued in the broker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.mqtt_wire import Message

log = logging.getLogger(__name__)

NEVER_EXPIRE = 0xFFFFFFFF  # MQTT 5 session expiry: keep the session, and its queue, for ever


@dataclass(frozen=True)
class MqttOptions:
    host: str
    port: int
    topic: str
    client_id: str
    protocol: str = "5"  # or "3.1.1"
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    receive_maximum: int = 1000  # MQTT 5: unacknowledged messages the broker may send us at once


def make_client(options: MqttOptions) -> mqtt.Client:
    """A configured, unconnected client: persistent session, manual acks, reconnect backoff."""
    v5 = options.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
        manual_ack=True,
    )
    if options.username:
        client.username_pw_set(options.username, options.password)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class MqttSource:
    """Subscribes (again on every reconnect) and queues each message for the writer."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        client_factory: Callable[[MqttOptions], mqtt.Client] = make_client,
        max_queued: int = 10_000,
    ) -> None:
        self.options = options
        self.client_factory = client_factory
        self.messages: queue.Queue[Message] = queue.Queue(maxsize=max_queued)
        self.connected = threading.Event()
        self._generation = 0
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        client = self.client_factory(self.options)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        properties = None
        if self.options.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = NEVER_EXPIRE
            properties.ReceiveMaximum = self.options.receive_maximum
            # paho's default (clean start on first connect only) would wipe the queued session.
            client.connect_async(
                self.options.host, self.options.port, self.options.keepalive_s,
                clean_start=False, properties=properties,
            )
        else:
            client.connect_async(self.options.host, self.options.port, self.options.keepalive_s)
        self._client = client
        client.loop_start()

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge stored messages; those from an earlier connection will be redelivered instead."""
        client = self._client
        if client is None:
            return
        for message in messages:
            if message.qos > 0 and message.generation == self._generation:
                client.ack(message.mid, message.qos)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        client.subscribe(self.options.topic, qos=1)
        log.info("connected to MQTT broker %s:%s (session present: %s)",
                 self.options.host, self.options.port, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        """``connected`` means subscribed: set once the broker has granted the subscription."""
        if any(code.is_failure for code in reason_codes):
            log.error("MQTT broker refused the subscription to %s: %s", self.options.topic, reason_codes)
            return
        self.connected.set()
        log.info("subscribed to %s", self.options.topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if reason_code != 0:
            log.warning("lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        # Blocks only if the writer is far behind; the broker then holds the rest.
        self.messages.put(Message(message.topic, message.payload, message.mid, message.qos, self._generation))
