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
