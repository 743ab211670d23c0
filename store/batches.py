"""Long lists of ids or keys, looked up a slice a query.

Each value of an ``IN`` list is a bound parameter, and every backend caps them: PostgreSQL at
65,535 a statement, SQLite at 32,766 in its default build. A tick can touch every meter of a
city at once (a district's water cut), so lookups by id go a slice at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

PER_QUERY = 500  # ids or keys a query looks up: well inside every backend's limit, and few round trips

T = TypeVar("T")


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``PER_QUERY``, one query each."""
    for at in range(0, len(items), PER_QUERY):
        yield items[at:at + PER_QUERY]
