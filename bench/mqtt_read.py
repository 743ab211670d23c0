"""What receiving a message costs in the MQTT client alone: paho-mqtt 2.x as the ingester uses it, and
what is avoidable, each draining the same backlog of QoS 1 messages queued in a real Mosquitto.

    python -m bench.mqtt_read [--messages N] [--rounds R]

The clients, each in this process and timed in CPU seconds (``process_time``) from connect to the last message:

- paho-mqtt, MQTT 5, manual acks (each PUBACK queued from ``on_message``): the ingester's client;
- paho-mqtt, MQTT 3.1.1, manual acks: the same without MQTT 5's ``Properties`` object per message;
- paho-mqtt, MQTT 5, automatic acks;
- anxin's lean client (``ingest/lean_mqtt.py``, ``ANXIN_MQTT_CLIENT=lean``) on MQTT 5 and 3.1.1, its
  messages taken from its queue and acknowledged a batch at a time, as the ingester's writer does;
- a buffered reader (not a client: no reconnect, no keepalive, no queue, no thread): MQTT 5 PUBLISH
  packets parsed from 64 KiB reads, the PUBACKs of each read sent in one write. The floor in Python.

Single-reading messages of ``bench.ingest``; the backlog is queued before each drain, so no publisher runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from bench.ingest import TOPIC, RawPublisher, _varint, make_messages, make_session

RECEIVE_MAXIMUM = 1000  # as the ingester asks for


def drain_paho(port: int, client_id: str, expected: int, *, protocol: str, manual_ack: bool) -> float:
    """CPU seconds for paho to receive (and acknowledge) ``expected`` queued messages."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    v5 = protocol == "5"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else False,
                         manual_ack=manual_ack)
    done, received = threading.Event(), [0]

    def on_message(client, userdata, message) -> None:
        if manual_ack:
            client.ack(message.mid, message.qos)
        received[0] += 1
        if received[0] == expected:
            done.set()

    client.on_message = on_message
    options = {}
    if v5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0xFFFFFFFF
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        options = {"clean_start": False, "properties": properties}
    started = time.process_time()
    client.connect("127.0.0.1", port, **options)
    while not done.is_set():
        client.loop(timeout=1.0)
    cpu = time.process_time() - started
    client.disconnect()
    return cpu


def drain_lean(port: int, client_id: str, expected: int, *, protocol: str) -> float:
    """CPU seconds (both threads) for the lean client to deliver ``expected`` queued messages to a writer
    that takes up to 1,000 at a time and acknowledges them together, as ``ingest.service`` does."""
    from ingest.lean_mqtt import LeanMqttSource
    from ingest.mqtt import MqttOptions
    from ingest.service import next_batch

    source = LeanMqttSource(MqttOptions("127.0.0.1", port, TOPIC, client_id, protocol=protocol,
                                        receive_maximum=RECEIVE_MAXIMUM))
    started = time.process_time()
    source.start()
    received = 0
    while received < expected:
        batch = next_batch(source.messages, 1000, timeout_s=30)
        if not batch:
            raise TimeoutError(f"the lean client delivered {received} of {expected} messages")
        source.ack(batch)
        received += len(batch)
    cpu = time.process_time() - started
    source.stop()
    return cpu


def drain_buffered(port: int, client_id: str, expected: int) -> float:
    """CPU seconds for a buffered MQTT 5 reader to receive and acknowledge ``expected`` queued messages."""
    started = time.process_time()
    sock = socket.create_connection(("127.0.0.1", port))
    properties = b"\x11\xff\xff\xff\xff" + b"\x21" + RECEIVE_MAXIMUM.to_bytes(2, "big")  # session expiry, receive max
    name = client_id.encode()
    body = b"\x00\x04MQTT\x05\x00\x00\x3c" + _varint(len(properties)) + properties + len(name).to_bytes(2, "big") + name
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    buffer, received, messages = b"", 0, []
    while received < expected:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the broker closed the connection")
        buffer += chunk
        acks, used = _parse_packets(buffer, messages)
        received = len(messages)
        buffer = buffer[used:]
        if acks:
            sock.sendall(b"".join(acks))
    cpu = time.process_time() - started
    sock.sendall(b"\xe0\x00")
    sock.close()
    return cpu


def _parse_packets(buffer: bytes, messages: list) -> tuple[list[bytes], int]:
    """Whole packets in ``buffer``: PUBLISHes appended to ``messages`` as (topic, payload, packet id); the
    PUBACKs they need, and how many bytes were used. Other packets (CONNACK) are skipped."""
    acks, pos, end = [], 0, len(buffer)
    while end - pos >= 2:
        first, i, length, shift = buffer[pos], pos + 1, 0, 0
        while i < end:
            byte = buffer[i]
            i += 1
            length |= (byte & 127) << shift
            shift += 7
            if not byte & 128:
                break
        else:
            break
        if i + length > end:
            break
        if first >> 4 == 3:  # PUBLISH
            topic_end = i + 2 + int.from_bytes(buffer[i:i + 2], "big")
            packet_id = b""
            at = topic_end
            if (first >> 1) & 3:
                packet_id, at = buffer[at:at + 2], at + 2
                acks.append(b"\x40\x02" + packet_id)
            properties, at = _varint_at(buffer, at)
            messages.append((buffer[i + 2:topic_end].decode(), buffer[at + properties:i + length], packet_id))
        pos = i + length
    return acks, pos


def _varint_at(buffer: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buffer[at]
        at += 1
        value |= (byte & 127) << shift
        shift += 7
        if not byte & 128:
            return value, at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mqtt_read", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2, help="drains per client, alternating; the least CPU is shown")
    args = parser.parse_args(argv)
    from tests.servers import Mosquitto

    workdir = Path(tempfile.mkdtemp(prefix="bench-mqtt-read-"))
    broker = Mosquitto(workdir)
    broker.start()
    messages = make_messages(args.messages, 1, max(1, args.messages // 100))
    clients = {
        "paho-mqtt, MQTT 5, manual acks (the ingester's)": lambda cid: drain_paho(
            broker.port, cid, args.messages, protocol="5", manual_ack=True),
        "paho-mqtt, MQTT 3.1.1, manual acks": lambda cid: drain_paho(
            broker.port, cid, args.messages, protocol="3.1.1", manual_ack=True),
        "paho-mqtt, MQTT 5, automatic acks": lambda cid: drain_paho(
            broker.port, cid, args.messages, protocol="5", manual_ack=False),
        "anxin's lean client, MQTT 5 (ANXIN_MQTT_CLIENT=lean)": lambda cid: drain_lean(
            broker.port, cid, args.messages, protocol="5"),
        "anxin's lean client, MQTT 3.1.1": lambda cid: drain_lean(
            broker.port, cid, args.messages, protocol="3.1.1"),
        "buffered reader, MQTT 5, a write of PUBACKs a read": lambda cid: drain_buffered(
            broker.port, cid, args.messages),
    }
    try:
        load = os.getloadavg()
        print(f"# bench.mqtt_read: {args.messages:,} queued QoS 1 messages a drain, {args.rounds} rounds;"
              f" load average {load[0]:.2f} {load[1]:.2f}")
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for round_ in range(args.rounds):
            for index, (name, drain) in enumerate(clients.items()):
                client_id = f"bench-read-{index}-{round_}"
                make_session(broker.port, client_id, TOPIC, "3.1.1" if "3.1.1" in name else "5")
                RawPublisher(broker.port, messages).run()
                cpu[name].append(drain(client_id))
        print("\n| client | CPU µs a message (least of the rounds) | all rounds |\n|---|---|---|")
        for name, seconds in cpu.items():
            per = [s / args.messages * 1e6 for s in seconds]
            print(f"| {name} | {min(per):.1f} | {', '.join(f'{p:.1f}' for p in per)} |")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
