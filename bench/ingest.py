"""Ingest end to end: QoS 1 messages through a real Mosquitto into the readings store, timed beside
the broker's own line rate and a bare paho-mqtt subscriber, for the same messages in the same run.

    python -m bench.ingest [--messages N] [--batch 1|96] [--store sqlite|influxdb|both] [--backlog]
                           [--ingesters 1|2] [--meters M] [--protocol 5|3.1.1] [--client paho|lean|both]

Each consumer runs in a process of its own and has a persistent session made before publishing:

- ``mosquitto_sub`` (C, QoS 1, ``-C N``, output to /dev/null) stores nothing: the broker's line rate;
- a bare paho-mqtt 2.x subscriber (manual ack sent at once in ``on_message``, or paho's own
  with BENCH_PAHO_ACK=auto; the same protocol and receive maximum as ours) stores nothing: the cost
  of the client library alone;
- anxin's ingester, built by ``api.wiring.build_ingester`` as ``anxin ingest`` builds it, until it
  has stored every reading (its counter moves only after the store's write returned, i.e. durably).
  ``--protocol`` sets the MQTT version of both (``ANXIN_MQTT_PROTOCOL``; default 5, as anxin's).
  With ``--ingesters 2`` two such processes share ``$share/anxin/meters/+/readings``. ``--client``
  picks its MQTT client (``ANXIN_MQTT_CLIENT``): paho-mqtt, the lean one, or both in turn (default).

Live (default): the consumer is started, then the publisher sends; the time runs from the first
publish to the last reading received or stored. ``--backlog``: everything is queued in the
consumer's session while it is down (as after an outage); the time runs from its start to the drain.
The publisher writes pre-encoded MQTT 3.1.1 PUBLISH packets (QoS 1) on a raw socket with up to
20,000 unacknowledged, so Python's per-message cost stays out of it; its rate alone (to a broker
with no subscriber) is printed first, to show it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.cpu import process_cpu_s

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "meters/+/readings"
SHARED_TOPIC = "$share/anxin/meters/+/readings"
WINDOW = 20_000  # unacknowledged PUBLISH packets the publisher allows (packet ids must not wrap in flight)


# -- messages ---------------------------------------------------------------------------------

def make_messages(n_messages: int, batch: int, meters: int, now_s: int | None = None) -> list[tuple[str, bytes]]:
    """Messages for ``meters`` meters, in the README's common shape (ISO ts with offset, total_l).

    Readings are 15 minutes apart per meter (the fastest cadence of real meters), 96 to a batch (a day);
    everything lies in the past, within the InfluxDB raw retention, and no meter sends more than
    the flood rule's burst (1,000 messages) when ``n_messages <= 1000 * meters``.
    """
    now_s = int(time.time()) if now_s is None else now_s
    step_s = 900
    per_meter = -(-n_messages // meters) * batch
    start_s = now_s - per_meter * step_s - 3600
    messages = []
    for j in range(n_messages):
        meter, k = j % meters, j // meters
        items = []
        for i in range(batch):
            ts = start_s + (k * batch + i) * step_s
            stamp = datetime.fromtimestamp(ts + 8 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S+08:00")
            items.append(f'{{"ts": "{stamp}", "total_l": {1000 + (k * batch + i) * 0.5}}}')
        payload = items[0] if batch == 1 else "[" + ", ".join(items) + "]"
        messages.append((f"meters/b{meter:06d}/readings", payload.encode()))
    return messages


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _varint(len(body)) + body


class RawPublisher:
    """A QoS 1 publisher on a raw socket: pre-encoded packets, PUBACKs counted by a reader thread."""

    def __init__(self, port: int, messages: list[tuple[str, bytes]]) -> None:
        self.port = port
        self.packets = [_publish_packet(t, p, i % 65535 + 1) for i, (t, p) in enumerate(messages)]

    def run(self) -> tuple[float, float]:
        """Publish everything and wait for every PUBACK; returns (start, end) wall-clock times."""
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_id = f"bench-pub-{os.getpid()}-{time.monotonic_ns()}".encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
        sock.sendall(b"\x10" + _varint(len(body)) + body)
        if _read_exact(sock, 4)[:1] != b"\x20":
            raise RuntimeError("the broker refused the publisher")
        acked = [0]
        cond = threading.Condition()
        total = len(self.packets)

        def read_acks() -> None:
            buffer = b""
            while acked[0] < total:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return
                buffer += chunk
                n = len(buffer) // 4  # a PUBACK is 4 bytes: 0x40 0x02 id id
                buffer = buffer[n * 4:]
                with cond:
                    acked[0] += n
                    cond.notify_all()

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        started = time.time()
        sent = 0
        while sent < total:
            with cond:
                cond.wait_for(lambda: sent - acked[0] < WINDOW)
            chunk = self.packets[sent:sent + 1000]
            sock.sendall(b"".join(chunk))
            sent += len(chunk)
        with cond:
            cond.wait_for(lambda: acked[0] >= total)
        ended = time.time()
        sock.sendall(b"\xe0\x00")
        sock.close()
        return started, ended


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the broker closed the connection")
        data += chunk
    return data


def make_session(port: int, client_id: str, topic: str, protocol: str) -> None:
    """Create a persistent session subscribed to ``topic`` (QoS 1), so messages queue for it."""
    client = _session_client(port, client_id, protocol, keep=True)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.subscribe(topic, qos=1)
    if not subscribed.wait(10):
        raise RuntimeError(f"no SUBACK for {client_id}")
    client.disconnect()
    client.loop_stop()


def forget_session(port: int, client_id: str, protocol: str) -> None:
    """End a consumer's persistent session once its case is measured. Left in place, it would keep
    subscribed while offline: the broker would queue a copy of every later case's messages for it,
    and an offline member of ``$share/anxin`` would keep taking its share of the group's messages."""
    client = _session_client(port, client_id, protocol, keep=False)
    client.disconnect()
    client.loop_stop()


def _session_client(port: int, client_id: str, protocol: str, *, keep: bool):
    """A connected paho client of ``client_id`` whose session outlives it (``keep``) or ends with it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    v5 = protocol == "5"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else not keep)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    if v5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0xFFFFFFFF if keep else 0
        client.connect("127.0.0.1", port, clean_start=True, properties=properties)
    else:
        client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"no CONNACK for {client_id}")
    return client


# -- consumers, each in its own process -----------------------------------------------------------

@dataclass
class Outcome:
    name: str
    readings: int
    seconds: float
    cpu_s: float
    maxrss_kb: int
    note: str = ""
    servers_cpu_s: dict[str, float] = field(default_factory=dict)  # the broker's (and influxd's) CPU in the case

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


_CHILDREN: list[subprocess.Popen] = []  # ended in main's finally, also on SIGTERM


def _child(args: list[str]) -> subprocess.Popen:
    return _started(subprocess.Popen([sys.executable, "-m", "bench.ingest", *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1))


def _started(proc: subprocess.Popen) -> subprocess.Popen:
    _CHILDREN.append(proc)
    return proc


def _wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"a bench consumer did not start: {line!r}")


def _rusage_s(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def timed_with_servers(servers: dict[str, subprocess.Popen], run, *args) -> Outcome:
    """``run(*args)``'s outcome, with the CPU the servers used meanwhile: on two shared cores, what a
    consumer's rate leaves to the broker and to influxd shows what limits it."""
    before = {name: process_cpu_s(proc.pid) for name, proc in servers.items()}
    outcome = run(*args)
    outcome.servers_cpu_s = {name: process_cpu_s(proc.pid) - before[name] for name, proc in servers.items()}
    return outcome


def run_mosquitto_sub(port: int, publisher: RawPublisher | None, n: int, readings: int) -> Outcome:
    client_id = "bench-mosquitto-sub"
    if publisher is not None:  # a backlog's session was made before publishing (making it again would drain it)
        make_session(port, client_id, TOPIC, "3.1.1")
    started = time.time()
    proc = _started(subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", TOPIC, "-q", "1",
                             "-c", "-i", client_id, "-C", str(n)], stdout=subprocess.DEVNULL))
    if publisher is not None:
        started, _ = publisher.run()
    _, status, usage = os.wait4(proc.pid, 0)
    ended = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"mosquitto_sub failed ({proc.returncode})")
    # ru_maxrss of a child counts the forking parent's pages too: not reported for mosquitto_sub.
    return Outcome("mosquitto_sub (C, stores nothing)", readings, ended - started, _rusage_s(usage), 0)


def run_python_consumers(names_args: list[tuple[str, list[str]]], publisher: RawPublisher | None,
                         readings: int, name: str, protocol: str) -> Outcome:
    """Start consumer processes, publish (live) or not (backlog), and wait until their counts add up.
    Raises if a consumer spoke another MQTT version than ``protocol``."""
    procs = [_child(args) for _, args in names_args]
    for proc in procs:
        _wait_ready(proc)
    counts = [0] * len(procs)
    done_at: list[float] = []
    lock = threading.Lock()
    finished = threading.Event()
    finals: list[dict | None] = [None] * len(procs)

    def follow(index: int, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            kind, _, rest = line.partition(" ")
            if kind == "count":
                at, count = rest.split()
                with lock:
                    counts[index] = int(count)
                    if sum(counts) >= readings and not finished.is_set():
                        done_at.append(float(at))
                        finished.set()
            elif kind == "final":
                finals[index] = json.loads(rest)

    followers = [threading.Thread(target=follow, args=(i, p), daemon=True) for i, p in enumerate(procs)]
    for thread in followers:
        thread.start()
    go = time.time()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    started = publisher.run()[0] if publisher is not None else go
    if not finished.wait(timeout=1800):
        raise RuntimeError(f"{name}: got {sum(counts)} of {readings} readings")
    for proc in procs:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
    for proc, thread in zip(procs, followers, strict=True):
        thread.join(timeout=60)
        proc.wait(timeout=60)
    spoken = {f["protocol"] for f in finals}
    if spoken != {protocol}:
        raise RuntimeError(f"{name}: asked for MQTT {protocol}, the consumers used {sorted(spoken)}")
    cpu = sum(f["cpu_s"] for f in finals)
    rss = max(f["maxrss_kb"] for f in finals)
    shares = [f["count"] for f in finals]
    note = f"shares {shares}" if len(procs) > 1 else ""
    batches = sum(f["batches"] for f in finals)
    if batches:  # how much the writer took a write, on average: a small batch pays a whole commit
        note = (note + f"; {readings / batches:,.0f} readings a write").lstrip("; ")
    return Outcome(name, readings, done_at[0] - started, cpu, rss, note)


def _report(at: float, count: int) -> None:
    sys.stdout.write(f"count {at:.6f} {count}\n")
    sys.stdout.flush()


def _peak_rss_kb() -> int:
    """This process's peak RSS since exec (VmHWM; ru_maxrss would include the forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _final(cpu_start, count: int, protocol: str, batches: int = 0) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    final = {"cpu_s": _rusage_s(usage) - _rusage_s(cpu_start), "maxrss_kb": _peak_rss_kb(), "count": count,
             "protocol": protocol, "batches": batches}
    sys.stdout.write("final " + json.dumps(final) + "\n")
    sys.stdout.flush()


def child_paho(port: int, client_id: str, expected_messages: int, batch: int, protocol: str) -> None:
    """The bare paho-mqtt subscriber: counts messages and acks each one at once; stores nothing."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    manual = os.environ.get("BENCH_PAHO_ACK", "manual") == "manual"  # "auto": paho acks by itself
    v5 = protocol == "5"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else False,
                         manual_ack=manual)
    received = [0]

    def on_message(client, userdata, message) -> None:
        if manual:
            client.ack(message.mid, message.qos)
        received[0] += 1
        if received[0] == expected_messages:
            _report(time.time(), received[0] * batch)

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(TOPIC, qos=1)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    if v5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0xFFFFFFFF
        properties.ReceiveMaximum = 1000
        client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    else:  # the broker's max_inflight_messages (1000 in tests/servers.py) is the receive maximum
        client.connect("127.0.0.1", port)
    client.loop_start()
    sys.stdin.readline()  # stop
    client.disconnect()
    client.loop_stop()
    _final(cpu_start, received[0] * batch, "5" if client.protocol == mqtt.MQTTv5 else "3.1.1")


def child_ingester(mqtt_url: str, client_id: str, topic: str, readings_url: str, database_url: str,
                   protocol: str, client: str) -> None:
    """anxin's ingester as ``anxin ingest`` builds it; reports its stored-readings counter as it moves."""
    os.environ.update({
        "ANXIN_MQTT_URL": mqtt_url, "ANXIN_MQTT_CLIENT_ID": client_id, "ANXIN_MQTT_TOPIC": topic,
        "ANXIN_MQTT_PROTOCOL": protocol, "ANXIN_MQTT_CLIENT": client,
        "ANXIN_READINGS_URL": readings_url, "ANXIN_DATABASE_URL": database_url, "ANXIN_INGEST_METRICS_PORT": "0",
    })
    from api.settings import Settings
    from api.wiring import Stores, build_ingester

    settings = Settings()
    stores = Stores(settings)
    source, ingester = build_ingester(settings, stores)
    stop = threading.Event()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    source.start()
    worker = threading.Thread(target=ingester.run, args=(stop,), daemon=True)
    worker.start()
    stopping = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stopping.set()), daemon=True).start()
    seen = 0
    while not stopping.is_set():
        count = ingester.counters.readings_stored
        if count != seen:
            seen = count
            _report(time.time(), count)
        time.sleep(0.002)
    stop.set()
    worker.join(timeout=60)
    source.stop()
    stores.close()
    _final(cpu_start, ingester.counters.readings_stored, source.options.protocol,
           ingester._batches)  # noqa: SLF001 - a bench may look inside


# -- the run ----------------------------------------------------------------------------------------

def _count_stored(readings_url: str) -> int:
    from store.readings import open_readings_store

    store = open_readings_store(readings_url)
    try:
        if readings_url.startswith("sqlite"):
            with store._tx() as conn:  # noqa: SLF001 - a bench may look inside
                return conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        series = store._query(store.policies.raw, "SELECT count(total_l) FROM reading")  # noqa: SLF001
        return series[0]["values"][0][1] if series else 0
    finally:
        store.close()


def _fmt(o: Outcome, broker: Outcome, paho: Outcome) -> str:
    rss = f"{o.maxrss_kb / 1024:.0f}" if o.maxrss_kb else "-"
    servers = ", ".join(f"{name} {cpu * 100_000 / o.readings:.2f}" for name, cpu in o.servers_cpu_s.items())
    return (f"| {o.name} | {o.readings:,} | {o.seconds:.2f} | {o.rate:,.0f} | {o.rate / broker.rate:.1%} |"
            f" {o.rate / paho.rate:.1%} | {o.cpu_s * 100_000 / o.readings:.2f} | {servers} | {rss} |"
            f" {o.note} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None,
                        help="messages to publish (default 200,000 single readings or 21,000 batches)")
    parser.add_argument("--batch", type=int, default=1, help="readings per message (1 or 96)")
    parser.add_argument("--store", choices=["sqlite", "influxdb", "both"], default="sqlite")
    parser.add_argument("--backlog", action="store_true", help="queue everything first, then time the drain")
    parser.add_argument("--ingesters", type=int, default=1, help="ingester processes on a shared subscription")
    parser.add_argument("--meters", type=int, default=None, help="distinct meters (default: messages / 100)")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5",
                        help="MQTT version of the bare paho subscriber and the ingester (ANXIN_MQTT_PROTOCOL)")
    parser.add_argument("--client", choices=["paho", "lean", "both"], default="both",
                        help="the ingester's MQTT client (ANXIN_MQTT_CLIENT); both: one after the other")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    clients = ["paho", "lean"] if args.client == "both" else [args.client]
    n = args.messages or (200_000 if args.batch == 1 else 21_000)
    meters = args.meters or max(1, n // 100)
    if n > 1000 * meters:
        parser.error("more than 1,000 messages per meter would trip the flood rule; raise --meters")
    readings = n * args.batch

    from tests.servers import InfluxDB, Mosquitto

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: stop the servers
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-ingest-"))
    (workdir / "mosquitto").mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(workdir / "mosquitto")
    broker.start()
    influx = None
    stores = ["sqlite", "influxdb"] if args.store == "both" else [args.store]
    try:
        if "influxdb" in stores:
            (workdir / "influxdb").mkdir(exist_ok=True)
            influx = InfluxDB(workdir / "influxdb")
            influx.start()
        messages = make_messages(n, args.batch, meters)
        size = sum(len(p) for _, p in messages) / n
        load = os.getloadavg()
        mode = "backlog drain" if args.backlog else "live"
        print(f"# bench.ingest: {n:,} messages x {args.batch} = {readings:,} readings, {meters:,} meters,"
              f" {size:.0f} B payloads, QoS 1, {mode}, MQTT {args.protocol} for paho and anxin;"
              f" load average {load[0]:.2f} {load[1]:.2f}")

        alone = RawPublisher(broker.port, messages).run()
        print(f"publisher alone (no subscriber): {n / (alone[1] - alone[0]):,.0f} messages/s")

        def publisher() -> RawPublisher | None:
            return RawPublisher(broker.port, messages)

        outcomes: list[Outcome] = []
        broker_only = {"mosquitto": broker.process}
        if args.backlog:
            make_session(broker.port, "bench-mosquitto-sub", TOPIC, "3.1.1")
            publisher().run()
        outcomes.append(timed_with_servers(broker_only, run_mosquitto_sub,
                                           broker.port, None if args.backlog else publisher(), n, readings))
        forget_session(broker.port, "bench-mosquitto-sub", "3.1.1")
        make_session(broker.port, "bench-paho", TOPIC, args.protocol)
        if args.backlog:
            publisher().run()
        outcomes.append(timed_with_servers(
            broker_only, run_python_consumers,
            [("paho", ["_paho", str(broker.port), "bench-paho", str(n), str(args.batch), args.protocol])],
            None if args.backlog else publisher(), readings, "bare paho-mqtt (stores nothing)", args.protocol))
        forget_session(broker.port, "bench-paho", args.protocol)
        cases = [(store, client, count) for store in stores for client in clients
                 for count in sorted({1, args.ingesters})]
        for store, client, count in cases:
            topic = SHARED_TOPIC if count > 1 else TOPIC
            run_dir = workdir / f"{store}-{count}-{time.monotonic_ns()}"
            run_dir.mkdir()
            db_url = f"sqlite:///{run_dir}/anxin.db"
            readings_url = db_url if store == "sqlite" else influx.url(f"bench_{time.monotonic_ns()}")
            ids = [f"bench-anxin-{count}-{i}-{time.monotonic_ns()}" for i in range(count)]
            for client_id in ids:
                make_session(broker.port, client_id, topic, args.protocol)
            if args.backlog:
                publisher().run()
            # Each its own dead-letter database (two migrating one file at once would race), as in
            # tests/ingest/test_shared_subscription.py; with SQLite readings they share the readings file.
            consumers = [(client_id, ["_ingester", broker.url, client_id, topic, readings_url,
                                      db_url if i == 0 else f"sqlite:///{run_dir}/dead-letters-{i}.db",
                                      args.protocol, client])
                         for i, client_id in enumerate(ids)]
            label = (f"anxin ingester ({client}) -> {store}"
                     + (f", {count} processes on $share" if count > 1 else ""))
            servers = broker_only if store == "sqlite" else {**broker_only, "influxd": influx.process}
            outcome = timed_with_servers(servers, run_python_consumers, consumers,
                                         None if args.backlog else publisher(), readings, label, args.protocol)
            for client_id in ids:
                forget_session(broker.port, client_id, args.protocol)
            stored = _count_stored(readings_url)
            if stored != readings:
                raise RuntimeError(f"{label}: {stored:,} readings in the store, {readings:,} published")
            outcome.note = (outcome.note + f"; {stored:,} stored, checked").lstrip("; ")
            outcomes.append(outcome)
        mosq, paho = outcomes[0], outcomes[1]
        print()
        print("| consumer | readings | s | readings/s | of broker | of bare paho | CPU s / 100k readings"
              " | servers' CPU s / 100k readings | peak RSS MiB | |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for o in outcomes:
            print(_fmt(o, mosq, paho))
        load = os.getloadavg()
        print(f"\n# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        for proc in _CHILDREN:
            if proc.poll() is None:
                proc.kill()
        broker.stop()
        if influx is not None:
            influx.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_paho":
        child_paho(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif len(sys.argv) > 1 and sys.argv[1] == "_ingester":
        child_ingester(*sys.argv[2:9])
    else:
        main()
