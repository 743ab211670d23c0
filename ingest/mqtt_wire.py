"""MQTT 3.1.1 and 5 packets, only those a QoS 1 subscriber with a persistent session needs.

Encoders build whole packets as bytes. ``make_reader`` splits a received buffer into packets and
turns each PUBLISH into a ``Message`` in the same pass, because that loop is the ingester's hot path:
it costs a few microseconds a message, where paho's general-purpose loop costs 25 to 107
(``python -m bench.mqtt_read``). MQTT 5 properties of a PUBLISH are skipped by their length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP, DISCONNECT, AUTH = 2, 3, 4, 9, 13, 14, 15
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # MQTT 5: no reason code means 0x00, normal disconnection: the session stays

_SESSION_EXPIRY, _RECEIVE_MAXIMUM = 0x11, 0x21  # MQTT 5 CONNECT property identifiers


class Message(NamedTuple):
    """One received message; a named tuple, as one is made for every message on the hot path."""

    topic: str
    payload: bytes
    mid: int  # the packet id, which the PUBACK names; 0 for QoS 0
    qos: int
    generation: int  # which connection delivered it; acks from an older connection are not sent


class ProtocolError(Exception):
    """The broker sent something this subscriber cannot accept; the connection is dropped and made again."""


@dataclass(frozen=True)
class Packet:
    """A control packet other than PUBLISH: its type, the flags of its first byte, and its body."""

    kind: int
    flags: int
    body: bytes


def varint(n: int) -> bytes:
    """MQTT's variable byte integer (remaining length, property lengths)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(*, client_id: str, v5: bool, keepalive_s: int, receive_maximum: int,
                   session_expiry_s: int, username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT for a persistent session: clean start (3.1.1: clean session) off."""
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    header = b"\x00\x04MQTT" + bytes([5 if v5 else 4, flags]) + keepalive_s.to_bytes(2, "big")
    if v5:
        properties = (bytes([_SESSION_EXPIRY]) + session_expiry_s.to_bytes(4, "big")
                      + bytes([_RECEIVE_MAXIMUM]) + receive_maximum.to_bytes(2, "big"))
        header += varint(len(properties)) + properties
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
    if password is not None:
        payload += _string(password)
    return _packet(0x10, header + payload)


def subscribe_packet(packet_id: int, topic_filter: str, *, v5: bool, qos: int = 1) -> bytes:
    properties = b"\x00" if v5 else b""
    return _packet(0x82, packet_id.to_bytes(2, "big") + properties + _string(topic_filter) + bytes([qos]))


def puback_packets(packet_ids) -> bytes:
    """The PUBACKs of many messages in one write; MQTT 5 lets success omit its reason code."""
    return b"".join(b"\x40\x02" + packet_id.to_bytes(2, "big") for packet_id in packet_ids)


def connack_result(body: bytes) -> tuple[bool, int]:
    """(session present, return code) of a CONNACK; 0 is success on either protocol."""
    if len(body) < 2:
        raise ProtocolError(f"a CONNACK of {len(body)} bytes")
    return bool(body[0] & 1), body[1]


# MQTT 5 property identifiers and how their values are laid out: a fixed number of bytes, "varint",
# "str" (two-byte length and bytes; binary data too) or "pair" (two such strings: a user property).
_PROPERTY_LAYOUT = {
    0x01: 1, 0x02: 4, 0x03: "str", 0x08: "str", 0x09: "str", 0x0B: "varint", 0x11: 4, 0x12: "str",
    0x13: 2, 0x15: "str", 0x16: "str", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "str", 0x1C: "str", 0x1F: "str",
    0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "pair", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}
SERVER_KEEP_ALIVE = 0x13


def connack_server_keep_alive(body: bytes) -> int | None:
    """An MQTT 5 CONNACK's Server Keep Alive: the broker may shorten our keepalive, and we must follow."""
    length, at = _varint_at(body, 2, len(body))
    end = at + length
    while at < end:
        identifier = body[at]
        at += 1
        layout = _PROPERTY_LAYOUT.get(identifier)
        if layout is None:
            # A property newer than this table: its length is unknown, so the rest cannot be read.
            # Keep the configured keepalive rather than refuse a broker that is otherwise fine.
            return None
        if identifier == SERVER_KEEP_ALIVE:
            return int.from_bytes(body[at:at + 2], "big")
        if layout == "varint":
            _, at = _varint_at(body, at, end)
        elif layout in ("str", "pair"):
            for _ in range(2 if layout == "pair" else 1):
                at += 2 + int.from_bytes(body[at:at + 2], "big")
        else:
            at += layout
    return None


def suback_codes(body: bytes, *, v5: bool) -> bytes:
    """The granted QoS or failure code (0x80 and up) of each filter of a SUBACK."""
    at = 2
    if v5:
        length, at = _varint_at(body, at, len(body))
        at += length
    return body[at:]


def disconnect_reason(body: bytes) -> int:
    """An MQTT 5 DISCONNECT's reason code (none given means 0, normal disconnection)."""
    return body[0] if body else 0


def packet_at(buffer: bytes, pos: int) -> tuple[int, int, int] | None:
    """(first byte, start of body, end of packet) of the packet at ``pos``; None if not wholly received."""
    end = len(buffer)
    # The remaining length is read inline, not by ``_varint_at``: this runs once a message, and the
    # call and its "not received yet" exception made the reader 13 % slower a message.
    i, length, shift = pos + 1, 0, 0
    while True:  # at most four bytes of seven bits
        if i >= end:
            return None
        byte = buffer[i]
        i += 1
        length |= (byte & 127) << shift
        if not byte & 128:
            break
        shift += 7
        if shift > 21:
            raise ProtocolError("a remaining length longer than four bytes")
    return (buffer[pos], i, i + length) if i + length <= end else None


def make_reader(*, v5: bool):
    """A function splitting the whole packets at the start of a buffer, for one protocol (MQTT 5
    PUBLISH packets carry properties, 3.1.1 ones do not).

    ``read(buffer, generation, messages, others)`` appends each PUBLISH to ``messages`` as a
    ``Message`` and any other packet to ``others``, and returns how many bytes it used: a packet not
    yet wholly received is left for the next call.
    """

    def read(buffer: bytes, generation: int, messages: list[Message], others: list[Packet]) -> int:
        pos = 0
        while (found := packet_at(buffer, pos)) is not None:
            first, i, stop = found
            if first >> 4 == PUBLISH:
                qos = (first >> 1) & 3
                topic_end = i + 2 + ((buffer[i] << 8) | buffer[i + 1])
                at, mid = topic_end, 0
                if qos > 1:
                    raise ProtocolError("a QoS 2 PUBLISH on a QoS 1 subscription")
                if at + (2 if qos else 0) > stop:
                    raise ProtocolError("a PUBLISH shorter than its own header")
                if qos:
                    mid = (buffer[at] << 8) | buffer[at + 1]
                    at += 2
                if v5:
                    properties, at = _varint_at(buffer, at, stop)
                    at += properties
                    if at > stop:
                        raise ProtocolError("a PUBLISH shorter than its own properties")
                topic = buffer[i + 2:topic_end].decode(errors="replace")
                messages.append(Message(topic, buffer[at:stop], mid, qos, generation))
            else:
                others.append(Packet(first >> 4, first & 15, buffer[i:stop]))
            pos = stop
        return pos

    return read


def first_packet(buffer: bytes) -> tuple[Packet, bytes] | None:
    """The first packet of ``buffer`` whatever its kind, and the bytes after it; None if not wholly received."""
    found = packet_at(buffer, 0)
    if found is None:
        return None
    first, start, stop = found
    return Packet(first >> 4, first & 15, buffer[start:stop]), buffer[stop:]


def _varint_at(buffer: bytes, at: int, stop: int) -> tuple[int, int]:
    """MQTT's variable byte integer at ``at`` and where it ends, inside a packet that ends at ``stop``."""
    value, shift = 0, 0
    while True:
        if at >= stop:
            raise ProtocolError("a variable byte integer cut short by the end of its packet")
        byte = buffer[at]
        at += 1
        value |= (byte & 127) << shift
        if not byte & 128:
            return value, at
        shift += 7
        if shift > 21:
            raise ProtocolError("a variable byte integer longer than four bytes")
