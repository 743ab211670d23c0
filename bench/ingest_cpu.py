"""CPU per reading of the ingester's own work (parse, store, metrics), without MQTT: what a profile of
``bench.ingest`` cannot separate from paho and the machine's load.

    python -m bench.ingest_cpu [--messages N] [--batch 1|96] [--per-batch M] [--store sqlite|influxdb]

It feeds ``Ingester._store`` the same messages ``bench.ingest`` publishes, ``--per-batch`` messages at
a time as the writer would take them from the queue, into a fresh SQLite file or a fresh InfluxDB
1.x database (started through ``tests/servers.py``), and prints CPU seconds and wall time. Into
InfluxDB it also prints influxd's CPU, and how much of it went to the write's read of the stored
points of the hours it touches (duplicates and the hourly roll-up). To compare
two commits side by side, run it from each one's tree in turn, alternating, in the same minutes:

    for tree in ../old ../new; do (cd $tree && python -m bench.ingest_cpu --batch 96); done
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench.cpu import process_cpu_s
from bench.ingest import make_messages
from ingest.mqtt_wire import Message
from ingest.service import Ingester
from store.readings import open_readings_store


class _NoSource:
    """``Ingester._store`` reads nothing from its source; acknowledging is MQTT's part, left out."""


class ServerCpu:
    """influxd's CPU seconds over the timed run (``start`` to ``stop``), and over the store's reads
    before its writes within it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.total = self.reading = 0.0

    def count_reads(self, store) -> None:
        """Count influxd's CPU during each of ``store``'s reads of stored points apart."""
        read = store._stored_points  # noqa: SLF001 - a bench may look inside

        def counted(readings):
            before = process_cpu_s(self.pid)
            try:
                return read(readings)
            finally:
                self.reading += process_cpu_s(self.pid) - before

        store._stored_points = counted

    def start(self) -> None:
        self.total = -process_cpu_s(self.pid)

    def stop(self) -> None:
        self.total += process_cpu_s(self.pid)


def measure(store_url: str, messages: list[Message], per_batch: int, readings: int,
            server: ServerCpu | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to store every message; raises if a reading is missing."""
    store = open_readings_store(store_url, writer="bench-ingest-cpu")
    if server is not None:
        server.count_reads(store)
    try:
        ingester = Ingester(source=_NoSource(), readings=store, dead_letters=lambda rejections: None)
        stop = threading.Event()
        if server is not None:  # over the same span as our CPU below
            server.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(messages), per_batch):
            if not ingester._store(messages[start:start + per_batch], stop):  # noqa: SLF001 - a bench may look inside
                raise RuntimeError("a batch was not stored")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if server is not None:
            server.stop()
        if ingester.counters.readings_stored != readings:
            raise RuntimeError(f"stored {ingester.counters.readings_stored:,} of {readings:,} readings")
        return cpu, wall
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="default 100,000 single readings or 3,000 batches")
    parser.add_argument("--batch", type=int, default=1, help="readings per message (1 or 96)")
    parser.add_argument("--per-batch", type=int, default=1000, help="messages the writer stores at once")
    parser.add_argument("--meters", type=int, default=None, help="distinct meters (default: messages / 10)")
    parser.add_argument("--store", choices=["sqlite", "influxdb"], default="sqlite")
    args = parser.parse_args(argv)
    n = args.messages or (100_000 if args.batch == 1 else 3_000)
    meters = args.meters or max(1, n // 10)
    readings = n * args.batch
    messages = [Message(topic, payload, mid, 1, 1)
                for mid, (topic, payload) in enumerate(make_messages(n, args.batch, meters), start=1)]
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-cpu-"))
    influx = None
    try:
        if args.store == "influxdb":
            from tests.servers import InfluxDB

            influx = InfluxDB(workdir)
            influx.start()
            url = influx.url(f"bench_{time.monotonic_ns()}")
        else:
            url = f"sqlite:///{workdir}/readings.db"
        load = Path("/proc/loadavg").read_text().split()[:3]
        server = ServerCpu(influx.process.pid) if influx is not None else None
        cpu, wall = measure(url, messages, args.per_batch, readings, server)
        print(f"# bench.ingest_cpu: {n:,} messages x {args.batch} = {readings:,} readings into {args.store},"
              f" {args.per_batch:,} messages a batch; load average {' '.join(load)}")
        print(f"CPU {cpu:.2f} s = {cpu / readings * 1e6:.2f} us a reading ({readings / cpu:,.0f} readings/s of CPU);"
              f" wall {wall:.2f} s ({readings / wall:,.0f} readings/s)")
        if server is not None:
            print(f"influxd CPU {server.total:.2f} s = {server.total / readings * 1e6:.2f} us a reading, of which"
                  f" reading the stored points before writing {server.reading / readings * 1e6:.2f} us")
    finally:
        if influx is not None:
            influx.stop()


if __name__ == "__main__":
    main()
