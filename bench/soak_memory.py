"""Where the soak's memory goes, sampled inside the ``anxin run`` process (``bench.soak --memory-log``).

RSS alone cannot say whether growth is a leak. Every sample splits it into what each allocator
holds: SQLite's own heap (its page caches, per connection), glibc malloc's arenas (in use and free),
the detector's carried state, and, with ``--tracemalloc``, Python's allocations with the lines
that grew most since the first sample. Memory SQLite or NumPy allocate is not seen by tracemalloc,
which is why both are kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import linecache
import sqlite3
import sqlite3.dbapi2
import threading
import time
import tracemalloc
import weakref
from dataclasses import fields, is_dataclass
from pathlib import Path

import pandas as pd

_SQLITE_STATUS_MEMORY_USED = 0
_SQLITE_DBSTATUS_CACHE_USED = 1
_libsqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")  # the one _sqlite3 links
_libsqlite.sqlite3_status64.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                                        ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
_libsqlite.sqlite3_db_status.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_int]
_libsqlite.sqlite3_db_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_libsqlite.sqlite3_db_filename.restype = ctypes.c_char_p


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.mallinfo2.restype = _MallInfo2
_libc.malloc_trim.argtypes = [ctypes.c_size_t]

MB = 2**20


def sqlite_heap() -> int:
    """Bytes SQLite has allocated, all connections together (its page caches are most of it)."""
    current, highest = ctypes.c_int64(), ctypes.c_int64()
    _libsqlite.sqlite3_status64(_SQLITE_STATUS_MEMORY_USED, ctypes.byref(current), ctypes.byref(highest), 0)
    return current.value


def _handle(conn: sqlite3.Connection) -> int:
    # CPython's pysqlite_Connection starts with PyObject_HEAD then `sqlite3 *db`; checked by the filename below.
    return ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value or 0


class _TrackedConnection(sqlite3.Connection):
    """A plain sqlite3 connection that can be weakly referenced, so the sampler can find it."""


_connections: weakref.WeakSet = weakref.WeakSet()
_connections_lock = threading.Lock()


def track_sqlite_connections() -> None:
    """Record (weakly) every sqlite3 connection opened from now on in this process.

    Finding them with ``gc.get_objects()`` instead is not safe with other threads running: it can
    hand out a tuple another thread is still building, which then fails with a SystemError.
    """
    connect = sqlite3.connect

    def tracked(*args, factory=None, **kwargs):
        conn = connect(*args, factory=factory or _TrackedConnection, **kwargs)
        if isinstance(conn, _TrackedConnection):
            with _connections_lock:
                _connections.add(conn)
        return conn

    sqlite3.connect = sqlite3.dbapi2.connect = tracked  # SQLAlchemy calls the latter


def sqlite_connections() -> list[dict]:
    """Every open sqlite3 connection recorded since ``track_sqlite_connections``: its file, its page cache in bytes."""
    with _connections_lock:
        connections = list(_connections)
    found = []
    for conn in connections:
        handle = _handle(conn)
        if not handle:
            continue  # closed
        name = _libsqlite.sqlite3_db_filename(handle, b"main")
        used, highest = ctypes.c_int(), ctypes.c_int()
        _libsqlite.sqlite3_db_status(handle, _SQLITE_DBSTATUS_CACHE_USED, ctypes.byref(used), ctypes.byref(highest), 0)
        found.append({"file": Path(name.decode()).name if name else "?", "cache_bytes": used.value})
    return found


def malloc_arenas() -> dict:
    """glibc malloc: bytes in use, bytes free but kept in the arenas, and big blocks mapped on their own."""
    info = _libc.mallinfo2()
    return {"malloc_in_use": info.uordblks, "malloc_free_kept": info.fordblks, "malloc_mmapped": info.hblkhd}


def proc_status() -> dict:
    """RSS and its anonymous part, from /proc/self/status, in bytes."""
    wanted = {"VmRSS": "rss", "RssAnon": "rss_anon", "RssFile": "rss_file"}
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            found[wanted[key]] = int(value.split()[0]) * 1024
    return found


def deep_bytes(value) -> int:
    """Approximate bytes held by a carry: frames deep (object cells counted once each), dataclasses by field."""
    if value is None:
        return 0
    if isinstance(value, pd.DataFrame | pd.Series):
        size = int(value.memory_usage(deep=True).sum()) if isinstance(value, pd.DataFrame) \
            else int(value.memory_usage(deep=True))
        # pandas counts a tuple in an object column shallowly; add the floats inside it.
        for column in (value.select_dtypes(object).columns if isinstance(value, pd.DataFrame) else []):
            size += sum(24 * len(v) for v in value[column] if isinstance(v, tuple))
        return size
    if is_dataclass(value):
        return sum(deep_bytes(getattr(value, f.name)) for f in fields(value))
    return 0


def carry_sizes(monitor) -> dict:
    """Per detector kind: how many meters its carry holds, and roughly how many bytes."""
    sizes = {}
    for kind, carry in monitor._carry.items():
        rows = len(carry) if isinstance(carry, pd.DataFrame) else len(getattr(carry, "first_seen", ()))
        sizes[kind] = {"meters": rows, "bytes": deep_bytes(carry)}
    return sizes


class MemorySampler(threading.Thread):
    """Every ``every_s`` seconds appends one JSON line to ``path``; with tracemalloc, the top growth to ``path.top``."""

    def __init__(self, path: Path, *, every_s: float, top: int = 25, trim: bool = False) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.path, self.every_s, self.top = Path(path), every_s, top
        self.trim = trim  # after each sample, hand malloc's free pages back to the OS and record what that gave
        self.monitor = None  # set by the soak once the detector has ticked
        self._baseline: tracemalloc.Snapshot | None = None
        self._since = time.time()

    def run(self) -> None:
        while True:
            time.sleep(self.every_s)
            self.sample()

    def sample(self) -> None:
        connections = sqlite_connections()
        row = {"at": round(time.time(), 1), "t_s": round(time.time() - self._since, 1), **proc_status(), **malloc_arenas(),
               "sqlite_heap": sqlite_heap(), "sqlite_connections": connections,
               "carries": carry_sizes(self.monitor) if self.monitor is not None else {}}
        if tracemalloc.is_tracing():
            row["traced"], row["traced_peak"] = tracemalloc.get_traced_memory()
            self._write_top()
        if self.trim:
            _libc.malloc_trim(0)
            row["rss_after_trim"] = proc_status()["rss"]
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def _write_top(self) -> None:
        # Leave out the sampler's own allocations: tracemalloc's, and linecache's copy of the source it prints.
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, linecache.__file__)])
        if self._baseline is None:
            self._baseline = snapshot
            return
        stats = snapshot.compare_to(self._baseline, "traceback")[: self.top]
        with self.path.with_suffix(".top").open("a") as f:
            f.write(f"=== t={time.time() - self._since:.0f}s: top {self.top} growth since the first sample\n")
            for stat in stats:
                f.write(f"{stat.size_diff / MB:+9.2f} MB {stat.count_diff:+9d} blocks (now {stat.size / MB:.2f} MB)\n")
                for line in stat.traceback.format()[-12:]:
                    f.write(f"      {line}\n")


def summarize(path: Path, *, started: float, warm_s: float) -> list[str]:
    """Lines for the soak's summary: each part of the memory after the warm-up, first to last sample, and its slope."""
    import numpy as np

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    steady = [r for r in rows if r["at"] - started > warm_s and r.get("carries")]
    if len(steady) < 2:
        return ["  memory parts: too few samples after the warm-up"]
    t = np.array([r["at"] for r in steady])
    parts = {
        "SQLite heap (page caches)": [r["sqlite_heap"] for r in steady],
        "  largest connection cache": [max((c["cache_bytes"] for c in r["sqlite_connections"]), default=0)
                                       for r in steady],
        "detector carries": [sum(c["bytes"] for c in r["carries"].values()) for r in steady],
        "malloc in use": [r["malloc_in_use"] for r in steady],
        "malloc freed, kept": [r["malloc_free_kept"] for r in steady],
        "RSS - SQLite - carries": [r["rss"] - r["sqlite_heap"] - sum(c["bytes"] for c in r["carries"].values())
                                   for r in steady],
    }
    lines = ["  memory parts inside anxin (first .. last sample after the warm-up; SQLite's cache is capped at"
             " 64 MiB for the writer, 2 MiB for each reader):"]
    for name, values in parts.items():
        slope = np.polyfit(t - t[0], np.asarray(values, dtype="float64") / MB, 1)[0] * 3600
        lines.append(f"    {name:28s} {values[0] / MB:7.1f} .. {values[-1] / MB:7.1f} MB   slope {slope:+8.1f} MB/h")
    return lines
