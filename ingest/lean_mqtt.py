"""A lean MQTT subscriber for the ingester (``ANXIN_MQTT_CLIENT=lean``): the same contract as
``MqttSource`` on paho-mqtt, at a fraction of its cost a message.

It does only what the ingester needs: one QoS 1 subscription on a persistent session (clean start
off, session expiry never), manual acknowledgements, MQTT 5 receive maximum, keepalive pings,
username and password, and reconnecting with backoff (1 s doubling to 30 s) and subscribing again.
One thread reads 64 KiB at a time and parses every packet in it (``ingest.mqtt_wire``); the
writer's acknowledgements for a stored batch go out in one write from the writer's own thread.

Acknowledgements obey the generation rule: a message is acknowledged only on the connection that
delivered it. After a reconnect the broker sends the unacknowledged ones again, and the store
ignores what it already has.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Sequence

from ingest.mqtt import NEVER_EXPIRE, MqttOptions
from ingest.mqtt_wire import (
    CONNACK,
    DISCONNECT,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    SUBACK,
    Message,
    Packet,
    ProtocolError,
    connack_result,
    connack_server_keep_alive,
    connect_packet,
    disconnect_reason,
    first_packet,
    make_reader,
    puback_packets,
    subscribe_packet,
    suback_codes,
)

log = logging.getLogger(__name__)

READ_BYTES = 1 << 16
SUBSCRIBE_ID = 1  # the only packet id this client sends: its one SUBSCRIBE


class BrokerRefused(Exception):
    """The broker refused the connection or the subscription (bad credentials, not authorised)."""


class ConnectionLost(Exception):
    """The connection ended: closed by the broker, a DISCONNECT, or silence past the keepalive."""


class LeanMqttSource:
    """Subscribes (again on every reconnect) and queues each message for the writer."""

    def __init__(self, options: MqttOptions, *, max_queued: int = 10_000, connect_timeout_s: float = 10.0,
                 min_delay_s: float = 1.0, max_delay_s: float = 30.0) -> None:
        self.options = options
        self.messages: queue.Queue[Message] = queue.Queue(maxsize=max_queued)
        self.connected = threading.Event()
        self.connect_timeout_s = connect_timeout_s
        self.min_delay_s, self.max_delay_s = min_delay_s, max_delay_s
        self._v5 = options.protocol == "5"
        self._read = make_reader(v5=self._v5)
        self._generation = 0
        self._keepalive_s = options.keepalive_s  # as the broker may have shortened it
        self._sock: socket.socket | None = None  # set only while a session is up, under _send_lock
        self._send_lock = threading.Lock()
        self._last_sent = self._last_received = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-lean", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect cleanly (the session and its queue stay in the broker) and end the reader."""
        self._stopping.set()
        with self._send_lock:
            sock = self._sock
            if sock is not None:
                try:
                    sock.sendall(DISCONNECT_PACKET)
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the reader
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge stored messages; those from an earlier connection will be redelivered instead."""
        with self._send_lock:
            if self._sock is None:
                return
            generation = self._generation
            acks = puback_packets(m.mid for m in messages if m.qos and m.generation == generation)
            if acks:
                self._send_locked(acks)

    # -- the reader thread ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.min_delay_s
        while not self._stopping.is_set():
            sock = None
            try:
                sock, buffer = self._open()
                delay = self.min_delay_s
                self._serve(sock, buffer)
            except BrokerRefused as exc:
                log.error("MQTT broker refused the connection: %s", exc)
            except (OSError, ConnectionLost, ProtocolError) as exc:
                if not self._stopping.is_set():
                    log.warning("lost the MQTT broker (%s); reconnecting", exc)
            except Exception:  # a bug here must not end ingestion in silence: say so, and connect again
                log.exception("the MQTT reader failed; reconnecting")
            finally:
                self._close(sock)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay_s)

    def _open(self) -> tuple[socket.socket, bytes]:
        """Connect and wait for the CONNACK; what the broker sent after it is returned as the buffer."""
        options = self.options
        sock = socket.create_connection((options.host, options.port), timeout=self.connect_timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(connect_packet(client_id=options.client_id, v5=self._v5, keepalive_s=options.keepalive_s,
                                        receive_maximum=options.receive_maximum, session_expiry_s=NEVER_EXPIRE,
                                        username=options.username, password=options.password))
            buffer, first = b"", None
            while first is None:
                chunk = sock.recv(READ_BYTES)
                if not chunk:
                    raise ConnectionLost("the broker closed the connection before its CONNACK")
                buffer += chunk
                first = first_packet(buffer)
            connack, rest = first
            if connack.kind != CONNACK:
                raise ProtocolError(f"the broker's first packet was of type {connack.kind}, not a CONNACK")
            session_present, code = connack_result(connack.body)
            if code:
                raise BrokerRefused(f"CONNACK return code {code:#04x}")
            server_keepalive = connack_server_keep_alive(connack.body) if self._v5 else None
        except BaseException:
            sock.close()
            raise
        if server_keepalive is not None and server_keepalive != self._keepalive_s:
            log.info("the MQTT broker sets the keepalive to %d s", server_keepalive)
            self._keepalive_s = server_keepalive
        sock.settimeout(self._tick_s())
        with self._send_lock:
            self._generation += 1
            self._sock = sock
            self._last_sent = self._last_received = time.monotonic()
            self._send_locked(subscribe_packet(SUBSCRIBE_ID, options.topic, v5=self._v5))
        log.info("connected to MQTT broker %s:%s (session present: %s)", options.host, options.port, session_present)
        return sock, rest

    def _serve(self, sock: socket.socket, buffer: bytes) -> None:
        """Read, parse and queue until the connection ends (raises) or the source is stopped (returns)."""
        generation = self._generation
        messages: list[Message] = []
        others: list[Packet] = []
        while not self._stopping.is_set():
            if buffer:
                buffer = buffer[self._read(buffer, generation, messages, others):]
                for packet in others:
                    self._control(packet)
                others.clear()
                for message in messages:
                    if not self._put(message):
                        return  # stopping: what was not queued is unacknowledged, so the broker keeps it
                messages.clear()
            try:
                chunk = sock.recv(READ_BYTES)
            except TimeoutError:
                self._keep_alive()
                continue
            if not chunk:
                raise ConnectionLost("the broker closed the connection")
            self._last_received = time.monotonic()
            buffer += chunk

    def _control(self, packet: Packet) -> None:
        if packet.kind == SUBACK:
            codes = suback_codes(packet.body, v5=self._v5)
            if not codes or codes[0] >= 0x80:
                raise BrokerRefused(f"SUBACK code {codes[:1].hex() or 'missing'} for {self.options.topic!r}")
            self.connected.set()
            log.info("subscribed to %s", self.options.topic)
        elif packet.kind == DISCONNECT:
            raise ConnectionLost(f"the broker sent DISCONNECT, reason {disconnect_reason(packet.body):#04x}")
        # PINGRESP needs nothing: any packet received counts as the broker being alive.

    def _put(self, message: Message) -> bool:
        """Queue for the writer; while the queue is full (the store is slow or down), keep the connection
        alive. False if the source was stopped first."""
        while True:
            try:
                self.messages.put(message, timeout=self._tick_s())
                return True
            except queue.Full:
                if self._stopping.is_set():
                    return False
                self._ping_if_due()

    def _keep_alive(self) -> None:
        """On a quiet socket: ping when due, and give the connection up when the broker stays silent."""
        keepalive = self._keepalive_s
        if keepalive and time.monotonic() - self._last_received > 1.5 * keepalive:
            raise ConnectionLost(f"no packet from the broker for {1.5 * keepalive:g} s")
        self._ping_if_due()

    def _ping_if_due(self) -> None:
        keepalive = self._keepalive_s
        now = time.monotonic()
        if keepalive and max(now - self._last_sent, now - self._last_received) >= keepalive / 2:
            with self._send_lock:
                if self._sock is not None:
                    self._send_locked(PINGREQ_PACKET)

    def _send_locked(self, data: bytes) -> None:
        """Send on the current connection (the caller holds _send_lock); a failure is the reader's to notice."""
        try:
            self._sock.sendall(data)
            self._last_sent = time.monotonic()
        except OSError as exc:
            log.debug("an MQTT send failed (%s); the reader will reconnect", exc)

    def _tick_s(self) -> float:
        keepalive = self._keepalive_s
        return min(1.0, keepalive / 4) if keepalive else 1.0

    def _close(self, sock: socket.socket | None) -> None:
        self.connected.clear()
        with self._send_lock:
            self._sock = None
        if sock is not None:
            sock.close()
