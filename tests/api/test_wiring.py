"""The composition root: a component that dies takes the process down with it, visibly; a built
service keeps its startup objects out of full garbage collections."""

import os
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


FREEZE = """
import gc, weakref
from api.wiring import freeze_startup_objects

class Node:
    pass

first, second = Node(), Node()
first.other, second.other = second, first  # startup's garbage, in a cycle: only a collection frees it
gone = weakref.ref(first)
del first, second
frozen = freeze_startup_objects()
print(gone() is None, frozen == gc.get_freeze_count(), frozen, len(gc.get_objects()))
"""


def test_a_service_takes_what_it_built_at_startup_out_of_full_collections():
    result = subprocess.run([sys.executable, "-c", FREEZE], capture_output=True, text=True, timeout=60)
    collected, counted, frozen, still_walked = result.stdout.split()
    assert (collected, counted) == ("True", "True"), result.stderr  # the garbage was freed, not frozen
    # anxin's imports (pandas, scikit-learn, SQLAlchemy, FastAPI) are well over 100,000 objects;
    # a full collection now walks none of them.
    assert int(frozen) > 100_000 and int(still_walked) < 1_000


def test_the_detector_service_freezes_its_startup_objects(tmp_path):
    url = f"sqlite:///{tmp_path}/anxin.db"
    result = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "detect", "--once"],
                            env={**os.environ, "ANXIN_DATABASE_URL": url, "ANXIN_READINGS_URL": url},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "objects made at startup are out of the garbage collector's full collections" in result.stderr
