"""Live updates: the event stream says when the open alerts changed, beats when quiet, and ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from api.deps import SESSION_COOKIE
from api.web.live import LiveOptions, alert_events
from store.alerts import Episode, sync_episodes
from store.models import AlertKind
from store.times import utc_now

QUICK = LiveOptions(poll_s=0.01, heartbeat_s=0.03)


def run(stream, limit: int = 50) -> list[str]:
    async def collect() -> list[str]:
        return [chunk async for chunk in stream][:limit]

    return asyncio.run(collect())


def test_an_event_at_the_start_and_on_each_change_heartbeats_between_and_the_end_on_disconnect():
    states = iter([(1,), (1,), (1,), (1,), (1,), (1, 2), (1, 2)])
    polls = 0

    def check():
        nonlocal polls
        polls += 1
        return next(states)

    async def disconnected() -> bool:
        return polls >= 7  # the client goes after the seventh look

    chunks = run(alert_events(check=check, disconnected=disconnected, options=QUICK))
    assert chunks[0].startswith("retry:")
    events = [c for c in chunks[1:] if c.startswith("event:")]
    assert events == ["event: alerts\ndata: {}\n\n"] * 2  # the first look, then the change
    assert any(c.startswith(": heartbeat") for c in chunks[2:chunks.index(events[1], 2)])
    assert polls == 7  # nothing more once the client has gone


def test_the_stream_ends_when_the_sign_in_ends():
    async def connected() -> bool:
        return False

    chunks = run(alert_events(check=lambda: None, disconnected=connected, options=QUICK))
    assert chunks[-1] == "event: signed-out\ndata: {}\n\n"


def test_a_new_alert_reaches_a_signed_in_stream_over_http(live_server):
    url = live_server.url
    with httpx.Client(base_url=url, timeout=10) as client:
        response = client.post("/login", data={"name": "cadre-li", "password": "cadre-li-pw"},
                               headers={"Origin": url})
        assert response.status_code == 303
        with client.stream("GET", "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert "event: alerts" in _until(lines, "event: alerts")  # the first look
            assert ": heartbeat" in _until(lines, ": heartbeat")  # quiet: a heartbeat, no event
            now = utc_now()
            with live_server.db.session() as session:
                sync_episodes(session, kind=AlertKind.inactivity, now=now, episodes=[Episode(
                    meter_id="m-dong", kind=AlertKind.inactivity, severity="alarm",
                    started_at=now - timedelta(hours=14), raised_at=now)])
            assert "event: alerts" in _until(lines, "event: alerts")
    forged = httpx.get(f"{url}/events", headers={"Cookie": f"{SESSION_COOKIE}=forged"}, timeout=10)
    assert forged.status_code == 401


def _until(lines, wanted: str, most: int = 200) -> list[str]:
    seen = []
    for line in lines:
        seen.append(line)
        if line == wanted or len(seen) >= most:
            return seen
    return seen
