"""Live updates: a server-sent event stream that tells the page when its open alerts changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool


@dataclass(frozen=True, slots=True)
class LiveOptions:
    poll_s: float = 2.0  # how often the stream looks at the user's open alerts
    heartbeat_s: float = 15.0  # a comment this often keeps proxies from closing a quiet stream


async def alert_events(
    *,
    check: Callable[[], Hashable | None],
    disconnected: Callable[[], Awaitable[bool]],
    options: LiveOptions,
) -> AsyncIterator[str]:
    """Server-sent events: ``alerts`` at the start and whenever ``check()`` (the open alerts'
    fingerprint, read in a worker thread) changes; ``signed-out`` and the end when it returns None
    (the sign-in ended); a comment heartbeat when quiet. Ends when the client has gone."""
    yield "retry: 3000\n\n"  # the browser reconnects after 3 s if the stream breaks
    last: Hashable | None = None
    quiet = 0.0
    first = True
    while not await disconnected():
        state = await run_in_threadpool(check)
        if state is None:
            yield "event: signed-out\ndata: {}\n\n"
            return
        if first or state != last:
            first, last, quiet = False, state, 0.0
            yield "event: alerts\ndata: {}\n\n"
        elif quiet >= options.heartbeat_s:
            quiet = 0.0
            yield ": heartbeat\n\n"
        await asyncio.sleep(options.poll_s)
        quiet += options.poll_s
