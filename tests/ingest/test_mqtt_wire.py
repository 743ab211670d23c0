"""The lean client's packet reader and writer: checked against paho-mqtt's own encoding."""

from __future__ import annotations

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.mqtt_wire import (
    PUBLISH,
    SUBACK,
    Message,
    ProtocolError,
    connack_server_keep_alive,
    first_packet,
    make_reader,
    puback_packets,
    suback_codes,
    varint,
)


def publish(topic: str, payload: bytes, *, qos: int = 1, mid: int = 7, properties: bytes = b"", v5: bool) -> bytes:
    """A PUBLISH as a broker sends it; MQTT 5 ones carry a property block (here raw bytes)."""
    body = len(topic).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([PUBLISH << 4 | qos << 1]) + varint(len(body)) + body


def user_property(key: str, value: str) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = (key, value)
    return props.pack()[1:]  # paho's pack() starts with the block's length, which publish() adds


def read_all(data: bytes, *, v5: bool, chunk: int) -> tuple[list[Message], list]:
    """Feed ``data`` to the reader ``chunk`` bytes at a time, as recv() might hand it over."""
    read = make_reader(v5=v5)
    buffer, messages, others = b"", [], []
    for start in range(0, len(data), chunk):
        buffer += data[start:start + chunk]
        buffer = buffer[read(buffer, 3, messages, others):]
    assert buffer == b""
    return messages, others


@pytest.mark.parametrize("v5", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 16])
def test_packets_split_anywhere_are_read_whole_and_in_order(v5, chunk):
    big = bytes(range(256)) * 700  # a remaining length of three bytes
    properties = user_property("source", "meter-gateway-7") if v5 else b""
    data = (publish("meters/a/readings", b'{"total_l": 1}', v5=v5, mid=1, properties=properties)
            + publish("meters/b/readings", big, v5=v5, mid=65535)
            + (b"\x90\x04\x00\x01\x00\x01" if v5 else b"\x90\x03\x00\x01\x01")  # a SUBACK, QoS 1 granted
            + publish("meters/c/readings", b"", v5=v5, qos=0)
            + b"\xd0\x00")  # PINGRESP
    messages, others = read_all(data, v5=v5, chunk=chunk)
    assert messages == [Message("meters/a/readings", b'{"total_l": 1}', 1, 1, 3),
                        Message("meters/b/readings", big, 65535, 1, 3),
                        Message("meters/c/readings", b"", 0, 0, 3)]
    assert [p.kind for p in others] == [SUBACK, 13]


def test_a_suback_is_read_for_its_granted_qos():
    assert suback_codes(b"\x00\x01\x01", v5=False) == b"\x01"
    assert suback_codes(b"\x00\x01\x00\x87", v5=True) == b"\x87"  # 0x87: not authorised
    assert suback_codes(b"\x00\x01\x03\x1f\x00\x00\x01", v5=True) == b"\x01"  # a reason string skipped


def test_pubacks_name_each_packet_id():
    assert puback_packets([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"


def test_first_packet_waits_for_the_whole_packet():
    connack = b"\x20\x03\x01\x00\x00"
    assert first_packet(connack[:4]) is None
    packet, rest = first_packet(connack + b"\xd0")
    assert (packet.kind, packet.body, rest) == (2, b"\x01\x00\x00", b"\xd0")


@pytest.mark.parametrize("bad", [
    b"\x30\xff\xff\xff\xff\x01",  # a remaining length of five bytes
    publish("meters/a/readings", b"x", qos=2, v5=False),  # QoS 2 on a QoS 1 subscription
    b"\x32\x03\x00\x09a",  # a topic longer than the packet
    b"\x32\x04\x00\x01a\x00",  # a packet id cut short
])
def test_a_malformed_packet_is_a_protocol_error(bad):
    with pytest.raises(ProtocolError):
        make_reader(v5=False)(bad, 1, [], [])


def test_a_connacks_server_keep_alive_is_found_among_its_properties():
    props = Properties(PacketTypes.CONNACK)
    props.AssignedClientIdentifier = "auto-1"
    props.UserProperty = ("region", "north")
    props.ReceiveMaximum = 20
    props.ServerKeepAlive = 15
    assert connack_server_keep_alive(b"\x00\x00" + props.pack()) == 15
    assert connack_server_keep_alive(b"\x00\x00\x03\x21\x00\x14") is None  # only a receive maximum


def test_a_connack_property_newer_than_the_table_keeps_the_configured_keepalive():
    # 0x7f is no MQTT 5 property: its length is unknown, so nothing after it can be read, but the
    # broker accepted us and the connection must not be refused (that would reconnect for ever).
    assert connack_server_keep_alive(b"\x00\x00\x04\x7f\x01\x13\x00") is None
    assert connack_server_keep_alive(b"\x00\x00\x06\x13\x00\x0a\x7f\x01\x02") == 10  # found before it


@pytest.mark.parametrize("cut", range(1, 5))
def test_a_remaining_length_cut_short_waits_for_more(cut):
    whole = publish("meters/a/readings", bytes(20000), v5=False)  # a remaining length of three bytes
    assert first_packet(whole[:cut]) is None
    assert make_reader(v5=False)(whole[:cut], 1, [], []) == 0
