"""Meter messages to readings: parses and checks the public MQTT contract, with no I/O.

Nothing here raises on bad input: every problem becomes a Rejection whose reason says what to fix.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from store.dead_letters import Rejection
from store.readings import Reading
from store.times import from_ms

METER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # also what `anxin import` accepts
_TOPIC = re.compile(rf"meters/({METER_ID_PATTERN})/readings")
_CONTRACT_KEYS = frozenset({"ts", "total_l", "total_m3", "meter_id"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# Epoch seconds this large are past the year 5000: the meter is sending milliseconds.
_MILLISECONDS_LIKE_S = 100_000_000_000


@dataclass(frozen=True)
class PayloadRules:
    """Limits a message must respect; the defaults suit every meter we know of."""

    max_payload_bytes: int = 256 * 1024
    max_batch_items: int = 10_000
    max_clock_skew_s: float = 300.0  # a ts more than this ahead of received time is refused
    earliest_ts_ms: int = 946_684_800_000  # 2000-01-01T00:00Z; anything earlier is refused
    max_total_l: float = 1e12
    max_extra_bytes: int = 4096  # the optional fields of one item, as the store serialises them
    max_extra_depth: int = 8  # nesting of the optional fields, so storing them can never recurse deeply


@dataclass
class ParsedMessage:
    """What one MQTT message gave: its meter (None if the topic is bad), readings and rejections."""

    meter_id: str | None
    readings: list[Reading]
    rejections: list[Rejection]


class _Refused(Exception):
    """A message or item is refused; the exception text is the reason shown to people."""


def meter_id_from_topic(topic: str) -> str | None:
    """The meter id in a ``meters/<meter_id>/readings`` topic, or None if the topic is not one.

    >>> meter_id_from_topic("meters/flat-12.b/readings"), meter_id_from_topic("meters/-x/readings")
    ('flat-12.b', None)
    """
    match = _TOPIC.fullmatch(topic)
    return match[1] if match else None


def parse_message(
    topic: str, payload: bytes, *, received_ms: int, rules: PayloadRules = PayloadRules()
) -> ParsedMessage:
    """Turn one MQTT message into readings, and a rejection for each part that breaks the contract.

    Whole-message problems give one rejection with ``item_index`` None. In a batch, a bad item is
    rejected alone (with its index and its own JSON) and the good items around it are kept.

    Examples
    --------
    >>> msg = parse_message(
    ...     "meters/m-1/readings",
    ...     b'{"ts": "2024-05-01T10:00:00+08:00", "total_l": 1234.5, "battery": 87}',
    ...     received_ms=1_714_528_800_000,
    ... )
    >>> [(r.meter_id, r.ts_ms, r.total_l, r.extra) for r in msg.readings]
    [('m-1', 1714528800000, 1234.5, {'battery': 87})]
    >>> msg = parse_message(
    ...     "meters/m-1/readings",
    ...     b'[{"ts": 1714528800, "total_m3": 1.5}, {"ts": 1714528800, "total_l": -5}]',
    ...     received_ms=1_714_528_800_000,
    ... )
    >>> [r.total_l for r in msg.readings], [(r.item_index, r.reason) for r in msg.rejections]
    ([1500.0], [(1, 'total_l must be a non-negative number, got -5')])
    """
    meter_id = meter_id_from_topic(topic)
    result = ParsedMessage(meter_id, [], [])

    def reject(reason: str, raw: bytes, item_index: int | None = None) -> None:
        result.rejections.append(Rejection(topic, raw, reason, from_ms(received_ms), meter_id, item_index))

    try:
        if meter_id is None:
            raise _Refused(
                f"topic {_show(topic)} is not meters/<meter_id>/readings with a meter id of 1-64 letters,"
                " digits, _ . : - starting with a letter or digit; fix the topic the meter publishes to"
            )
        items = _items(_load(payload, rules), rules)
    except _Refused as exc:
        reject(str(exc), payload[: rules.max_payload_bytes])
        return result

    readings = result.readings
    latest_ts_ms = received_ms + rules.max_clock_skew_s * 1000
    for index, item in items:
        reading = _plain_reading(item, meter_id, received_ms, latest_ts_ms, rules)
        if reading is not None:
            readings.append(reading)
            continue
        try:
            readings.append(_reading(item, meter_id, received_ms, rules))
        except _Refused as exc:
            reject(str(exc), payload if index is None else _item_bytes(item), index)
    return result


def _plain_reading(item: Any, meter_id: str, received_ms: int, latest_ts_ms: float,
                   rules: PayloadRules) -> Reading | None:
    """The common shape, ``{"ts": "<ISO with offset>", "total_l": <number>}`` and nothing else, checked
    quickly; None for anything else or anything doubtful, which ``_reading`` then decides with its reasons.

    >>> _plain_reading({"ts": "2024-05-01T10:00:00+08:00", "total_l": 5}, "m", 1_714_528_800_000,
    ...                1_714_529_100_000, PayloadRules())
    Reading(meter_id='m', ts_ms=1714528800000, total_l=5.0, received_ms=1714528800000, extra=None)
    """
    if type(item) is not dict or len(item) != 2:
        return None
    ts, total = item.get("ts"), item.get("total_l")
    if type(ts) is not str or (type(total) is not float and type(total) is not int):
        return None
    if len(ts) > _MAX_PLAIN_TS_CHARS or not 0 <= total <= rules.max_total_l:  # a NaN fails the comparison too
        return None
    ts_ms = _offset_iso_ms(ts)
    if ts_ms is None or ts_ms < rules.earliest_ts_ms or ts_ms > latest_ts_ms:
        return None
    return _new_reading((meter_id, ts_ms, float(total), received_ms, None))


# Reading's fields as one tuple, without the named tuple's keyword-taking __new__: half the cost a reading.
_new_reading = functools.partial(tuple.__new__, Reading)

# Valid ISO 8601 times are at most 42 characters ("...T10:00:00.123456+08:00:00.123456"). Longer text
# takes the full rules, so the cache below holds only short strings whatever a hostile meter sends.
_MAX_PLAIN_TS_CHARS = 48


@functools.lru_cache(maxsize=8192)
def _offset_iso_ms(text: str) -> int | None:
    """Epoch milliseconds of ISO 8601 text with a UTC offset, or None for anything else.

    Remembered: meters on the same cadence send the same few times (a batch of a day repeats its 96
    quarter hours across meters), and the subtraction of aware datetimes costs ~1 µs.

    >>> _offset_iso_ms("2024-05-01T10:00:00+08:00"), _offset_iso_ms("2024-05-01T10:00:00")
    (1714528800000, None)
    """
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if when.tzinfo is None else (when - _EPOCH) // _ONE_MS


def _load(payload: bytes, rules: PayloadRules) -> Any:
    """The payload's JSON value, refusing what is too big, not UTF-8, not JSON or not finite."""
    if len(payload) > rules.max_payload_bytes:
        raise _Refused(
            f"payload is {len(payload)} bytes; the limit is {rules.max_payload_bytes}"
            f" (only the first {rules.max_payload_bytes} bytes are kept here); send smaller batches"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"payload is not UTF-8 text (bad byte at offset {exc.start}); send JSON as UTF-8"
        raise _Refused(reason) from None
    try:
        return _DECODER.decode(text) if not text.startswith("\ufeff") else json.loads(text)  # loads names a BOM
    except json.JSONDecodeError as exc:
        raise _Refused(f"payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _Refused("payload is not JSON we accept: it is nested too deeply; send flat objects") from None
    except ValueError:  # an integer literal longer than Python will convert
        raise _Refused("payload is not JSON we accept: a number has too many digits") from None


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"payload is not JSON: {name} is not a JSON number; send a finite number or omit it")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # one for all: json.loads would build one a call


def _items(document: Any, rules: PayloadRules) -> list[tuple[int | None, Any]]:
    """The items to check with their batch index (None for a single object)."""
    if isinstance(document, dict):
        return [(None, document)]
    if not isinstance(document, list):
        raise _Refused(
            f"payload is a JSON {_json_type(document)}; send an object like"
            ' {"ts": "2024-05-01T10:00:00+08:00", "total_l": 1234.5} or an array of them'
        )
    if not document:
        raise _Refused("payload is an empty array; send at least one reading")
    if len(document) > rules.max_batch_items:
        raise _Refused(
            f"payload has {len(document)} items; the limit is {rules.max_batch_items}; send smaller batches"
        )
    return list(enumerate(document))


def _reading(item: Any, meter_id: str, received_ms: int, rules: PayloadRules) -> Reading:
    if not isinstance(item, dict):
        raise _Refused(f'item is a JSON {_json_type(item)}, not an object like {{"ts": ..., "total_l": ...}}')
    if "meter_id" in item and item["meter_id"] != meter_id:
        raise _Refused(
            f"meter_id {_show(item['meter_id'])} in the payload does not match topic meter {meter_id!r};"
            " fix the meter's configuration or leave meter_id out"
        )
    return Reading(
        meter_id=meter_id,
        ts_ms=_ts_ms(item, received_ms, rules),
        total_l=_total_l(item, rules),
        received_ms=received_ms,
        extra=_extra(item, rules),
    )


def _ts_ms(item: dict, received_ms: int, rules: PayloadRules) -> int:
    if "ts" not in item:
        raise _Refused("missing ts; send the reading time as ISO 8601 with an offset or as epoch seconds")
    value = item["ts"]
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            reason = f"ts {_show(value)} is not an ISO 8601 time; send e.g. 2024-05-01T10:00:00+08:00"
            raise _Refused(reason + " or epoch seconds") from None
        if when.tzinfo is None:
            raise _Refused(f"ts {_show(value)} has no UTC offset; add Z or +08:00")
        ts_ms = (when - _EPOCH) // _ONE_MS  # exact integer arithmetic; sub-millisecond digits are dropped
    elif _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(f"ts must be a finite number of epoch seconds, got {_show(value)}")
        if value >= _MILLISECONDS_LIKE_S:
            raise _Refused(f"ts {_show(value)} looks like milliseconds; send epoch seconds")
        # Through the decimal text so 1714528800.123 gives ...123 ms, not the binary float's ...122.99.
        ts_ms = value * 1000 if isinstance(value, int) else int(Decimal(repr(value)) * 1000)
    else:
        raise _Refused(f"ts must be ISO 8601 text with an offset or epoch seconds, got {_show(value)}")

    if ts_ms < rules.earliest_ts_ms:
        earliest = from_ms(rules.earliest_ts_ms).isoformat()
        raise _Refused(f"ts {_show(value)} is before {earliest}; check the meter clock")
    ahead_ms = ts_ms - received_ms
    if ahead_ms > rules.max_clock_skew_s * 1000:
        raise _Refused(
            f"ts is {_duration(ahead_ms)} in the future (more than {rules.max_clock_skew_s:g} s ahead"
            " of the receive time); check the meter clock"
        )
    return ts_ms


def _total_l(item: dict, rules: PayloadRules) -> float:
    if "total_l" in item and "total_m3" in item:
        raise _Refused("send total_l or total_m3, not both")
    if "total_l" not in item and "total_m3" not in item:
        raise _Refused("missing total_l; send the register reading in litres as total_l (or m³ as total_m3)")
    key = "total_l" if "total_l" in item else "total_m3"
    value = item[key]
    if not _is_number(value) or value < 0:
        raise _Refused(f"{key} must be a non-negative number, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(f"{key} must be a finite number, got {_show(value)}")
    litres = value if key == "total_l" else value * 1000
    if litres > rules.max_total_l:
        raise _Refused(f"{key} {_show(value)} is more than {rules.max_total_l:g} litres; check the units")
    return float(litres)


def _extra(item: dict, rules: PayloadRules) -> dict[str, Any] | None:
    extra = {key: value for key, value in item.items() if key not in _CONTRACT_KEYS}
    if not extra:
        return None
    if _depth(extra) > rules.max_extra_depth:
        raise _Refused(f"optional fields nest more than {rules.max_extra_depth} levels deep; flatten them")
    try:
        size = len(json.dumps(extra, allow_nan=False))  # ASCII, as the store writes it
    except ValueError:
        reason = "an optional field holds a number too large for JSON (like 1e999); send finite numbers"
        raise _Refused(reason) from None
    if size > rules.max_extra_bytes:
        raise _Refused(
            f"optional fields take {size} bytes as JSON; the limit is {rules.max_extra_bytes};"
            " send fewer or shorter fields"
        )
    return extra


def _depth(value: Any) -> int:
    """How many levels of objects and arrays a JSON value has, found without recursion."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            child
            for node in level
            if isinstance(node, (dict, list))
            for child in (node.values() if isinstance(node, dict) else node)
        ]
    return depth - 1


def _item_bytes(item: Any) -> bytes:
    """A batch item as JSON bytes for its dead letter."""
    try:
        return json.dumps(item, ensure_ascii=False).encode("utf-8", "backslashreplace")
    except RecursionError:
        # Only an item nested near Python's recursion limit gets here; its repr would fail the same way.
        return f"<a JSON {_json_type(item)} nested too deeply to re-serialise>".encode()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _show(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for a reason: strings quoted, containers by their type."""
    if isinstance(value, (dict, list)):
        return f"a JSON {_json_type(value)}"
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _duration(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size)} {unit}"
    return f"{seconds:.0f} s"
