"""The MQTT source's contract, for both clients, against a real Mosquitto: what the ingester relies on."""

from __future__ import annotations

import logging
import socket
import threading
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ingest.lean_mqtt import LeanMqttSource
from ingest.mqtt import MqttOptions, MqttSource
from ingest.mqtt_wire import Message
from tests.ingest.harness import publish_all, publisher, wait_until
from tests.servers import Mosquitto

TOPIC = "meters/+/readings"
ACK_SETTLE_S = 1.0  # paho sends an ack from its own thread: time for it to reach the broker before a restart


@contextmanager
def running_source(client: str, port: int, **options) -> Iterator[MqttSource | LeanMqttSource]:
    settings = MqttOptions(host="127.0.0.1", port=port, topic=TOPIC, client_id=f"source-{client}", **options)
    source = LeanMqttSource(settings) if client == "lean" else MqttSource(settings)
    source.start()
    try:
        yield source
    finally:
        source.stop()


def take(source, n: int, timeout_s: float = 10.0) -> list[Message]:
    return [source.messages.get(timeout=timeout_s) for _ in range(n)]


def queued_after(source, quiet_s: float) -> list[Message]:
    """Everything queued once ``quiet_s`` seconds have passed."""
    time.sleep(quiet_s)
    out = []
    while True:
        try:
            out.append(source.messages.get_nowait())
        except queue.Empty:
            return out


def readings(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"meters/m{i}/readings", b'{"n": %d}' % i) for i in range(start, start + n)]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_messages_arrive_with_their_topic_payload_and_qos(mosquitto, mqtt_client, protocol):
    with running_source(mqtt_client, mosquitto.port, protocol=protocol) as source:
        assert source.connected.wait(10)
        client = publisher(mosquitto.port)
        publish_all(client, readings(3))
        client.publish("meters/q0/readings", b"at most once", qos=0).wait_for_publish(10)
        got = take(source, 4)
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            ("meters/m0/readings", b'{"n": 0}', 1), ("meters/m1/readings", b'{"n": 1}', 1),
            ("meters/m2/readings", b'{"n": 2}', 1), ("meters/q0/readings", b"at most once", 0)]
        source.ack(got)
        client.disconnect()


def test_the_broker_sends_no_more_than_the_receive_maximum_unacknowledged(mosquitto, mqtt_client):
    with running_source(mqtt_client, mosquitto.port, receive_maximum=5) as source:
        assert source.connected.wait(10)
        client = publisher(mosquitto.port)
        publish_all(client, readings(12))
        first = queued_after(source, 1.0)
        assert len(first) == 5
        source.ack(first)
        second = take(source, 5)
        assert [m.payload for m in first + second] == [p for _, p in readings(10)]
        client.disconnect()


def test_unacknowledged_messages_come_again_after_a_reconnect_and_old_acks_are_not_sent(tmp_path, mqtt_client):
    """The generation rule: an ack from an earlier connection would name a packet id of the new one."""
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        with running_source(mqtt_client, broker.port) as source:
            assert source.connected.wait(10)
            client = publisher(broker.port)
            publish_all(client, readings(1))
            client.disconnect()
            (first,) = take(source, 1)
            broker.restart()  # the connection drops; the session and its in-flight message persist
            (again,) = take(source, 1, timeout_s=30)
            assert (again.topic, again.payload) == (first.topic, first.payload)
            assert again.generation > first.generation
            source.ack([first])  # stored, but delivered on the old connection: must not be sent
            time.sleep(ACK_SETTLE_S)
            broker.restart()
            (third,) = take(source, 1, timeout_s=30)
            assert third.payload == first.payload
            source.ack([third])
            time.sleep(ACK_SETTLE_S)
            broker.restart()
            assert source.connected.wait(30)
            assert queued_after(source, 1.5) == []
    finally:
        broker.stop()


def test_a_quiet_connection_is_kept_alive_by_pings(mosquitto, mqtt_client, caplog):
    """Mosquitto drops a client silent for 1.5 keepalives; pings keep an idle ingester connected."""
    with caplog.at_level(logging.WARNING), running_source(mqtt_client, mosquitto.port, keepalive_s=1) as source:
        assert source.connected.wait(10)
        time.sleep(4)
        client = publisher(mosquitto.port)
        publish_all(client, readings(1))
        assert take(source, 1)[0].payload == b'{"n": 0}'
        client.disconnect()
    assert not [r for r in caplog.records if "lost the MQTT broker" in r.getMessage()]


def test_a_keepalive_shortened_by_the_broker_is_followed(tmp_path, mqtt_client, caplog):
    """MQTT 5: a broker may answer the CONNACK with a shorter Server Keep Alive (Mosquitto's max_keepalive)."""
    broker = Mosquitto(tmp_path, extra_conf="max_keepalive 10\n")  # Mosquitto's least
    broker.start()
    try:
        with caplog.at_level(logging.WARNING), running_source(mqtt_client, broker.port, keepalive_s=60) as source:
            assert source.connected.wait(10)
            time.sleep(25)  # Mosquitto drops a client silent for 1.5 keepalives (15 s), seen at 18 s
            client = publisher(broker.port)
            publish_all(client, readings(1))
            assert take(source, 1)[0].payload == b'{"n": 0}'
            client.disconnect()
    finally:
        broker.stop()
    assert not [r for r in caplog.records if "lost the MQTT broker" in r.getMessage()]


def test_username_and_password_are_presented_and_a_refusal_is_logged(tmp_path, mqtt_client, caplog):
    broker = Mosquitto(tmp_path, users={"anxin": "s3cret", "meter": "m"})
    broker.start()
    try:
        with running_source(mqtt_client, broker.port, username="anxin", password="s3cret") as source:
            assert source.connected.wait(10)
            client = publisher(broker.port, username="meter", password="m")
            publish_all(client, readings(1))
            assert take(source, 1)[0].payload == b'{"n": 0}'
            client.disconnect()
        with caplog.at_level(logging.ERROR), running_source(mqtt_client, broker.port, username="anxin",
                                                            password="wrong") as source:
            wait_until(lambda: any("refused" in r.getMessage() for r in caplog.records), 10, "a refusal logged")
            assert not source.connected.is_set()
    finally:
        broker.stop()


class FreezingProxy:
    """A TCP proxy to the broker whose open connections can be frozen: bytes stop flowing both ways but
    the sockets stay open, as when a NAT or a cable drops a connection without a reset."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen: set[socket.socket] = set()
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if source not in self.frozen:
                    sink.sendall(data)
        except OSError:
            pass

    def freeze_open_connections(self) -> None:
        self.frozen.update(self.open)

    def close(self) -> None:
        self.listener.close()
        for sock in self.open:
            sock.close()


def test_a_connection_gone_silent_is_given_up_and_made_again(mosquitto, mqtt_client):
    """No reset, no FIN: only the keepalive can tell that the broker is gone."""
    proxy = FreezingProxy(mosquitto.port)
    try:
        with running_source(mqtt_client, proxy.port, keepalive_s=1) as source:
            assert source.connected.wait(10)
            proxy.freeze_open_connections()
            client = publisher(mosquitto.port)
            publish_all(client, readings(1))
            (message,) = take(source, 1, timeout_s=20)
            assert message.payload == b'{"n": 0}'
            client.disconnect()
    finally:
        proxy.close()


def test_the_lean_client_keeps_its_connection_while_the_writer_is_stalled(tmp_path, caplog):
    """A full queue (the store slow or down) stops the reading, not the pings: the lean client's own rule,
    so this test is for it alone."""
    broker = Mosquitto(tmp_path)  # not the mosquitto fixture, which would run this once per client
    broker.start()
    options = MqttOptions(host="127.0.0.1", port=broker.port, topic=TOPIC, client_id="stalled", keepalive_s=1)
    source = LeanMqttSource(options, max_queued=2)
    source.start()
    try:
        with caplog.at_level(logging.WARNING):
            assert source.connected.wait(10)
            client = publisher(broker.port)
            publish_all(client, readings(6))
            time.sleep(4)  # the writer takes nothing
            got = take(source, 6)
            client.disconnect()
            # Nothing was acknowledged: after a reconnect the broker would send all six again.
            assert queued_after(source, 2.0) == []
        assert [m.payload for m in got] == [p for _, p in readings(6)]
        assert not [r for r in caplog.records if "lost the MQTT broker" in r.getMessage()]
    finally:
        source.stop()
        broker.stop()
