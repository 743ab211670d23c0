"""The composition root: a component that dies takes the process down with it, visibly."""

import subprocess
import sys

SCRIPT = """
import signal, time
from api.wiring import Background
signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM", flush=True))
background = Background()
background.start("ingester", lambda stop: 1 / 0)
background.stop.wait(5)
time.sleep(0.2)
print("failed" if background.failed else "still ok", flush=True)
"""


def test_a_crashed_component_stops_everything_and_marks_the_failure():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert "got SIGTERM" in result.stdout  # uvicorn, where it runs, shuts down on this
    assert "failed" in result.stdout.splitlines()[-1]
    assert "ZeroDivisionError" in result.stderr  # the cause is logged


def test_the_monitor_reads_away_windows_from_the_database(tmp_path):
    from datetime import UTC, datetime, timedelta

    from api.settings import load_settings
    from api.wiring import Stores, build_monitor
    from store.away import add_away_window
    from store.times import to_ms

    url = f"sqlite:///{tmp_path}/anxin.db"
    stores = Stores(load_settings(database_url=url, readings_url=url))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with stores.db.session() as session:
        add_away_window(session, meter_id="m1", starts_at=start, ends_at=start + timedelta(days=2), now=start)
    monitor = build_monitor(load_settings(database_url=url, readings_url=url), stores)
    windows = monitor.away(to_ms(start + timedelta(days=1)), to_ms(start + timedelta(days=3)))
    assert windows.to_dict("records") == [
        {"meter_id": "m1", "start_ms": to_ms(start), "end_ms": to_ms(start + timedelta(days=2))}]
    assert monitor.away(to_ms(start + timedelta(days=2)), to_ms(start + timedelta(days=3))).empty
    stores.close()
