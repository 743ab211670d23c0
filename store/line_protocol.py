"""InfluxDB line protocol and InfluxQL quoting, for the few shapes the readings store writes.

No maintained Python library speaks the 1.x HTTP API any more (influxdb-python is archived and the
2.x/3.x clients use other endpoints), so this is written by hand and tested for every escape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache

_TAG_ESCAPES = re.compile(r"([,= ])")
_MEASUREMENT_ESCAPES = re.compile(r"([, \\])")
_LINE_BREAKS = {"\n": "\\n", "\r": "\\r"}  # line protocol cannot carry them at all in keys and tags


class LineProtocolError(ValueError):
    """A value that line protocol cannot carry (a NaN, an empty key, a line break in a tag)."""


@lru_cache(maxsize=65_536)  # meter ids repeat in every batch
def escape_tag(text: str) -> str:
    r"""A tag key or value: commas, equals signs and spaces are escaped.

    InfluxDB reads a backslash in a tag literally unless it precedes one of those, so a tag that
    holds one could be misread; anxin's meter ids never do, and such a tag is refused.

    >>> escape_tag("flat 12,b=c")
    'flat\\ 12\\,b\\=c'
    """
    if not text:
        raise LineProtocolError("tag keys and values cannot be empty")
    if "\\" in text:
        raise LineProtocolError(f"tag {text!r} holds a backslash, which InfluxDB may misread")
    if any(ch in text for ch in _LINE_BREAKS):
        raise LineProtocolError(f"tag {text!r} holds a line break, which line protocol cannot carry")
    return _TAG_ESCAPES.sub(r"\\\1", text)


def escape_measurement(text: str) -> str:
    if not text or any(ch in text for ch in _LINE_BREAKS):
        raise LineProtocolError(f"measurement {text!r} is empty or holds a line break")
    return _MEASUREMENT_ESCAPES.sub(r"\\\1", text)


def field_value(value: float | int | str | bool) -> str:
    """A field value: floats as is, integers with the ``i`` suffix, strings quoted.

    >>> field_value(1.5), field_value(7), field_value('say "hi"\\\\')
    ('1.5', '7i', '"say \\\\"hi\\\\"\\\\\\\\"')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"field value {value!r} is not finite; line protocol has no NaN or infinity")
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise LineProtocolError(f"field value {value!r} is not a float, integer, string or boolean")


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, object], time: int) -> str:
    """One point. Tags are sorted by key, as InfluxDB recommends for write speed.

    >>> line("reading", {"meter_id": "m 1"}, {"total_l": 12.0, "received_ms": 5}, 1000)
    'reading,meter_id=m\\\\ 1 total_l=12.0,received_ms=5i 1000'
    """
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    tag_part = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()))
    field_part = ",".join(f"{escape_tag(k)}={field_value(v)}" for k, v in fields.items())
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {int(time)}"


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier in double quotes.

    >>> quote_identifier('my "db"')
    '"my \\\\"db\\\\""'
    """
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(text: str) -> str:
    """An InfluxQL string literal in single quotes.

    >>> quote_string("it's")
    "'it\\\\'s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
