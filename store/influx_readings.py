"""Readings in InfluxDB, through the 1.x HTTP API (line protocol on /write, InfluxQL on /query).

That API is the one every InfluxDB generation serves: 1.x natively, 2.x through its v1
compatibility endpoints (DBRP mappings), 3 Core natively. The schema (README, "Readings in
InfluxDB") uses three retention policies of one database:

- ``raw``: measurement ``reading``, tag ``meter_id``, fields ``total_l`` (float), ``received_ms``
  (integer) and ``extra`` (JSON text, only when the payload had optional fields); time = the
  meter's ts, millisecond precision. Series = meters, so cardinality stays bounded.
- ``hourly``: measurement ``reading_hourly``, one point per meter and hour: ``total_l`` (last
  total in the hour), ``first_l``, ``n`` (readings) and ``received_ms`` (latest arrival).
  Recomputed from ``raw`` for every hour a write touches, so late and out-of-order data land.
- ``recent``: measurement ``arrival``, one point per accepted reading at the time it was stored,
  tags ``meter_id`` and ``writer`` (the ingester's client id). It is the detector's cursor: an
  InfluxDB series can only be read by time, and a late reading's time is its old ts.

InfluxDB keeps one point per (series, time), so writing a reading twice stores it once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pandas as pd

from store.errors import ConfigError, StoreError, StoreRefused, StoreUnavailable
from store.line_protocol import escape_tag, field_value, quote_identifier, quote_string
from store.readings import Reading, WriteResult, hourly_frame, readings_frame

log = logging.getLogger(__name__)

RAW, HOURLY, ARRIVALS = "reading", "reading_hourly", "arrival"
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_MS_NS = 1_000_000
_RETENTION_MARGIN_MS = _HOUR_MS  # InfluxDB drops whole shard groups: keep clear of the edge


@dataclass(frozen=True)
class RetentionPolicies:
    """Names and, for a server that lets anxin create them (1.x), durations in InfluxQL syntax."""

    raw: str = "raw"
    hourly: str = "hourly"
    recent: str = "recent"
    raw_duration: str = "400d"
    hourly_duration: str = "INF"
    recent_duration: str = "2d"


class InfluxReadingsStore:
    """A ReadingsStore on an InfluxDB server; thread-safe (one pooled HTTP client)."""

    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        policies: RetentionPolicies = RetentionPolicies(),
        writer: str = "anxin",
        timeout_s: float = 10.0,
        overlap_ms: int = 300_000,
        late_ms: int = 31 * _DAY_MS,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.database = database
        self.policies = policies
        self.writer = writer
        self.overlap_ms = overlap_ms  # how far back each changes() call looks again, for clock skew
        self.late_ms = late_ms  # how old a reading arriving now can be, for the first changes() call
        self.clock_ns = clock_ns
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._auth = {"u": username, "p": password} if username else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)
        self._ready_lock = threading.Lock()
        self._ready = False
        self._raw_keep_ms: int | None = None  # how far back the raw policy keeps data; None: unknown
        self._seen: dict[tuple, int] = {}  # arrivals already returned by changes(), by their arrival time

    @classmethod
    def from_url(cls, url: str, **options) -> InfluxReadingsStore:
        """``influxdb://[token@]host:port/database`` (or ``user:password@``); ``influxdbs://`` for TLS.

        Query parameters name or size the retention policies (``raw``, ``hourly``, ``recent``,
        each ``name`` or ``name:duration``, e.g. ``?raw=raw:400d``) and the ``writer`` id.
        """
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if parts.scheme not in ("influxdb", "influxdbs") or not parts.hostname or not database or "/" in database:
            raise ConfigError(
                f"{_redact(url)!r} is not an InfluxDB URL; write influxdb://[token@]host:8086/database"
            )
        scheme = "https" if parts.scheme == "influxdbs" else "http"
        base_url = f"{scheme}://{parts.hostname}:{parts.port or 8086}"
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        policies = RetentionPolicies()
        for key in ("raw", "hourly", "recent"):
            if key in query:
                name, _, duration = query.pop(key).partition(":")
                policies = replace(policies, **{key: name}, **({f"{key}_duration": duration} if duration else {}))
        if "writer" in query:
            options.setdefault("writer", query.pop("writer"))
        if query:
            raise ConfigError(f"InfluxDB URL: unknown parameters {sorted(query)}; use raw, hourly, recent, writer")
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        credentials = {"username": user, "password": password} if password else {"token": user or None}
        return cls(base_url, database, policies=policies, **credentials, **options)

    # -- writing ---------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult()
        self._ensure_ready()
        result = WriteResult()
        keep = []
        oldest_ok = self._oldest_kept_ms()
        for r in readings:
            if oldest_ok is not None and r.ts_ms < oldest_ok:
                result.refused.append((r, "older than the readings store keeps (its raw retention policy)"))
            else:
                keep.append(r)
        stored = self._stored_points(keep)  # every stored point in the hours the batch touches
        accepted: list[Reading] = []
        fresh: dict[tuple[str, int], Reading] = {}
        fresh_at: list[int] = []  # where each fresh reading is in accepted
        for r in keep:
            key = (r.meter_id, r.ts_ms)
            first = stored[key][0] if key in stored else fresh[key].total_l if key in fresh else None
            if first is not None and first != r.total_l:
                result.conflicts.append((r, first))
                continue
            if first is None:
                fresh[key] = r
                fresh_at.append(len(accepted))
            accepted.append(r)
        totals = [field_value(float(r.total_l)) for r in accepted]  # once a reading, for both lines that carry it
        # Raw first, then the arrival log: a crash in between leaves raw points that a redelivery
        # finds stored, and that redelivery still writes their arrivals.
        self._write_lines(self.policies.raw, (_raw_line(accepted[i], totals[i]) for i in fresh_at))
        stamp = self.clock_ns()
        writer = escape_tag(self.writer)
        self._write_lines(self.policies.recent, (_arrival_line(r, total, writer, stamp + i)
                                                 for i, (r, total) in enumerate(zip(accepted, totals, strict=True))))
        stored.update({key: (r.total_l, r.received_ms) for key, r in fresh.items()})
        self._write_lines(self.policies.hourly, _hourly_lines(stored, {(r.meter_id, _hour(r.ts_ms)) for r in accepted}))
        result.inserted = len(fresh)
        return result

    def _stored_points(self, readings: Sequence[Reading]) -> dict[tuple[str, int], tuple[float, int]]:
        """(meter, ts) -> (total_l, received_ms) of what is stored in the whole hours around the readings.

        One query serves both the duplicate check and the hourly roll-up, which needs whole hours.
        """
        stored = {}
        for meters, start, end in _query_groups(readings):
            query = (f"SELECT total_l, received_ms FROM {RAW} WHERE {_meter_filter(meters)}"
                     f" AND {_time_range(_hour(start), _hour(end) + _HOUR_MS)} GROUP BY meter_id")
            for meter, ts, total, received in self._meter_rows(self.policies.raw, query):
                stored[(meter, ts)] = (float(total), received)
        return stored

    def _write_lines(self, policy: str, lines: Iterable[str]) -> None:
        body = "\n".join(lines)
        if not body:
            return
        params = {"db": self.database, "rp": policy, "precision": "ns" if policy == self.policies.recent else "ms"}
        response = self._request("POST", "/write", params=params, content=body.encode())
        if response.status_code == 404 or "database not found" in response.text:
            self._ready = False  # deleted under us: the next attempt sets it up again
            raise StoreUnavailable(f"InfluxDB has no database {self.database!r} (any more); it is created on retry")
        if response.status_code != 204:
            raise _error("write to", policy, response)

    # -- reading ---------------------------------------------------------------------------

    def read(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        if meter_ids is not None and not meter_ids:
            return readings_frame()
        self._ensure_ready()
        query = f"SELECT total_l, received_ms FROM {RAW}{_where(meter_ids, start_ms, end_ms)} GROUP BY meter_id"
        return _by_meter_and_time(readings_frame(self._meter_rows(self.policies.raw, query)))

    def read_meter(self, meter_id: str, *, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
        self._ensure_ready()
        query = f"SELECT total_l, received_ms, extra FROM {RAW}{_where([meter_id], start_ms, end_ms)}"
        return [
            {"ts_ms": ts, "total_l": float(total), "received_ms": received,
             "extra": json.loads(extra) if extra else None}
            for series in self._query(self.policies.raw, query)
            for ts, total, received, extra in series["values"]
        ]

    def read_hourly(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        if meter_ids is not None and not meter_ids:
            return hourly_frame()
        self._ensure_ready()
        query = (
            f"SELECT total_l, first_l, n, received_ms FROM {HOURLY}{_where(meter_ids, start_ms, end_ms)}"
            " GROUP BY meter_id"
        )
        rows = self._meter_rows(self.policies.hourly, query)
        return hourly_frame(rows).sort_values(["meter_id", "hour_ms"], kind="stable").reset_index(drop=True)

    def changes(self, cursor: int | None, *, received_since_ms: int = 0) -> tuple[pd.DataFrame, int]:
        """Readings stored since ``cursor`` (an arrival time in ns), each returned once per store object.

        Each call looks ``overlap_ms`` further back than the cursor, so a writer whose clock lags or
        whose write was slow is still seen; what this object returned before is filtered out.
        """
        self._ensure_ready()
        now_ns = self.clock_ns()
        if cursor is None:
            return self._history(received_since_ms, now_ns), now_ns
        since_ns = cursor - self.overlap_ms * _MS_NS
        query = f"SELECT meter_id, ts_ms, total_l, received_ms FROM {ARRIVALS} WHERE time > {since_ns}"
        rows, newest = [], cursor
        for series in self._query(self.policies.recent, query, epoch="ns"):
            for arrived, meter, ts, total, received in series["values"]:
                key = (meter, ts, received)
                newest = max(newest, arrived)
                if key not in self._seen:
                    self._seen[key] = arrived
                    rows.append((meter, ts, total, received))
        self._seen = {key: at for key, at in self._seen.items() if at > since_ns}
        return _in_arrival_order(readings_frame(rows)), newest

    def _history(self, received_since_ms: int, now_ns: int) -> pd.DataFrame:
        """Everything received since a time: the raw readings up to ``late_ms`` older than it."""
        query = (
            f"SELECT total_l, received_ms FROM {RAW}"
            f" WHERE time >= {max(0, received_since_ms - self.late_ms)}ms AND received_ms >= {received_since_ms}"
            " GROUP BY meter_id"
        )
        frame = readings_frame(self._meter_rows(self.policies.raw, query))
        # The next call looks back over the overlap: what this call returned must not come again.
        loaded = set(frame[["meter_id", "ts_ms", "received_ms"]].itertuples(index=False, name=None))
        query = f"SELECT meter_id, ts_ms, received_ms FROM {ARRIVALS} WHERE time > {now_ns - self.overlap_ms * _MS_NS}"
        self._seen = {
            (meter, ts, received): arrived
            for series in self._query(self.policies.recent, query, epoch="ns")
            for arrived, meter, ts, received in series["values"]
            if (meter, ts, received) in loaded
        }
        return _in_arrival_order(frame)

    def latest(self, meter_ids: Sequence[str] | None = None) -> pd.DataFrame:
        self._ensure_ready()
        if meter_ids is not None and not meter_ids:
            return readings_frame()
        where = _where(meter_ids, None, None)
        newest = self._query(  # LIMIT applies per series: each meter's newest point, with its own time
            self.policies.raw,
            f"SELECT total_l, received_ms FROM {RAW}{where} GROUP BY meter_id ORDER BY time DESC LIMIT 1",
        )
        # A late reading of older data arrives after the newest one: the arrival log knows.
        arrived = {
            series["tags"]["meter_id"]: series["values"][0][1]
            for series in self._query(
                self.policies.recent, f"SELECT max(received_ms) FROM {ARRIVALS}{where} GROUP BY meter_id"
            )
        }
        rows = []
        for series in newest:
            meter = series["tags"]["meter_id"]
            ts, total, received = series["values"][0]
            rows.append((meter, ts, total, max(received, arrived.get(meter, received))))
        return _by_meter_and_time(readings_frame(rows))

    def close(self) -> None:
        self._http.close()

    # -- HTTP ------------------------------------------------------------------------------

    def _meter_rows(self, policy: str, query: str) -> list[tuple]:
        """The rows of a ``GROUP BY meter_id`` query, each as (meter_id, time, *fields)."""
        return [(s["tags"]["meter_id"], *values) for s in self._query(policy, query) for values in s["values"]]

    def _query(self, policy: str | None, query: str, *, epoch: str = "ms") -> list[dict]:
        """Run InfluxQL; the series of its one statement, merged across chunks."""
        params = {"db": self.database, "q": query, "epoch": epoch, "chunked": "true", "chunk_size": "10000"}
        if policy is not None:
            params["rp"] = policy
        merged: dict[tuple, dict] = {}
        response = self._request("POST", "/query", data=params)
        if response.status_code != 200:
            raise _error("query", policy or self.database, response)
        for text in response.text.splitlines():  # chunked: one JSON document per line
            if not text.strip():
                continue
            for result in json.loads(text).get("results", []):
                if "error" in result:
                    raise StoreError(f"InfluxDB refused the query {query!r}: {result['error']}")
                for series in result.get("series", []):
                    key = (series.get("name"), tuple(sorted((series.get("tags") or {}).items())))
                    if key in merged:
                        merged[key]["values"].extend(series.get("values", []))
                    else:
                        merged[key] = {"tags": series.get("tags") or {}, "columns": series["columns"],
                                       "values": list(series.get("values", []))}
        return list(merged.values())

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, params={**kwargs.pop("params", {}), **self._auth}, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self._http.base_url} is unreachable: {exc}") from exc

    # -- setup -----------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        """Find (or, on 1.x, create) the database and its retention policies, once."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            durations = self._policy_durations()
            wanted = self.policies
            missing = [name for name in (wanted.raw, wanted.hourly, wanted.recent) if name not in durations]
            if missing:
                self._create_policies(missing)
                durations = self._policy_durations()
            raw = durations.get(wanted.raw)
            if not raw and not self._server_version().lstrip("v").startswith("1."):
                # 2.x and 3 may not report a bucket's retention here, yet refuse points beyond it.
                raw = _duration_ms(wanted.raw_duration)
            self._raw_keep_ms = None if not raw else raw - _RETENTION_MARGIN_MS
            self._ready = True

    def _server_version(self) -> str:
        return self._request("GET", "/ping").headers.get("X-Influxdb-Version", "")

    def _policy_durations(self) -> dict[str, int]:
        """Retention policy name -> duration in ms (0: forever); empty if the database does not exist."""
        try:
            series = self._query(None, f"SHOW RETENTION POLICIES ON {quote_identifier(self.database)}")
        except StoreError as exc:
            if "database not found" in str(exc):
                return {}
            raise
        policies = {}
        for s in series:
            columns = s["columns"]
            for values in s["values"]:
                row = dict(zip(columns, values, strict=False))
                policies[row["name"]] = _duration_ms(row.get("duration") or "0s")
        return policies

    def _create_policies(self, missing: list[str]) -> None:
        db = quote_identifier(self.database)
        p = self.policies
        durations = {p.raw: p.raw_duration, p.hourly: p.hourly_duration, p.recent: p.recent_duration}
        statements = [f"CREATE DATABASE {db}"] + [
            f"CREATE RETENTION POLICY {quote_identifier(name)} ON {db} DURATION {durations[name]}"
            " REPLICATION 1" + (" DEFAULT" if name == p.raw else "")
            for name in missing
        ]
        for statement in statements:
            try:
                self._query(None, statement)
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable):
                    raise
                raise ConfigError(
                    f"InfluxDB database {self.database!r} lacks retention policies {missing} and this server"
                    f" will not create them ({exc}). On InfluxDB 2.x create buckets and v1 DBRP mappings"
                    f" {self.database}/{p.raw} (default), {self.database}/{p.hourly} and {self.database}/{p.recent}"
                    " (README, 'Readings in InfluxDB')"
                ) from exc
        log.info("created InfluxDB retention policies %s on database %s", missing, self.database)

    def _oldest_kept_ms(self) -> int | None:
        if not self._raw_keep_ms:
            return None
        return self.clock_ns() // _MS_NS - self._raw_keep_ms


def _raw_line(r: Reading, total: str) -> str:
    """A reading's raw point; ``total`` is its total_l as a field value."""
    extra = f",extra={field_value(json.dumps(r.extra))}" if r.extra else ""
    return f"{RAW},meter_id={escape_tag(r.meter_id)} total_l={total},received_ms={r.received_ms}i{extra} {r.ts_ms}"


def _arrival_line(r: Reading, total: str, writer: str, time_ns: int) -> str:
    """A reading's point in the arrival log; ``total`` and ``writer`` are already a field value and a tag."""
    # Hand-formatted (this runs once per reading): the same text line() makes, checked in the tests.
    return (f"{ARRIVALS},meter_id={escape_tag(r.meter_id)},writer={writer}"
            f" ts_ms={r.ts_ms}i,total_l={total},received_ms={r.received_ms}i {time_ns}")


def _hour(ts_ms: int) -> int:
    return ts_ms // _HOUR_MS * _HOUR_MS


def _hourly_lines(points: dict[tuple[str, int], tuple[float, int]], hours: set[tuple[str, int]]) -> list[str]:
    """The hourly points (last and first total, count, latest arrival) of the given (meter, hour)s.

    One pass without sorting the points (a batch brings tens of thousands): each hour keeps its
    earliest and latest (ts, total); only the hours are sorted, for a stable write order.
    """
    per_hour: dict[tuple[str, int], list] = {}
    for (meter, ts), (total, received) in points.items():
        key = (meter, ts // _HOUR_MS * _HOUR_MS)
        if key not in hours:
            continue
        agg = per_hour.get(key)
        if agg is None:
            per_hour[key] = [ts, total, ts, total, 1, received]  # first ts, first total, last ts, last total
            continue
        if ts < agg[0]:
            agg[0], agg[1] = ts, total
        if ts > agg[2]:
            agg[2], agg[3] = ts, total
        agg[4] += 1
        agg[5] = max(agg[5], received)
    return [_hourly_line(meter, hour, last, first, n, received)
            for (meter, hour), (_, first, _, last, n, received) in sorted(per_hour.items())]


def _hourly_line(meter_id: str, hour_ms: int, last: float, first: float, n: int, received_ms: int) -> str:
    # Hand-formatted (one a meter and hour of every batch): the same text line() makes, checked in the tests.
    return (f"{HOURLY},meter_id={escape_tag(meter_id)} total_l={field_value(last)},first_l={field_value(first)},"
            f"n={field_value(n)},received_ms={field_value(received_ms)} {int(hour_ms)}")


def _query_groups(readings: Sequence[Reading]) -> list[tuple[list[str], int, int]]:
    """Meters and a time range per query, so that one meter's old reading does not widen everybody's.

    InfluxQL cannot OR time ranges together; meters whose readings start on the same day share a query.
    """
    spans: dict[str, list[int]] = {}
    for r in readings:
        span = spans.setdefault(r.meter_id, [r.ts_ms, r.ts_ms])
        span[0], span[1] = min(span[0], r.ts_ms), max(span[1], r.ts_ms)
    groups: dict[int, list] = defaultdict(lambda: [[], None, None])
    for meter, (low, high) in spans.items():
        group = groups[low // _DAY_MS]
        group[0].append(meter)
        group[1] = low if group[1] is None else min(group[1], low)
        group[2] = high if group[2] is None else max(group[2], high)
    return [tuple(g) for g in groups.values()]


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]+")  # what a regex alternation can carry with only '.' escaped
_REGEX_FROM = 8  # InfluxDB 1.x plans a long OR of tag equalities slowly: 1,000 meters take ~6x the regex


def _meter_filter(meter_ids: Sequence[str]) -> str:
    """Meters as a condition: equalities for a few, one anchored regex for many (same rows, faster).

    >>> print(_meter_filter(["a", "b"]))
    (meter_id = 'a' OR meter_id = 'b')
    >>> print(_meter_filter([f"m.{i}" for i in range(8)])[:27])
    (meter_id =~ /^(?:m\\.0|m\\.1
    """
    if len(meter_ids) >= _REGEX_FROM and all(_PLAIN_ID.fullmatch(m) for m in meter_ids):
        return "(meter_id =~ /^(?:" + "|".join(m.replace(".", "\\.") for m in meter_ids) + ")$/)"
    return "(" + " OR ".join(f"meter_id = {quote_string(m)}" for m in meter_ids) + ")"


def _time_range(start_ms: int, end_ms: int) -> str:
    return f"time >= {start_ms}ms AND time < {end_ms}ms"


def _where(meter_ids: Sequence[str] | None, start_ms: int | None, end_ms: int | None) -> str:
    conditions = []
    if meter_ids is not None:
        conditions.append(_meter_filter(meter_ids))
    if start_ms is not None:
        conditions.append(f"time >= {start_ms}ms")
    if end_ms is not None:
        conditions.append(f"time < {end_ms}ms")
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _by_meter_and_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["meter_id", "ts_ms"], kind="stable").reset_index(drop=True)


def _in_arrival_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["received_ms", "meter_id", "ts_ms"], kind="stable").reset_index(drop=True)


def _duration_ms(text: str) -> int:
    """An InfluxDB duration ("9600h0m0s" as SHOW RETENTION POLICIES prints it, "400d", "INF") in ms; 0 is forever.

    >>> _duration_ms("9600h0m0s"), _duration_ms("1h30m0s"), _duration_ms("400d"), _duration_ms("INF")
    (34560000000, 5400000, 34560000000, 0)
    """
    total, number = 0, ""
    units = {"w": 7 * _DAY_MS, "d": _DAY_MS, "h": _HOUR_MS, "m": 60_000, "s": 1000}
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += int(float(number) * units[ch])
            number = ""
    return total


def _error(action: str, target: str, response: httpx.Response) -> StoreError:
    """Map an InfluxDB HTTP error: the server's trouble is retried; a refusal says why."""
    body = response.text.strip()[:500]
    if response.status_code >= 500 or response.status_code == 429:
        return StoreUnavailable(f"InfluxDB could not {action} {target} (HTTP {response.status_code}): {body}")
    if response.status_code in (401, 403):
        return StoreError(
            f"InfluxDB refused our credentials to {action} {target} (HTTP {response.status_code}); check the token"
            " in ANXIN_READINGS_URL"
        )
    if action == "write to" and response.status_code in (400, 413, 422):
        return StoreRefused(f"InfluxDB refused to {action} {target} (HTTP {response.status_code}): {body}")
    return StoreError(f"InfluxDB refused to {action} {target} (HTTP {response.status_code}): {body}")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.netloc, parts.netloc.rpartition("@")[2]) if "@" in parts.netloc else url
