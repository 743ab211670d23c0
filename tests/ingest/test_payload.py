"""The MQTT payload contract: what meters may send, and the reasons people see when they break it."""

from __future__ import annotations

import calendar
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.payload import ParsedMessage, PayloadRules, meter_id_from_topic, parse_message

METER = "flat-12"
TOPIC = f"meters/{METER}/readings"
RECEIVED_MS = 1_714_528_800_000  # 2024-05-01T02:00:00Z
TS_S = 1_714_528_700  # 100 s before it was received
CONTRACT_KEYS = {"ts", "total_l", "total_m3", "meter_id"}


def parse(payload, *, topic: str = TOPIC, rules: PayloadRules = PayloadRules()) -> ParsedMessage:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, raw, received_ms=RECEIVED_MS, rules=rules)


def only_reading(payload):
    msg = parse(payload)
    assert msg.rejections == []
    [reading] = msg.readings
    return reading


def only_reason(payload, **kwargs) -> str:
    msg = parse(payload, **kwargs)
    assert msg.readings == []
    [rejection] = msg.rejections
    return rejection.reason


# Topic


@pytest.mark.parametrize("meter_id", ["a", "7", "Flat_12.b:main-2", "x" * 64])
def test_a_valid_topic_names_the_meter(meter_id):
    assert meter_id_from_topic(f"meters/{meter_id}/readings") == meter_id


@pytest.mark.parametrize(
    "topic",
    [
        "meters//readings",
        "meters/-a/readings",
        "meters/_a/readings",
        "meters/" + "x" * 65 + "/readings",
        "meters/a b/readings",
        "meters/a/b/readings",
        "meters/é/readings",
        "meters/a/readings/extra",
        "meters/a/readings\n",
        "meter/a/readings",
    ],
)
def test_a_bad_topic_rejects_the_whole_message(topic):
    msg = parse({"ts": TS_S, "total_l": 1.0}, topic=topic)
    assert meter_id_from_topic(topic) is None
    assert msg.meter_id is None and msg.readings == []
    [rejection] = msg.rejections
    assert "meters/<meter_id>/readings" in rejection.reason
    assert rejection.meter_id is None and rejection.item_index is None


# Timestamps


@pytest.mark.parametrize(
    "ts",
    ["2024-05-01T01:58:20Z", "2024-05-01T09:58:20+08:00", "2024-05-01T01:58:20+00:00", TS_S, float(TS_S)],
)
def test_ts_is_iso_8601_with_an_offset_or_epoch_seconds(ts):
    assert only_reading({"ts": ts, "total_l": 1.0}).ts_ms == TS_S * 1000


def test_sub_millisecond_iso_times_are_truncated_to_milliseconds():
    assert only_reading({"ts": "2024-05-01T01:58:20.123999Z", "total_l": 1.0}).ts_ms == TS_S * 1000 + 123


def test_fractional_epoch_seconds_keep_their_milliseconds():
    assert only_reading({"ts": TS_S + 0.123, "total_l": 1.0}).ts_ms == TS_S * 1000 + 123


def test_an_iso_time_without_offset_is_refused():
    reason = only_reason({"ts": "2024-05-01 10:00", "total_l": 1.0})
    assert "'2024-05-01 10:00' has no UTC offset" in reason and "Z or +08:00" in reason


@pytest.mark.parametrize("ts", ["yesterday", "1714528700", ""])
def test_text_that_is_not_an_iso_time_is_refused(ts):
    assert "not an ISO 8601 time" in only_reason({"ts": ts, "total_l": 1.0})


def test_epoch_milliseconds_are_recognised_and_refused():
    reason = only_reason({"ts": TS_S * 1000, "total_l": 1.0})
    assert "looks like milliseconds" in reason and "epoch seconds" in reason


@pytest.mark.parametrize("ts", [True, None, [TS_S], {"s": TS_S}])
def test_a_ts_of_the_wrong_type_is_refused(ts):
    assert "ts must be ISO 8601 text" in only_reason({"ts": ts, "total_l": 1.0})


def test_a_missing_ts_is_refused():
    assert "missing ts" in only_reason({"total_l": 1.0})


def test_a_ts_far_in_the_future_is_refused():
    reason = only_reason({"ts": TS_S + 3 * 86_400, "total_l": 1.0})
    assert "3 days in the future" in reason and "300 s" in reason and "meter clock" in reason


def test_a_ts_slightly_ahead_is_clock_skew_and_accepted():
    received_s = RECEIVED_MS // 1000
    assert only_reading({"ts": received_s + 299, "total_l": 1.0}).ts_ms == (received_s + 299) * 1000
    assert "in the future" in only_reason({"ts": received_s + 301, "total_l": 1.0})


def test_a_ts_before_2000_is_refused():
    reason = only_reason({"ts": "1999-12-31T23:59:59Z", "total_l": 1.0})
    assert "before 2000-01-01" in reason and "meter clock" in reason


# Totals


def test_total_m3_is_converted_to_litres():
    reading = only_reading({"ts": TS_S, "total_m3": 12.345})
    assert reading.total_l == pytest.approx(12_345.0)
    assert type(reading.total_l) is float


def test_an_integer_total_l_becomes_a_float():
    assert type(only_reading({"ts": TS_S, "total_l": 12}).total_l) is float


def test_total_l_and_total_m3_together_are_refused():
    assert "not both" in only_reason({"ts": TS_S, "total_l": 1.0, "total_m3": 0.001})


def test_a_missing_total_is_refused():
    reason = only_reason({"ts": TS_S, "battery": 80})
    assert "missing total_l" in reason and "total_m3" in reason


@pytest.mark.parametrize(
    ("total", "shown"), [(-5, "-5"), ("12", "'12'"), (True, "true"), (None, "null"), ([1], "array")]
)
def test_a_negative_or_non_numeric_total_is_refused(total, shown):
    reason = only_reason({"ts": TS_S, "total_l": total})
    assert "total_l must be a non-negative number" in reason and shown in reason


def test_a_total_above_the_limit_is_refused():
    assert "more than" in only_reason({"ts": TS_S, "total_m3": 2e9})
    assert "more than" in only_reason({"ts": TS_S, "total_l": 10**400})


def test_non_finite_numbers_are_refused():
    assert "NaN" in only_reason(b'{"ts": 1714528700, "total_l": NaN}')
    assert "Infinity" in only_reason(b'{"ts": 1714528700, "total_l": Infinity}')
    assert "finite" in only_reason(b'{"ts": 1714528700, "total_l": 1e999}')
    assert "finite" in only_reason(b'{"ts": 1e999, "total_l": 1}')
    assert "finite" in only_reason(b'{"ts": 1714528700, "total_l": 1, "battery": 1e999}')


def test_huge_integers_are_refused_not_crashed_on():
    assert "milliseconds" in only_reason({"ts": 10**400, "total_l": 1.0})
    assert "before 2000" in only_reason({"ts": -(10**400), "total_l": 1.0})
    assert "too many digits" in only_reason(b'{"ts": 1714528700, "total_l": ' + b"9" * 5000 + b"}")


# Optional fields and meter_id


def test_optional_fields_are_kept_in_extra():
    reading = only_reading({"ts": TS_S, "total_l": 1.0, "battery": 87, "alarms": {"leak": False}})
    assert reading.extra == {"battery": 87, "alarms": {"leak": False}}


def test_extra_is_none_without_optional_fields():
    assert only_reading({"ts": TS_S, "total_l": 1.0, "meter_id": METER}).extra is None


def test_oversized_optional_fields_are_refused():
    reason = only_reason({"ts": TS_S, "total_l": 1.0, "note": "x" * 5000})
    assert "optional fields" in reason and "4096" in reason


def test_deeply_nested_optional_fields_are_refused():
    nested: object = 1
    for _ in range(20):
        nested = [nested]
    assert "nest more than" in only_reason({"ts": TS_S, "total_l": 1.0, "deep": nested})


def test_a_matching_meter_id_in_the_payload_is_accepted():
    assert only_reading({"ts": TS_S, "total_l": 1.0, "meter_id": METER}).meter_id == METER


def test_a_meter_id_that_does_not_match_the_topic_is_refused():
    reason = only_reason({"ts": TS_S, "total_l": 1.0, "meter_id": "flat-13"})
    assert "meter_id 'flat-13' in the payload does not match topic meter 'flat-12'" in reason


# Whole-message problems


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"hello", "not JSON"),
        (b'{"ts": 1714528700,', "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'"ts"', "payload is a JSON string"),
        (b"42", "payload is a JSON number"),
        (b"null", "payload is a JSON null"),
        (b"[]", "empty array"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_whole_message_problems_give_one_rejection_with_the_raw_payload(payload, words):
    msg = parse(payload)
    assert msg.meter_id == METER and msg.readings == []
    [rejection] = msg.rejections
    assert words in rejection.reason
    assert rejection.payload == payload and rejection.item_index is None
    assert rejection.topic == TOPIC and rejection.meter_id == METER
    assert rejection.received_at == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def test_an_oversized_payload_is_refused_and_cut_to_the_limit():
    payload = b" " * 300_000
    [rejection] = parse(payload).rejections
    assert "300000 bytes" in rejection.reason and "262144" in rejection.reason
    assert "first 262144 bytes" in rejection.reason
    assert rejection.payload == payload[:262_144]


def test_too_many_batch_items_are_refused():
    items = [{"ts": TS_S, "total_l": 1.0}] * 4
    reason = only_reason(items, rules=PayloadRules(max_batch_items=3))
    assert "4 items" in reason and "limit is 3" in reason


# Batches


def test_a_batch_keeps_every_good_item_next_to_bad_ones():
    items = [
        {"ts": TS_S, "total_l": 1.0},
        {"ts": TS_S + 1, "total_l": -5},
        "not an object",
        {"ts": TS_S + 2, "total_m3": 0.002, "battery": 50},
        {"ts": TS_S * 1000, "total_l": 3.0},
        {"ts": TS_S + 3, "total_l": 4.0},
    ]
    msg = parse(items)
    assert [(r.ts_ms, r.total_l) for r in msg.readings] == [
        (TS_S * 1000, 1.0),
        ((TS_S + 2) * 1000, 2.0),
        ((TS_S + 3) * 1000, 4.0),
    ]
    assert [r.item_index for r in msg.rejections] == [1, 2, 4]
    assert "non-negative" in msg.rejections[0].reason
    assert "not an object" in msg.rejections[1].reason
    assert "milliseconds" in msg.rejections[2].reason
    assert [json.loads(r.payload) for r in msg.rejections] == [items[1], items[2], items[4]]
    assert all(r.meter_id == METER for r in msg.rejections)


def test_a_rejected_batch_item_keeps_its_text_readable():
    [rejection] = parse([{"ts": TS_S, "total_l": -1, "note": "厨房"}]).rejections
    assert "厨房" in rejection.payload.decode()


def test_a_rejected_single_object_keeps_the_raw_payload():
    payload = b'{"ts": 1714528700, "total_l": -5}'
    [rejection] = parse(payload).rejections
    assert rejection.item_index is None and rejection.payload == payload


# Fuzzing

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()), max_size=30)  # lone surrogates too, as JSON escapes allow
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
# Whole minutes, as real offsets are (Python 3.11 drops sub-second offsets when parsing).
offsets = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
iso_times = st.builds(
    lambda when, tz, sep: when.replace(tzinfo=tz).isoformat(sep),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)),
    st.none() | offsets,
    st.sampled_from(["T", " "]),
)
epoch_seconds = st.integers(900_000_000, 1_800_000_000) | st.floats(900_000_000, 1_800_000_000)
totals = st.integers(-10, 10**13) | st.floats(allow_nan=False, allow_infinity=False)
plausible_items = st.fixed_dictionaries(
    {},
    optional={
        "ts": iso_times | epoch_seconds | st.just(TS_S * 1000) | json_values,
        "total_l": totals | json_values,
        "total_m3": totals | json_values,
        "meter_id": st.sampled_from([METER, "other"]) | json_values,
        "battery": json_values,
    },
)
# Mostly well-formed items, so that accepted readings are fuzzed as well as refusals.
near_valid_items = st.builds(
    lambda ts, total, extra: {"ts": ts, **total, **extra},
    iso_times | epoch_seconds,
    st.tuples(st.sampled_from(["total_l", "total_m3"]), st.floats(0, 1e6)).map(lambda kv: dict([kv])),
    st.fixed_dictionaries({}, optional={"meter_id": st.just(METER), "battery": json_values, "rssi": scalars}),
)
items = near_valid_items | plausible_items | json_values


def assert_readings_are_sound(msg: ParsedMessage, rules: PayloadRules) -> None:
    for reading in msg.readings:
        assert reading.meter_id == METER == meter_id_from_topic(TOPIC)
        assert type(reading.ts_ms) is int
        assert rules.earliest_ts_ms <= reading.ts_ms <= RECEIVED_MS + rules.max_clock_skew_s * 1000
        assert type(reading.total_l) is float and math.isfinite(reading.total_l)
        assert 0 <= reading.total_l <= rules.max_total_l
        assert reading.received_ms == RECEIVED_MS
        assert reading.extra is None or (reading.extra and not CONTRACT_KEYS & reading.extra.keys())
    for rejection in msg.rejections:
        assert rejection.reason and isinstance(rejection.payload, bytes)


json_ish_bytes = st.text('{}[]",: 0123456789.eE-+tsaluNnIfy\\', max_size=200).map(str.encode)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | json_ish_bytes)
def test_arbitrary_bytes_never_raise(payload):
    msg = parse(payload)
    assert_readings_are_sound(msg, PayloadRules())
    assert len(msg.readings) + len(msg.rejections) >= 1
    for rejection in msg.rejections:
        assert rejection.meter_id == METER and rejection.topic == TOPIC


@settings(max_examples=200, deadline=None)
@given(st.datetimes(datetime(2000, 1, 2), datetime(2024, 4, 30), timezones=offsets))
def test_any_iso_time_with_an_offset_is_read_to_the_millisecond(when):
    reading = only_reading({"ts": when.isoformat(), "total_l": 1.0})
    utc = when.astimezone(UTC)
    assert reading.ts_ms == calendar.timegm(utc.timetuple()) * 1000 + utc.microsecond // 1000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.text(max_size=80))
def test_arbitrary_topics_never_raise(payload, topic):
    msg = parse(payload, topic=topic)
    assert msg.meter_id == meter_id_from_topic(topic)


@settings(max_examples=300, deadline=None)
@given(items)
def test_any_json_value_gives_a_sound_result(value):
    msg = parse(value)
    assert_readings_are_sound(msg, PayloadRules())
    if isinstance(value, list) and value:
        assert len(msg.readings) + len(msg.rejections) == len(value)
    else:
        assert len(msg.readings) + len(msg.rejections) == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(items, min_size=1, max_size=8))
def test_every_batch_item_becomes_a_reading_or_an_item_rejection(batch):
    msg = parse(batch)
    assert_readings_are_sound(msg, PayloadRules())
    indexes = [r.item_index for r in msg.rejections]
    assert len(msg.readings) + len(indexes) == len(batch)
    assert None not in indexes and len(set(indexes)) == len(indexes)
    assert all(0 <= i < len(batch) for i in indexes)
